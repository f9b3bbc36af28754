import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  InvalidNodeIdError,
  NodeId,
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
