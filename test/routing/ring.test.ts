import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { isRingMinimum, smallestKnownId } from "../../src/routing/ring.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

function minimumsOf(nodes: ReturnType<Overlay["live"]>): string[] {
  return nodes
    .filter((n) => {
      const { left, right } = n.leafSet();
      return isRingMinimum(n.self.id, [...left, ...right]);
    })
    .map((n) => n.self.id.hex);
}

describe("ring minimum from the leaf set", () => {
  it("exactly one node of a converged ring, the smallest ID, takes itself for the minimum", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 2, max: 40 }), (seed, size) => {
        const overlay = new Overlay({ leafSetSize: 8 }, seed);
        const random = seededRandom(seed);
        overlay.bootstrap(randomId(random));
        for (let i = 1; i < size; i++) overlay.join(randomId(random));
        const nodes = overlay.live();
        const smallest = nodes.map((n) => n.self.id).reduce((a, b) => (a.compare(b) <= 0 ? a : b));
        expect(minimumsOf(nodes)).toEqual([smallest.hex]);
        for (const n of nodes) {
          const { left, right } = n.leafSet();
          const known = smallestKnownId(n.self.id, [...left, ...right]);
          expect(known.compare(n.self.id)).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 15 },
    );
  });

  it("two rings that never met have two minimums, one each", () => {
    const random = seededRandom(42);
    const rings = [new Overlay({ leafSetSize: 8 }, 1), new Overlay({ leafSetSize: 8 }, 2)];
    for (const ring of rings) {
      ring.bootstrap(randomId(random));
      for (let i = 1; i < 12; i++) ring.join(randomId(random));
    }
    const found = rings.map((ring) => minimumsOf(ring.live()));
    expect(found.map((m) => m.length)).toEqual([1, 1]);
    expect(found[0]![0]).not.toBe(found[1]![0]);
  });
});
