// The small churn run two simulator tests share: 80 nodes, 60 s median sessions for 20 s while 400 messages
// are sent, then a drain. Each test passes the simulator options it compares (how nodes are ticked).
import { Churn } from "../../src/sim/churn.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { Simulator, type SimulatorOptions } from "../../src/sim/simulator.js";

export const SMALL_CHURN_MESSAGES = 400;

/** The run, drained for `drainMs` after churn stops; the simulator is returned for its accounts. */
export function smallChurnRun(
  options: Omit<SimulatorOptions, "seed" | "createMachine" | "seedSelection">,
  drainMs: number,
): Simulator {
  const sim = new Simulator({
    ...options,
    seed: 11,
    createMachine: createPastryMachine,
    seedSelection: { kind: "nearestOfSample", sample: 4 },
  });
  sim.grow(80, { growth: 1, spreadMs: 500 });
  sim.runFor(3_000);
  const churn = new Churn(sim, { lifetime: { kind: "exponential", medianMs: 60_000 } }, new Prng(3));
  churn.start();
  sim.scheduleTraffic(SMALL_CHURN_MESSAGES, 20_000, true);
  sim.runFor(20_000);
  churn.stop();
  sim.runFor(drainMs);
  return sim;
}
