// The rule that lets a node coordinate a read itself: it must only say yes when its own replica set for the
// key is the true one, and it must say yes at every member of the true replica set.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId, clockwiseDistance } from "../../src/routing/id.js";
import { knowsReplicaSet } from "../../src/kv/coverage.js";
import { replicaSet } from "../../src/kv/replica-set.js";

const RING = 1n << 128n;
const idArb = fc.bigInt({ min: 0n, max: RING - 1n }).map((v) => NodeId.fromBigInt(v));

/** A correct leaf set of `half` per side: the nearest nodes clockwise (right) and counter-clockwise (left). */
function leafSetOf(self: NodeId, ring: readonly NodeId[], half: number): { left: NodeId[]; right: NodeId[] } {
  const others = ring.filter((id) => !id.equals(self));
  const right = [...others].sort((a, b) => cmp(clockwiseDistance(self, a), clockwiseDistance(self, b)));
  const left = [...others].sort((a, b) => cmp(clockwiseDistance(a, self), clockwiseDistance(b, self)));
  return { left: left.slice(0, half), right: right.slice(0, half) };
}

/** The replica set a node computes: from itself and its leaf set's members, each once. */
function seenBy(
  self: NodeId,
  left: readonly NodeId[],
  right: readonly NodeId[],
  key: NodeId,
  k: number,
): NodeId[] {
  const members = new Map([self, ...left, ...right].map((id) => [id.hex, { id }]));
  return replicaSet(key, [...members.values()], k).map((n) => n.id);
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

const ringArb = fc.record({
  ring: fc.uniqueArray(idArb, { minLength: 1, maxLength: 60, selector: (n) => n.hex }),
  key: idArb,
  half: fc.integer({ min: 1, max: 8 }),
  k: fc.integer({ min: 1, max: 8 }),
});

describe("knowsReplicaSet", () => {
  it("says yes only when the node's replica set (self and leaf set) is the ring's true replica set", () => {
    fc.assert(
      fc.property(ringArb, ({ ring, key, half, k }) => {
        const truth = replicaSet(
          key,
          ring.map((id) => ({ id })),
          k,
        ).map((n) => n.id.hex);
        for (const self of ring) {
          const { left, right } = leafSetOf(self, ring, half);
          const seen = seenBy(self, left, right, key, k);
          if (knowsReplicaSet(left, right, key, seen, k)) expect(seen.map((id) => id.hex)).toEqual(truth);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("says yes at every member of the key's replica set when each side of the leaf set holds at least k", () => {
    fc.assert(
      fc.property(ringArb, ({ ring, key, half, k }) => {
        fc.pre(half >= k);
        for (const member of replicaSet(
          key,
          ring.map((id) => ({ id })),
          k,
        )) {
          const { left, right } = leafSetOf(member.id, ring, half);
          const seen = seenBy(member.id, left, right, key, k);
          expect(knowsReplicaSet(left, right, key, seen, k)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("says yes at every node of a ring smaller than its leaf set, and no far from the key in a large ring", () => {
    const ids = Array.from({ length: 5 }, (_, i) => NodeId.fromBigInt(BigInt(i) * (RING / 5n)));
    const key = NodeId.fromBigInt(7n);
    for (const self of ids) {
      const { left, right } = leafSetOf(self, ids, 4);
      expect(knowsReplicaSet(left, right, key, seenBy(self, left, right, key, 3), 3)).toBe(true);
    }
    const big = Array.from({ length: 100 }, (_, i) => NodeId.fromBigInt(BigInt(i) * (RING / 100n)));
    const far = big[50]!;
    const { left, right } = leafSetOf(far, big, 4);
    const seen = seenBy(far, left, right, key, 3);
    expect(knowsReplicaSet(left, right, key, seen, 3)).toBe(false);
  });

  it("says no when its set holds fewer than k nodes and the leaf set does not wrap, even with the key mid-arc", () => {
    // Found by CI: four nodes 100 apart, one per side, key on the node itself. Both ends are exactly as far
    // from the key as the farthest member of the three-node set, but the fourth replica lies beyond them.
    const ring = [0n, 100n, 200n, 300n].map((v) => NodeId.fromBigInt(v));
    const self = ring[1]!;
    const { left, right } = leafSetOf(self, ring, 1);
    const seen = seenBy(self, left, right, self, 4);
    expect(seen).toHaveLength(3);
    expect(knowsReplicaSet(left, right, self, seen, 4)).toBe(false);
    expect(knowsReplicaSet(left, right, self, seen.slice(0, 3), 3)).toBe(true);
  });
});
