// Whole-overlay simulations of real PastryNode machines at a size CI can afford.
import { describe, expect, it } from "vitest";
import { measureRoutes } from "../../src/sim/measure.js";
import { leafSetMembers } from "../../src/sim/machine.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Simulator } from "../../src/sim/simulator.js";

const N = 1000;
const LOG16_N = Math.log(N) / Math.log(16);
const HEARTBEAT_MS = 1000;
/** Each simulation needs 10-25 s of CPU; on a shared 2-core machine give it room (behaviour, not timing). */
const SIM_TIMEOUT_MS = 240_000;

function buildOverlay(seed: number, nodes: number): Simulator {
  const sim = new Simulator({
    seed,
    createMachine: createPastryMachine,
    seedSelection: { kind: "nearestOfSample", sample: 8 },
  });
  sim.grow(nodes, { growth: 0.5, spreadMs: 1000 });
  sim.runFor(3 * HEARTBEAT_MS);
  return sim;
}

/** Sends `count` random messages over `spreadMs`, then lets every one of them finish. */
function traffic(sim: Simulator, count: number, spreadMs: number): void {
  sim.clearTrackedMessages();
  sim.scheduleTraffic(count, spreadMs, true);
  sim.runFor(spreadMs + 10 * HEARTBEAT_MS);
}

describe("simulated overlay of real PastryNode machines", () => {
  it(
    "stable overlay: every message reaches its true owner, in fewer than log16(N) hops on average",
    () => {
      const sim = buildOverlay(1, N);
      expect(sim.truth.size).toBe(N);
      expect(sim.failedJoins()).toEqual([]);
      traffic(sim, 2000, 5000);
      const a = sim.account();
      expect(a.sent).toBe(2000);
      expect(a.delivered).toBe(2000);
      expect(a.misdelivered).toBe(0);
      expect(a.acked).toBe(2000);
      expect(sim.deliveryChecks()).toMatchObject({
        misdeliveries: 0,
        duplicateDeliveries: 0,
        untrackedDeliveries: 0,
      });
      expect(sim.addressingErrors()).toEqual({ wrongChoice: 0, unknownAddress: 0 });
      const routes = measureRoutes(sim);
      expect(routes.hops.mean).toBeLessThan(LOG16_N);
      expect(routes.stretch.count).toBeGreaterThan(1900);
      expect(routes.stretch.min).toBeGreaterThanOrEqual(1 - 1e-9);
    },
    SIM_TIMEOUT_MS,
  );

  it(
    "joins during traffic: no misdelivery and nothing lost",
    () => {
      const sim = buildOverlay(2, N);
      sim.clearTrackedMessages();
      sim.scheduleJoins(200, 5000);
      sim.scheduleTraffic(2000, 5000, true);
      sim.runFor(5000);
      expect(sim.runUntilCondition(() => sim.joining === 0, 30_000)).toBe(true);
      sim.runFor(10 * HEARTBEAT_MS);
      expect(sim.truth.size).toBe(N + 200);
      const a = sim.account();
      expect(a.sent).toBe(2000);
      expect(a).toMatchObject({ delivered: 2000, misdelivered: 0, unaccounted: 0, duplicateDeliveries: 0 });
      expect(sim.deliveryChecks().misdeliveries).toBe(0);
    },
    SIM_TIMEOUT_MS,
  );

  it(
    "10 % of nodes crash: every message is accounted for, and after repair delivery is correct again",
    () => {
      const sim = buildOverlay(3, N);
      const crashed = sim.crashRandom(N / 10);
      expect(crashed).toHaveLength(N / 10);

      // Right after the crash: messages may be dropped or lost with a crashed holder, but none may vanish,
      // repeat, or land anywhere but at the true owner.
      traffic(sim, 1000, 1000);
      // A hop whose acknowledgement never came waits for the verdict on its next node (three probe attempts
      // with growing, RTT-adaptive timeouts) before it is resent or routed around: give the verdicts time.
      sim.runFor(30 * HEARTBEAT_MS);
      const during = sim.account();
      const droppedDuring = Object.values(during.dropped).reduce((x, y) => x + y, 0);
      expect(during).toMatchObject({ misdelivered: 0, unaccounted: 0, duplicateDeliveries: 0 });
      expect(during.delivered + during.lostToCrash + droppedDuring).toBe(1000);

      // A few heartbeat intervals later the leaf sets have repaired: none names a dead node.
      sim.runFor(5 * HEARTBEAT_MS);
      const dead = new Set(crashed.map((i) => sim.node(i).info.id.hex));
      const stale = sim
        .readyNodes()
        .flatMap((n) => leafSetMembers(n.machine).filter((e) => dead.has(e.id.hex)));
      expect(stale).toEqual([]);

      traffic(sim, 2000, 5000);
      // Tables still naming crashed nodes cost a message one probe verdict per such hop (seconds each in
      // the simulator, where a dead host times out rather than refusing): an unlucky route can meet several
      // in a row. Every message must still end, delivered, within a bounded time.
      const settled = sim.runUntilCondition(
        () => sim.messages().every((m) => m.status !== "pending"),
        60 * HEARTBEAT_MS,
      );
      expect(settled).toBe(true);
      const after = sim.account();
      expect(after).toMatchObject({
        sent: 2000,
        misdelivered: 0,
        unaccounted: 0,
        lostToCrash: 0,
        duplicateDeliveries: 0,
      });
      expect(after.deliveredCorrectly).toBe(after.delivered);
      // Routing tables may still name dead nodes (Pastry repairs them lazily, on use), but routing goes
      // around them: every message arrives.
      expect(after.delivered).toBe(2000);
      expect(sim.deliveryChecks().misdeliveries).toBe(0);
    },
    SIM_TIMEOUT_MS,
  );

  it(
    "is reproducible: the same seed gives the same run",
    () => {
      const run = (): unknown => {
        const sim = buildOverlay(7, 120);
        traffic(sim, 200, 1000);
        return {
          events: sim.events,
          now: sim.now,
          counts: sim.totalMessageCounts(),
          hops: sim.messages().map((m) => [m.key.hex, m.deliveredBy, m.hops]),
        };
      };
      expect(run()).toEqual(run());
    },
    SIM_TIMEOUT_MS,
  );
});
