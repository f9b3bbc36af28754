// Graceful leaves in quick succession, with the leavers rejoining under new IDs and the network reordering
// messages (a heartbeat sent before a leave notice may arrive after it), as the daemon burst test does with
// real processes: no node ever delivers a key that a live ready node is closer to. The example [25, 150, 300]
// failed before departed nodes' late messages were ignored (the leaver came back into a leaf set as a ghost);
// [999981, 150, 200] before a node stopped delivering at itself while it knew a closer node outside its leaf set.
// Leaves here are at least roundGapMs apart, longer than any message takes (maxDelayMs), so each leave is
// known to the leaver's neighbours before the next one: as in the daemon, where a leaver stops only once its
// neighbours acknowledged the notice. With delays longer than the gap (400 ms against 200 ms), both members
// on one side of a node can be gone before it has heard of either leave: l/2 = 2 adjacent departures at
// once, the documented limit of a leaf set of 4 (docs/configuration.md), and a wrong delivery follows.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

const STABLE = 4;
const LEAVERS = 5;
const ROUNDS = 40;
/** Runs of the property (ROUTING_RUNS; 30 in CI, from random seeds unless ROUTING_SEED names one). */
const RUNS = Number(process.env.ROUTING_RUNS ?? 30);

/** Returns the deliveries made at a node other than the live ready node closest to the key. */
function churn(seed: number, maxDelayMs: number, roundGapMs: number): { checked: number; wrong: string[] } {
  const overlay = new Overlay({ leafSetSize: 4, heartbeatIntervalMs: 500, failureTimeoutMs: 3000 }, seed);
  overlay.acks = true;
  const random = seededRandom(seed + 1);
  const stable: PastryNode[] = [overlay.bootstrap(randomId(random))];
  for (let i = 1; i < STABLE; i++) stable.push(overlay.join(randomId(random)));
  const leavers: PastryNode[] = [];
  for (let i = 0; i < LEAVERS; i++) leavers.push(overlay.join(randomId(random)));
  overlay.advance(2000);
  // Every message takes up to maxDelayMs, independently: messages overtake one another.
  overlay.overload = { until: Number.MAX_SAFE_INTEGER, maxDelayMs, callTimeoutMs: 10_000, dropRate: 0 };
  const first = overlay.deliveries.length;
  const near = (leaver: PastryNode, k: number): NodeId =>
    NodeId.fromBigInt(
      (((leaver.self.id.value + BigInt(k) * 1000n) % (1n << 128n)) + (1n << 128n)) % (1n << 128n),
    );
  for (let round = 0; round < ROUNDS; round++) {
    const at = round % LEAVERS;
    const leaver = leavers[at]!;
    if (!leaver.isReady()) {
      overlay.advance(roundGapMs, 10);
      continue;
    }
    for (let k = -5; k < 5; k++) {
      overlay.send(stable[(k + 5) % STABLE]!, near(leaver, k));
      overlay.advance(2, 1);
    }
    leaver.leave(overlay.now);
    overlay.collect(leaver);
    overlay.crash(leaver);
    for (let k = 0; k < 10; k++) {
      overlay.send(stable[k % STABLE]!, near(leaver, k));
      overlay.advance(3, 1);
    }
    overlay.advance(roundGapMs, 10);
    leavers[at] = overlay.startJoin(randomId(random));
  }
  overlay.advance(3000, 10);
  const deliveries = overlay.deliveries.slice(first);
  const wrong = deliveries
    .filter((d) => d.at.self.id.hex !== d.trueOwnerHex)
    .map((d) => `${d.message.key.hex} at ${d.at.self.id.hex}, owner ${d.trueOwnerHex}`);
  return { checked: deliveries.length, wrong };
}

describe("graceful leaves in quick succession under reordering", () => {
  it(
    "leaves every few hundred ms with rejoins under new IDs and messages overtaking one another: every delivery is at the live ready node closest to the key",
    () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 1_000_000 }),
          fc.constantFrom(50, 150),
          fc.constantFrom(200, 300),
          (seed, maxDelayMs, roundGapMs) => {
            const run = churn(seed, maxDelayMs, roundGapMs);
            expect(run.checked).toBeGreaterThan(0);
            expect(run.wrong).toEqual([]);
          },
        ),
        // Random seeds; the counterexamples found so far run first. [999981, 150, 200] delivered at a node whose
        // short right side a far node had filled while the nearer ones were still being probed (scenario
        // testdata/far-member-hole.txt). ROUTING_SEED and ROUTING_RUNS sweep (ROUTING_PATH replays a failure).
        {
          numRuns: RUNS,
          examples: [
            [25, 150, 300],
            [999981, 150, 200],
          ],
          endOnFailure: true,
          ...(process.env.ROUTING_SEED === undefined ? {} : { seed: Number(process.env.ROUTING_SEED) }),
          ...(process.env.ROUTING_PATH === undefined ? {} : { path: process.env.ROUTING_PATH }),
        },
      );
    },
    60_000 + RUNS * 500,
  );
});
