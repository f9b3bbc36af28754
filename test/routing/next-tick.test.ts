// nextTickAt(): a runtime that ticks each node only at the deadline the node names (one timer, not a tick
// every quarter heartbeat) keeps the protocol working, and idle nodes are ticked rarely.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import { DEFAULT_ROUTING_CONFIG } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom, trueSides } from "./overlay-harness.js";

const RUNS = Number(process.env.ROUTING_RUNS ?? 6);
const HEARTBEAT_MS = DEFAULT_ROUTING_CONFIG.heartbeatIntervalMs;

function build(size: number, seed: number, leafSetSize: number): Overlay {
  const overlay = new Overlay({ leafSetSize }, seed, "all");
  const random = seededRandom(seed * 7919 + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < size; i++) overlay.join(randomId(random));
  return overlay;
}

function expectLeafSetsExact(overlay: Overlay, leafSetSize: number): void {
  const live = overlay.live();
  for (const node of live) {
    const truth = trueSides(node, live, leafSetSize);
    const actual = node.leafSet();
    expect(actual.right.map((n) => n.id.hex)).toEqual(truth.right);
    expect(actual.left.map((n) => n.id.hex)).toEqual(truth.left);
  }
}

describe("ticking at nextTickAt() only", () => {
  it("crashed nodes are still found and every leaf set repaired to the truth", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(4, 8),
        fc.integer({ min: 1, max: 3 }),
        (seed, leafSetSize, crashCount) => {
          const overlay = build(2 * leafSetSize + 6, seed, leafSetSize);
          const crashes = Math.min(crashCount, leafSetSize / 2 - 1);
          const live = overlay.live();
          for (let i = 0; i < crashes; i++) overlay.crash(live[(seed + i * 3) % live.length] as PastryNode);
          // Found in turn from silence (failure timeout, then three probe attempts): generous time.
          overlay.advanceByDeadlines(20_000);
          expectLeafSetsExact(overlay, leafSetSize);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("a tick always moves the next deadline past it, by at least 250 ms", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const overlay = build(10, seed, 4);
        const live = overlay.live();
        overlay.crash(live[seed % live.length] as PastryNode);
        for (let step = 0; step < 40; step++) {
          overlay.advance(HEARTBEAT_MS / 4, HEARTBEAT_MS / 4);
          for (const node of overlay.live()) {
            const now = overlay.now;
            node.tick(now);
            overlay.collect(node);
            expect(node.nextTickAt()).toBeGreaterThanOrEqual(now + 250);
          }
          overlay.pump();
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("an idle overlay is ticked about once per heartbeat per node, not four times", () => {
    const overlay = build(12, 7, 8);
    overlay.advance(10_000);
    const seconds = 60;
    const ticks = overlay.advanceByDeadlines(seconds * 1000);
    const perNodePerHeartbeat = ticks / overlay.live().length / ((seconds * 1000) / HEARTBEAT_MS);
    expect(perNodePerHeartbeat).toBeLessThanOrEqual(1.5);
    expect(perNodePerHeartbeat).toBeGreaterThan(0);
  });
});
