// Control messages counted by what prompted them (SendCause): the simulator attributes every send to the input
// its sender was handling, and the churn report lists them, so that maintenance cost can be traced to its source.
import { describe, expect, it } from "vitest";
import type { PeerMessageType } from "../../src/routing/types.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import type { CountsByCause } from "../../src/sim/send-counters.js";
import { Simulator } from "../../src/sim/simulator.js";
import { churnedOverlay } from "./churned-overlay.js";

/** A few seconds of CPU each; on a loaded 2-core machine give them room (behaviour, not timing). */
const SIM_TIMEOUT_MS = 240_000;

/** Messages of `type` in `byCause`, summed over every cause. */
function summed(byCause: CountsByCause, type: PeerMessageType): number {
  let n = 0;
  for (const byType of Object.values(byCause)) n += byType[type] ?? 0;
  return n;
}

describe("sends by cause", () => {
  it(
    "every send of a window is counted under one cause: per kind the causes add up to the kind's count; probe replies answer probes, heartbeats go on ticks, joins start on commands",
    () => {
      const sim = new Simulator({ seed: 5, createMachine: createPastryMachine });
      sim.resetMessageCounts();
      sim.grow(40, { growth: 1, spreadMs: 500 });
      sim.runFor(20_000);
      for (let i = 0; i < 50; i++) sim.sendRandomMessage();
      sim.runFor(10_000);
      const { counts, byCause } = sim.messageCounts();

      for (const [type, n] of Object.entries(counts) as [PeerMessageType, number][]) {
        expect(summed(byCause, type), type).toBe(n);
      }
      expect(counts.probeReply ?? 0).toBeGreaterThan(0);
      expect(byCause["probe received"]?.probeReply).toBe(counts.probeReply);
      expect(counts.heartbeat ?? 0).toBeGreaterThan(0);
      expect(byCause.tick?.heartbeat).toBe(counts.heartbeat);
      // A joiner's first join goes out on the command that starts it; nodes on the way hand it on.
      expect(byCause.command?.join ?? 0).toBeGreaterThan(0);
      expect(byCause["join received"]?.join ?? 0).toBeGreaterThan(0);
      // Application sends start as commands; their hops are handed on as route messages arrive.
      expect(byCause.command?.route ?? 0).toBeGreaterThan(0);
      expect(byCause["route received"]?.ack ?? 0).toBeGreaterThan(0);
    },
    SIM_TIMEOUT_MS,
  );

  it(
    "a churn run's control by cause covers its control total, leaves out route and ack, and lists the most first",
    () => {
      const { observer } = churnedOverlay(8, 50, 30_000);
      const totals = observer.finish();

      const causes = totals.controlByCause ?? [];
      expect(causes.length).toBeGreaterThan(0);
      expect(causes.some((c) => c.type === "route" || c.type === "ack")).toBe(false);
      const sum = causes.reduce((s, c) => s + c.perNodePerSecond, 0);
      expect(sum).toBeCloseTo(totals.controlTotalPerNodePerSecond, 9);
      for (let i = 1; i < causes.length; i++) {
        expect(causes[i - 1]!.perNodePerSecond).toBeGreaterThanOrEqual(causes[i]!.perNodePerSecond);
      }
      // Departures under churn: leaves are announced by the leaver (a command), deaths found and pushed.
      expect(causes.some((c) => c.type === "leave" && c.cause === "command")).toBe(true);
    },
    SIM_TIMEOUT_MS,
  );
});
