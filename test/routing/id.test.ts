import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  InvalidNodeIdError,
  NodeId,
  approxClockwise,
  approxOrder,
  clockwiseDistance,
  closestTo,
  isCloser,
  ringDistance,
} from "../../src/routing/id.js";

const idArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => NodeId.fromBytes(b));
const RING = 1n << 128n;

describe("NodeId", () => {
  it("needs at least 16 bytes and says so", () => {
    expect(() => NodeId.fromBytes(new Uint8Array(15))).toThrow(InvalidNodeIdError);
    expect(() => NodeId.fromBytes(new Uint8Array(15))).toThrow(/at least 16 bytes, got 15/);
    expect(NodeId.fromBytes(new Uint8Array(20).fill(0xab)).hex).toBe("ab".repeat(16));
  });

  it("parses exactly 32 hex digits", () => {
    expect(() => NodeId.fromHex("abc")).toThrow(InvalidNodeIdError);
    expect(() => NodeId.fromHex("z".repeat(32))).toThrow(InvalidNodeIdError);
    expect(NodeId.fromHex("F".repeat(32)).value).toBe(RING - 1n);
  });

  it("hashes strings stably", () => {
    expect(NodeId.fromString("wendy-0").equals(NodeId.fromString("wendy-0"))).toBe(true);
    expect(NodeId.fromString("wendy-0").equals(NodeId.fromString("wendy-1"))).toBe(false);
  });

  it("reads digits most significant first", () => {
    const id = NodeId.fromHex("0123456789abcdef0123456789abcdef");
    expect([0, 1, 9, 10, 15, 31].map((i) => id.digit(i))).toEqual([0, 1, 9, 10, 15, 15]);
  });

  it("round-trips through bytes, hex and bigint", () => {
    fc.assert(
      fc.property(idArb, (id) => {
        expect(NodeId.fromBytes(id.toBytes()).equals(id)).toBe(true);
        expect(NodeId.fromHex(id.hex).value).toBe(id.value);
        expect(NodeId.fromBigInt(id.value).hex).toBe(id.hex);
      }),
    );
  });

  it("common prefix length agrees with digits", () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        const p = a.commonPrefixLength(b);
        for (let i = 0; i < p; i++) expect(a.digit(i)).toBe(b.digit(i));
        if (p < 32) expect(a.digit(p)).not.toBe(b.digit(p));
        else expect(a.equals(b)).toBe(true);
      }),
    );
  });
});

describe("ring distance", () => {
  it("takes the shorter way round, with wraparound", () => {
    const zero = NodeId.fromBigInt(0n);
    const max = NodeId.fromBigInt(RING - 1n);
    expect(ringDistance(zero, max)).toBe(1n);
    expect(clockwiseDistance(max, zero)).toBe(1n);
    expect(clockwiseDistance(zero, max)).toBe(RING - 1n);
  });

  it("is symmetric and at most half the ring", () => {
    fc.assert(
      fc.property(idArb, idArb, (a, b) => {
        expect(ringDistance(a, b)).toBe(ringDistance(b, a));
        expect(ringDistance(a, b) <= RING / 2n).toBe(true);
        expect(clockwiseDistance(a, b) + clockwiseDistance(b, a)).toBe(a.equals(b) ? 0n : RING);
      }),
    );
  });

  it("gives a key exactly between two nodes to the lower ID", () => {
    const low = NodeId.fromBigInt(10n);
    const high = NodeId.fromBigInt(20n);
    const key = NodeId.fromBigInt(15n);
    expect(isCloser(key, low, high)).toBe(true);
    expect(isCloser(key, high, low)).toBe(false);
    expect(closestTo(key, [{ id: high }, { id: low }])?.id).toBe(low);
  });

  it("closestTo picks a member no other member beats", () => {
    fc.assert(
      fc.property(idArb, fc.array(idArb, { minLength: 1, maxLength: 20 }), (key, ids) => {
        const best = closestTo(
          key,
          ids.map((id) => ({ id })),
        )!.id;
        for (const id of ids) expect(isCloser(key, id, best)).toBe(false);
      }),
    );
  });
});

describe("approximate ring distances (top 52 bits)", () => {
  const UNIT = 1n << 76n;
  /** An ID within a few units of the approximation from `base` (either way, wrapping): the hard cases. */
  const near = (base: NodeId, offset: bigint): NodeId => NodeId.fromBigInt(base.value + offset);
  const offsetArb = fc.bigInt({ min: -(8n * UNIT), max: 8n * UNIT });

  it("approxClockwise a >= 1 brackets the exact distance d: (a - 1) * 2^76 < d < (a + 1) * 2^76", () => {
    fc.assert(
      fc.property(idArb, idArb, offsetArb, fc.boolean(), (a, b, offset, close) => {
        const to = close ? near(a, offset) : b;
        const approx = approxClockwise(a, to);
        if (approx === 0) return;
        const exact = clockwiseDistance(a, to);
        expect(exact > BigInt(approx - 1) * UNIT).toBe(true);
        expect(exact < BigInt(approx + 1) * UNIT).toBe(true);
      }),
    );
  });

  it("approxOrder, when it decides, orders two clockwise distances as the exact ones are ordered", () => {
    fc.assert(
      fc.property(idArb, idArb, offsetArb, offsetArb, (from, to, offset1, offset2) => {
        // Two targets close to each other (and possibly to `from`), where the approximation is tested hardest.
        const first = near(to, offset1);
        const second = near(first, offset2);
        for (const [x, y] of [
          [first, second],
          [to, first],
          [near(from, offset1), second],
        ] as const) {
          const order = approxOrder(approxClockwise(from, x), approxClockwise(from, y));
          const dx = clockwiseDistance(from, x);
          const dy = clockwiseDistance(from, y);
          if (order < 0) expect(dx < dy).toBe(true);
          if (order > 0) expect(dx > dy).toBe(true);
        }
      }),
    );
  });

  it("approxOrder decides for distances far apart and defers when close or ambiguous", () => {
    expect(approxOrder(1, 3)).toBe(-1);
    expect(approxOrder(3, 1)).toBe(1);
    expect(approxOrder(2, 3)).toBe(0);
    expect(approxOrder(0, 1_000)).toBe(0);
    const self = NodeId.fromBigInt(5n * UNIT);
    expect(approxClockwise(self, NodeId.fromBigInt(5n * UNIT + 1n))).toBe(0);
    expect(approxClockwise(self, NodeId.fromBigInt(4n * UNIT))).toBe(2 ** 52 - 1);
  });
});
