// A small overlay under steady churn for simulator tests: grown, then nodes come and go (exponential sessions)
// while random traffic flows, measured by a ChurnObserver; stopped and left to drain.
import { ChurnObserver } from "../../src/sim/churn-measure.js";
import { Churn } from "../../src/sim/churn.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { Simulator } from "../../src/sim/simulator.js";

export interface ChurnedOverlay {
  readonly sim: Simulator;
  readonly churn: Churn;
  readonly observer: ChurnObserver;
}

/** `nodes` nodes, 15 s median sessions for `churnMs`, 5 messages a second, then 10 s to drain. */
export function churnedOverlay(seed: number, nodes: number, churnMs: number): ChurnedOverlay {
  const sim = new Simulator({ seed, createMachine: createPastryMachine });
  sim.grow(nodes, { growth: 1, spreadMs: 500 });
  sim.runFor(3000);
  const observer = new ChurnObserver(sim, { windowMs: 10_000 }, new Prng(seed + 1));
  const churn = new Churn(sim, { lifetime: { kind: "exponential", medianMs: 15_000 } }, new Prng(seed + 2), {
    onArrival: () => observer.observeArrival(),
    onDeparture: (node, kind) => observer.observeDeparture(node, kind),
  });
  churn.start();
  observer.start();
  observer.startTraffic(5, 0.2);
  sim.runFor(churnMs);
  observer.stop();
  churn.stop();
  sim.runFor(10_000);
  return { sim, churn, observer };
}
