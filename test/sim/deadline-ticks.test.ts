// Deadline ticks (SimulatorOptions.ticks "deadline"): each node is ticked as the runtime ticks it, when its
// machine's nextTickAt falls due, rather than every quarter heartbeat. Two things are checked: a deadline is
// met when it falls (a silent successor is probed by one failure timeout after it was last heard, not at
// the next periodic tick), and an overlay under churn and traffic run so still delivers every message at its
// owner.
import { describe, expect, it } from "vitest";
import { leafSetMembers } from "../../src/sim/machine.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { Simulator, type TraceEntry } from "../../src/sim/simulator.js";
import { SMALL_CHURN_MESSAGES, smallChurnRun } from "./small-churn-run.js";
import { DEFAULT_ROUTING_CONFIG } from "../../src/routing/types.js";

/** A few seconds of CPU; on a loaded 2-core machine give it room (behaviour, not timing). */
const SIM_TIMEOUT_MS = 240_000;
/** The machine asks for no tick sooner than this after its last one (node.ts MIN_TICK_GAP_MS). */
const MIN_TICK_GAP_MS = 250;
const FAILURE_TIMEOUT_MS = DEFAULT_ROUTING_CONFIG.failureTimeoutMs;

describe("deadline ticks", () => {
  it(
    "the predecessor of each of 6 silently crashed nodes probes it no later than one failure timeout plus the minimum tick gap after it last heard from it",
    () => {
      const trace: TraceEntry[] = [];
      const sim = new Simulator({
        seed: 5,
        createMachine: createPastryMachine,
        ticks: "deadline",
        // No proximity probes or table rounds to blur what a predecessor sends its successor.
        routing: { proximityAware: false, tableMaintenanceIntervalMs: Number.POSITIVE_INFINITY },
        trace: (e) => trace.push(e),
      });
      sim.grow(40, { growth: 1, spreadMs: 500 });
      sim.runFor(20_000);
      const delays: number[] = [];
      const random = new Prng(9);
      for (let k = 0; k < 6; k++) {
        const ready = sim.readyNodes();
        const victim = ready[Math.floor(random.next() * ready.length)];
        if (victim === undefined) throw new Error("no ready node");
        // Its predecessor: the ready node whose successor (first right member) it is.
        const predecessor = ready.find((n) => n.machine.leafSet().right[0]?.id.equals(victim.info.id));
        if (predecessor === undefined) throw new Error("no predecessor");
        const crashAt = sim.now;
        sim.crash(victim.index, "host");
        sim.runFor(4 * FAILURE_TIMEOUT_MS);
        const probe = trace.find(
          (e) =>
            e.what === "send" &&
            e.from === predecessor.index &&
            e.to === victim.index &&
            e.out.message.type === "probe" &&
            e.at > crashAt,
        );
        if (probe === undefined) throw new Error(`node ${predecessor.index} never probed ${victim.index}`);
        // Its last message may still have been on its way at the crash.
        const heardAt = Math.max(
          ...trace
            .filter((e) => e.what === "arrive" && e.from === victim.index && e.to === predecessor.index)
            .map((e) => e.at)
            .filter((at) => at < probe.at),
        );
        delays.push(probe.at - heardAt);
        // Gone from every leaf set before the next crash.
        sim.runFor(6 * FAILURE_TIMEOUT_MS);
        const stale = sim
          .readyNodes()
          .filter((n) => leafSetMembers(n.machine).some((m) => m.id.equals(victim.info.id)));
        expect(stale).toEqual([]);
      }
      expect(delays).toHaveLength(6);
      // Sooner is allowed (another message may have made it suspect the node first); later is a tick that
      // came after the deadline.
      for (const delay of delays) expect(delay).toBeLessThanOrEqual(FAILURE_TIMEOUT_MS + MIN_TICK_GAP_MS);
    },
    SIM_TIMEOUT_MS,
  );

  it(
    "under churn and traffic every message is delivered at its owner or lost with a crashed holder, none twice",
    () => {
      const sim = smallChurnRun({ ticks: "deadline" }, 30_000);
      const a = sim.account();
      const dropped = Object.values(a.dropped).reduce((x, y) => x + y, 0);
      expect(a).toMatchObject({
        sent: SMALL_CHURN_MESSAGES,
        misdelivered: 0,
        unaccounted: 0,
        duplicateDeliveries: 0,
      });
      expect(a.delivered + a.lostToCrash + dropped).toBe(SMALL_CHURN_MESSAGES);
      expect(a.delivered).toBeGreaterThan(SMALL_CHURN_MESSAGES - 10);
    },
    SIM_TIMEOUT_MS,
  );
});
