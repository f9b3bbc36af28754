import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { NodeId, clockwiseDistance, closestTo } from "../../src/routing/id.js";
import { LeafSet } from "../../src/routing/leaf-set.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const at = (n: bigint, incarnation = 1): NodeInfo => nodeInfo(NodeId.fromBigInt(n), 1000, incarnation);
const ids = (nodes: readonly NodeInfo[]): bigint[] => nodes.map((n) => n.id.value);
const idArb = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });

describe("2.1 leaf set", () => {
  it("keeps the l/2 nearest smaller and l/2 nearest larger IDs, nearest first", () => {
    const leaf = new LeafSet(at(100n), 4);
    for (const n of [90n, 95n, 99n, 101n, 105n, 110n, 120n, 80n]) leaf.insert(at(n));
    expect(ids(leaf.left())).toEqual([99n, 95n]);
    expect(ids(leaf.right())).toEqual([101n, 105n]);
    expect(leaf.farthestLeft()?.id.value).toBe(95n);
    expect(leaf.farthestRight()?.id.value).toBe(105n);
    expect(leaf.size).toBe(4);
  });

  it("reports whether an insert changed it, and ignores self", () => {
    const leaf = new LeafSet(at(100n), 2);
    expect(leaf.insert(at(100n))).toBe(false);
    expect(leaf.insert(at(101n))).toBe(true);
    expect(leaf.insert(at(101n))).toBe(false);
    expect(leaf.insert(at(101n, 2))).toBe(true);
    expect(leaf.get(NodeId.fromBigInt(101n).hex)?.incarnation).toBe(2);
    expect(leaf.insert(at(150n))).toBe(true); // on the left, the long way round
    expect(leaf.insert(at(140n))).toBe(false); // farther than 150 going counter-clockwise
    expect(leaf.insert(at(200n))).toBe(true); // nearer than 150 going counter-clockwise
  });

  it("list() is one frozen copy of the members, renewed by every change and only then", () => {
    const leaf = new LeafSet(at(100n), 4);
    for (const n of [90n, 95n, 105n]) leaf.insert(at(n));
    const first = leaf.list();
    expect(Object.isFrozen(first)).toBe(true);
    expect(ids(first)).toEqual(ids([...leaf.members()]));
    expect(leaf.insert(at(95n))).toBe(false); // no change: the same array
    expect(leaf.list()).toBe(first);
    leaf.insert(at(95n, 2)); // a new incarnation replaces the old one
    const second = leaf.list();
    expect(second).not.toBe(first);
    expect(second.find((n) => n.id.value === 95n)?.incarnation).toBe(2);
    leaf.insert(at(110n));
    expect(ids(leaf.list())).toEqual(ids([...leaf.members()]));
    const third = leaf.list();
    leaf.remove(at(90n).id.hex);
    expect(ids(leaf.list())).not.toContain(90n);
    expect(ids(third)).toContain(90n); // an earlier copy is never changed under its holder
  });

  it("on a small ring a node may sit on both sides and every key is in range", () => {
    const leaf = new LeafSet(at(100n), 8);
    leaf.insert(at(50n));
    leaf.insert(at(150n));
    expect(ids(leaf.left())).toEqual([50n, 150n]);
    expect(ids(leaf.right())).toEqual([150n, 50n]);
    expect(leaf.wrapsAround()).toBe(true);
    expect(leaf.inRange(NodeId.fromBigInt(1n << 127n))).toBe(true);
  });

  it("a lone node covers the whole ring", () => {
    const leaf = new LeafSet(at(7n), 4);
    expect(leaf.inRange(NodeId.fromBigInt(123456789n))).toBe(true);
    expect(leaf.closest(NodeId.fromBigInt(123456789n)).id.value).toBe(7n);
  });

  it("range runs from the farthest left to the farthest right member, inclusive", () => {
    const leaf = new LeafSet(at(1000n), 4);
    for (const n of [900n, 950n, 1050n, 1100n, 5000n, 10n]) leaf.insert(at(n));
    expect(leaf.wrapsAround()).toBe(false);
    expect(leaf.inRange(NodeId.fromBigInt(900n))).toBe(true);
    expect(leaf.inRange(NodeId.fromBigInt(1100n))).toBe(true);
    expect(leaf.inRange(NodeId.fromBigInt(899n))).toBe(false);
    expect(leaf.inRange(NodeId.fromBigInt(1101n))).toBe(false);
  });

  it("closest includes self and breaks ties towards the lower ID", () => {
    const leaf = new LeafSet(at(100n), 4);
    leaf.insert(at(90n));
    leaf.insert(at(110n));
    expect(leaf.closest(NodeId.fromBigInt(95n)).id.value).toBe(90n); // 5 from 90 and 5 from 100
    expect(leaf.closest(NodeId.fromBigInt(105n)).id.value).toBe(100n); // 5 from 100 and 5 from 110
    expect(leaf.closest(NodeId.fromBigInt(108n)).id.value).toBe(110n);
    expect(leaf.closest(NodeId.fromBigInt(108n), new Set([NodeId.fromBigInt(110n).hex])).id.value).toBe(100n);
  });

  it("removal on a wrapped ring refills a side from the other; on a big ring it leaves the hole for repair", () => {
    const small = new LeafSet(at(100n), 4);
    for (const n of [90n, 80n, 110n]) small.insert(at(n));
    expect(small.wrapsAround()).toBe(true);
    small.remove(NodeId.fromBigInt(90n).hex);
    expect(ids(small.left())).toEqual([80n, 110n]);
    const big = new LeafSet(at(100n), 2);
    for (const n of [90n, 110n, 120n, 80n]) big.insert(at(n));
    big.remove(NodeId.fromBigInt(110n).hex);
    expect(ids(big.right())).toEqual([]);
    expect(big.wouldAccept(at(120n))).toBe(true);
  });

  it("invariants hold after any sequence of inserts and removals (checked against a sorted list)", () => {
    fc.assert(
      fc.property(
        idArb,
        fc.constantFrom(2, 4, 8),
        fc.array(fc.tuple(fc.boolean(), idArb), { maxLength: 80 }),
        fc.array(idArb, { minLength: 1, maxLength: 5 }),
        (selfValue, size, operations, keys) => {
          const self = at(selfValue);
          const leaf = new LeafSet(self, size);
          const half = size / 2;
          const present = new Map<string, NodeInfo>();
          for (const [isInsert, value] of operations) {
            const node = at(value);
            if (node.id.equals(self.id)) continue;
            if (isInsert || present.size === 0) {
              present.set(node.id.hex, node);
              leaf.insert(node);
            } else {
              // Remove a node that is present (picked from the value), as a failure detector would.
              const victims = [...present.values()];
              const victim = victims[Number(value % BigInt(victims.length))] as NodeInfo;
              present.delete(victim.id.hex);
              leaf.remove(victim.id.hex);
            }
          }
          // Each side: sorted by distance, no duplicates, at most l/2, only present nodes, never self.
          const checkSide = (side: readonly NodeInfo[], distance: (n: NodeInfo) => bigint): void => {
            expect(side.length).toBeLessThanOrEqual(half);
            expect(new Set(side.map((n) => n.id.hex)).size).toBe(side.length);
            for (let i = 1; i < side.length; i++) {
              expect(distance(side[i - 1] as NodeInfo) < distance(side[i] as NodeInfo)).toBe(true);
            }
            for (const n of side) expect(present.has(n.id.hex) && !n.id.equals(self.id)).toBe(true);
          };
          checkSide(leaf.right(), (n) => clockwiseDistance(self.id, n.id));
          checkSide(leaf.left(), (n) => clockwiseDistance(n.id, self.id));
          // The members are exactly the union of the two sides (nothing evicted from both lingers).
          const union = new Set([...leaf.left(), ...leaf.right()].map((n) => n.id.hex));
          expect(new Set([...leaf.members()].map((n) => n.id.hex))).toEqual(union);
          // Closest is the true closest among self and members.
          for (const value of keys) {
            const key = NodeId.fromBigInt(value);
            const truth = closestTo(key, [self, ...leaf.members()]);
            expect(leaf.closest(key).id.hex).toBe(truth?.id.hex);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a growing leaf set holds exactly the true nearest nodes when nothing is removed", () => {
    fc.assert(
      fc.property(idArb, fc.uniqueArray(idArb, { maxLength: 60 }), (selfValue, values) => {
        const self = at(selfValue);
        const leaf = new LeafSet(self, 8);
        const others = values.filter((v) => v !== selfValue).map((v) => at(v));
        for (const n of others) leaf.insert(n);
        const nearest = (d: (n: NodeInfo) => bigint) =>
          [...others]
            .sort((a, b) => (d(a) < d(b) ? -1 : 1))
            .slice(0, 4)
            .map((n) => n.id.value);
        expect(ids(leaf.right())).toEqual(nearest((n) => clockwiseDistance(self.id, n.id)));
        expect(ids(leaf.left())).toEqual(nearest((n) => clockwiseDistance(n.id, self.id)));
      }),
      { numRuns: 200 },
    );
  });
});
