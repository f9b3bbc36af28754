// The stretch yardstick: ideal Pastry routes over a given node set and latency.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { NodeId } from "../../src/routing/id.js";
import { idealPath, idealRoutes } from "../../src/sim/ideal-routes.js";
import { Prng } from "../../src/sim/prng.js";
import { RingTruth } from "../../src/sim/ring-truth.js";

/** A ring from hex prefixes (padded with zeros); host index = position in the list. */
function ringOf(prefixes: readonly string[]): RingTruth {
  const ring = new RingTruth();
  prefixes.forEach((p, index) => ring.add({ id: NodeId.fromHex(p.padEnd(32, "0")), index }));
  return ring;
}

describe("ideal Pastry routes (stretch yardstick)", () => {
  // Hosts on a line: latency = distance. 0x10's nearest node in prefix 8 is 0x8f, not the owner 0x88.
  const prefixes = ["10", "20", "80", "88", "8f", "f0"];
  const x = [0, 50, 100, 90, 10, 200];
  const latency = (a: number, b: number): number => Math.abs((x[a] as number) - (x[b] as number));
  const key = NodeId.fromHex("8a".padEnd(32, "0"));

  it("steps to the nearest node sharing a longer prefix, then to the owner from within the leaf set", () => {
    const ring = ringOf(prefixes);
    // Ring positions equal list positions here (the prefixes are sorted).
    expect(idealPath({ ring, latency, leafSetSize: 2 }, 0, key)).toEqual([0, 4, 3]);
    // A leaf set that covers the owner goes straight to it.
    expect(idealPath({ ring, latency, leafSetSize: 8 }, 0, key)).toEqual([0, 3]);
    expect(idealPath({ ring, latency, leafSetSize: 2 }, 3, key)).toEqual([3]);
  });

  it("reports hops and stretch of those routes", () => {
    const ring = ringOf(prefixes);
    const result = idealRoutes({ ring, latency, leafSetSize: 12, messages: 200, random: new Prng(3) });
    // Leaf sets hold everyone: one hop or none, always the direct path.
    expect(result.hops.max).toBeLessThanOrEqual(1);
    expect(result.stretch.min).toBe(1);
    expect(result.stretch.max).toBe(1);
    expect(result.stretchOfTotals).toBe(1);
  });

  it("ends every route at the owner, each step sharing a longer prefix, never shorter than direct (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.integer({ min: 1, max: 1e6 }), (n, seed) => {
        const random = new Prng(seed);
        const ring = new RingTruth();
        const points = Array.from({ length: n }, () => [random.next(), random.next()] as const);
        for (let index = 0; index < n; index++) ring.add({ id: random.nodeId(), index });
        const euclid = (a: number, b: number): number => {
          const [ax, ay] = points[a] as readonly [number, number];
          const [bx, by] = points[b] as readonly [number, number];
          return 1 + Math.hypot(ax - bx, ay - by);
        };
        for (let m = 0; m < 20; m++) {
          const k = random.nodeId();
          const path = idealPath({ ring, latency: euclid, leafSetSize: 8 }, random.int(n), k);
          expect(ring.at(path[path.length - 1] as number)).toBe(ring.owner(k));
          for (let i = 1; i < path.length - 1; i++) {
            const before = ring.at(path[i - 1] as number).id.commonPrefixLength(k);
            expect(ring.at(path[i] as number).id.commonPrefixLength(k)).toBeGreaterThan(before);
          }
        }
        const result = idealRoutes({ ring, latency: euclid, leafSetSize: 8, messages: 50, random });
        if (result.stretch.count > 0) {
          expect(result.stretch.min).toBeGreaterThanOrEqual(1 - 1e-9);
          expect(result.stretchOfTotals).toBeGreaterThanOrEqual(1 - 1e-9);
        }
      }),
      { numRuns: 60 },
    );
  });
});
