import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { NodeId, closestTo } from "../../src/routing/id.js";
import {
  divideRing,
  ownedRange,
  ownershipChanges,
  ownershipOf,
  rangeHas,
  sameRange,
  type KeyRange,
} from "../../src/routing/ownership.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const RING = 1n << 128n;
const at = (n: bigint): NodeInfo => nodeInfo(NodeId.fromBigInt(n), 1000);
const id = (n: bigint): NodeId => NodeId.fromBigInt(n);

/** IDs that often sit close together, near 0 and near the top, so that ties and wrap-around come up. */
const idArb = fc.oneof(
  fc.bigInt({ min: 0n, max: 40n }),
  fc.bigInt({ min: RING - 40n, max: RING - 1n }),
  fc.bigInt({ min: 0n, max: RING - 1n }),
);
const ringArb = fc.uniqueArray(idArb, { minLength: 1, maxLength: 12 });

/** Keys worth checking for a set of ranges: each range's ends and the keys just outside them. */
function edgeKeys(ranges: readonly KeyRange[]): NodeId[] {
  return ranges.flatMap((r) => [r.first, r.last].flatMap((k) => [-1n, 0n, 1n].map((d) => id(k.value + d))));
}

describe("the key range a node owns", () => {
  it("runs half-way to each neighbour; an exact half-way key goes to the lower ID, as routing delivers it", () => {
    // 100 and 110: 105 is half-way and goes to 100; 100 and 111: 105 is nearer 100, 106 nearer 111.
    expect(ownedRange(id(100n), id(90n), id(110n))).toMatchObject({ first: id(96n), last: id(105n) });
    expect(ownedRange(id(110n), id(100n), id(120n))).toMatchObject({ first: id(106n), last: id(115n) });
    expect(ownedRange(id(111n), id(100n), id(130n))).toMatchObject({ first: id(106n), last: id(120n) });
    expect(ownedRange(id(100n), id(99n), id(101n))).toMatchObject({
      first: id(100n),
      last: id(100n),
      size: 1n,
    });
  });

  it("is the whole ring, starting after the node, when it knows no other node", () => {
    const range = ownedRange(id(5n), undefined, undefined);
    expect(range).toEqual({ first: id(6n), last: id(5n), size: RING });
    expect(rangeHas(range, id(RING - 1n))).toBe(true);
  });

  it("wraps past the top of the ring", () => {
    const range = ownedRange(id(2n), id(RING - 10n), id(20n));
    // Half-way on the left (RING - 4) and on the right (11) are ties: both go to 2, the lower ID.
    expect(range).toMatchObject({ first: id(RING - 4n), last: id(11n), size: 16n });
  });

  it("property: the nodes' ranges cover the ring exactly once, and a key lies in the range of its closest node", () => {
    fc.assert(
      fc.property(ringArb, fc.array(idArb, { maxLength: 20 }), (ids, extraKeys) => {
        const nodes = ids.map(at);
        const division = divideRing(nodes);
        expect(division.reduce((sum, o) => sum + o.range.size, 0n)).toBe(RING);
        // Consecutive: each range starts right after the one before it.
        division.forEach((o, i) => {
          const next = division[(i + 1) % division.length]!;
          expect(next.range.first.value).toBe((o.range.last.value + 1n) % RING);
        });
        for (const key of [...edgeKeys(division.map((o) => o.range)), ...extraKeys.map(id)]) {
          const holders = division.filter((o) => rangeHas(o.range, key)).map((o) => o.node);
          expect(holders).toEqual([closestTo(key, nodes)]);
        }
      }),
    );
  });

  it("of a node, from its leaf set, is its range in the division of the ring", () => {
    const self = at(100n);
    const own = ownershipOf(self, [at(90n), at(110n), at(50n), at(100n)]);
    expect(own.range).toMatchObject({ first: id(96n), last: id(105n) });
    expect([own.left?.id.value, own.right?.id.value]).toEqual([90n, 110n]);
    expect(ownershipOf(self, []).range.size).toBe(RING);
  });
});

describe("ownership changes", () => {
  const self = at(100n);

  it("a node joining beside it takes keys, named as the neighbour they went to", () => {
    const before = [at(80n), at(120n)];
    const after = [...before, at(104n)];
    const changes = ownershipChanges(ownershipOf(self, before), before, ownershipOf(self, after), after);
    expect(changes).toEqual([
      { kind: "lost", range: { first: id(103n), last: id(110n), size: 8n }, neighbour: after[2] },
    ]);
  });

  it("a neighbour leaving gives its keys, named as the neighbour they came from", () => {
    const before = [at(80n), at(120n), at(104n)];
    const after = [at(80n), at(120n)];
    const changes = ownershipChanges(ownershipOf(self, before), before, ownershipOf(self, after), after);
    expect(changes).toEqual([
      { kind: "gained", range: { first: id(103n), last: id(110n), size: 8n }, neighbour: before[2] },
    ]);
  });

  it("a node that was alone and meets others loses the rest of the ring, split by their owners", () => {
    const after = [at(0n), at(200n)];
    const changes = ownershipChanges(ownershipOf(self, []), [], ownershipOf(self, after), after);
    expect(changes.map((c) => [c.kind, c.neighbour.id.value, c.range.first.value])).toEqual([
      ["lost", 200n, 151n],
      ["lost", 0n, id(RING / 2n + 100n).value],
    ]);
    expect(changes.reduce((s, c) => s + c.range.size, 0n)).toBe(RING - ownershipOf(self, after).range.size);
  });

  it("property: the changes account exactly for the keys gained and lost, each named by its owner", () => {
    fc.assert(
      fc.property(ringArb, ringArb, (beforeIds, afterIds) => {
        const me = at(1000n);
        const others = (ids: bigint[]) => ids.filter((n) => n !== 1000n).map(at);
        const [before, after] = [others(beforeIds), others(afterIds)];
        const [was, is] = [ownershipOf(me, before), ownershipOf(me, after)];
        const changes = ownershipChanges(was, before, is, after);
        const sum = (kind: string) =>
          changes.filter((c) => c.kind === kind).reduce((s, c) => s + c.range.size, 0n);
        expect(is.range.size - was.range.size).toBe(sum("gained") - sum("lost"));
        if (sameRange(was.range, is.range)) expect(changes).toEqual([]);
        for (const c of changes) {
          for (const key of [c.range.first, c.range.last]) {
            expect(rangeHas(is.range, key)).toBe(c.kind === "gained");
            expect(rangeHas(was.range, key)).toBe(c.kind === "lost");
            const owner = closestTo(key, c.kind === "gained" ? [me, ...before] : [me, ...after]);
            expect(owner).toBe(c.neighbour);
          }
        }
      }),
    );
  });
});
