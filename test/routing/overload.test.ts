// Overload storms (16 processes on 2 busy cores): answers come late, calls time out although their message
// arrived, some messages are lost. The overlay must ride it out: no live node declared dead for good,
// maintenance traffic bounded while it lasts, leaf sets exact afterwards, acknowledged messages delivered
// once. Driven by the in-test pump's overload model (see Overload in overlay-harness.ts).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { leafSetsExact } from "./overlay-harness.js";
import { build, falseDeaths, maintenanceSent, runLossyOverload, trafficDuring } from "./overload-runs.js";

const RUNS = Number(process.env.ROUTING_RUNS ?? 4);

/**
 * Seeds of the lossy storm below that once failed, run every time beside its random seeds (as fast-check
 * examples they filled the default ROUTING_RUNS, and no random seed ran). 53585: a refutation lost, and the
 * repair's answer from the node that reported the death, naming the node again, was ignored (see
 * failure-handling.test.ts). 499472, 694364 (and 406161 with a short-side rule tried since): a row namer's
 * death notice (its one proximity probe lost in the storm) dropped a live leaf-set member that nothing named
 * again (see member-death-table-notice.test.ts). 18 of seeds 400,001-405,000 failed so before.
 */
const LOSSY_OVERLOAD_REGRESSIONS: readonly number[] = [53585, 406161, 499472, 694364];

/** A storm with a tenth of all messages lost (runLossyOverload): what the overlay must come out of it with. */
function expectLossyOverloadRidden(seed: number): void {
  const run = runLossyOverload(seed);
  expect(run.stormMaintenanceRate).toBeLessThan(4);
  // Repair after the storm. A node's nearest neighbours hear from it first-hand within a heartbeat or a
  // failure timeout (its heartbeat, its successor's probe), so every range is exact 30 s on.
  expect(run.neighboursExactAfter30s).toBe(true);
  expect(run.allReady).toBe(true);
  // The rest of each leaf set has no such bound when a death push or its refutation was lost: the death
  // is believed for a failure timeout (heard of) or 60 s (found first-hand and pushed), and then only
  // anti-entropy, one random member every 15-30 s, brings the live node back (docs/protocol.md,
  // Leaf-set maintenance). Seeds 400,001-405,000 and 700,001-705,000 (sweep-lossy-overload.ts): all
  // exact within 10 min, 2 of 10,000 not at once, the later 35 s on.
  expect(run.settledAfterMs).toBeDefined();
  // Quiet again: heartbeat and gossip, 1.2 per node per second.
  expect(run.quietMaintenanceRate).toBeLessThan(2);
}

describe("overload storms: late answers, timed-out calls that arrived, lost messages", () => {
  it("answers up to 3x the probe timeout late: no live node declared dead, each acked message delivered once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const leafSetSize = 32;
        const overlay = build(16, seed, leafSetSize);
        const eventsBefore = overlay.events.length;
        const sentBefore = maintenanceSent(overlay);
        // 20 s of starvation: calls take up to 1.5 s, a third of them time out at 1 s but still arrive.
        overlay.overload = {
          until: overlay.now + 20_000,
          maxDelayMs: 1_500,
          callTimeoutMs: 1_000,
          dropRate: 0,
        };
        const ids = trafficDuring(overlay, seed + 1, 200, 20_000);
        const stormMaintenance = maintenanceSent(overlay) - sentBefore;
        overlay.advance(10_000);

        expect(falseDeaths(overlay, eventsBefore)).toBe(0);
        expect(leafSetsExact(overlay, leafSetSize)).toBe(true);
        // Heartbeats (1/s), gossip (0.2/s), the probes they prompt and a few repairs: measured 2.2-2.6 per node per s.
        expect(stormMaintenance / 16 / 20).toBeLessThan(4);
        const acked = new Set(
          overlay.events.flatMap((e) => (e.event.type === "acked" ? [e.event.messageId] : [])),
        );
        expect(acked.size).toBeGreaterThan(ids.length * 0.9);
        for (const id of ids) {
          const at = overlay.deliveriesOf(id);
          expect(at.length, `message ${id}`).toBeLessThanOrEqual(1);
          if (acked.has(id)) expect(at, `acked message ${id}`).toHaveLength(1);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("with a tenth of all messages lost as well: ranges exact 30 s after, leaf sets exact in 10 min, traffic back to quiet", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1_000_000 }), expectLossyOverloadRidden), {
      numRuns: RUNS,
    });
  });

  it.each(LOSSY_OVERLOAD_REGRESSIONS)(
    "with a tenth of all messages lost as well, seed %i, a case that once failed: ranges exact 30 s after, leaf sets exact in 10 min, traffic back to quiet",
    expectLossyOverloadRidden,
  );
});
