// 2.5 routing table maintenance, over a whole simulated overlay: the tables a join leaves behind converge
// to the nearest nodes that fit their slots, measured against global truth (src/sim/measure.ts).
import { describe, expect, it } from "vitest";
import { regionScaled } from "../../src/routing/proximity.js";
import { DEFAULT_ROUTING_CONFIG } from "../../src/routing/types.js";
import { measureTableLocality } from "../../src/sim/measure.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Simulator } from "../../src/sim/simulator.js";

const NODES = 300;
const FIVE_MINUTES = 5 * 60_000;
/** Tens of seconds of CPU; on a loaded 2-core machine give it room (behaviour, not timing). */
const SIM_TIMEOUT_MS = 240_000;

function build(tableMaintenanceIntervalMs: number): Simulator {
  const sim = new Simulator({
    seed: 3,
    createMachine: createPastryMachine,
    routing: { proximityAware: true, tableMaintenanceIntervalMs },
    seedSelection: { kind: "nearestOfSample", sample: 16 },
    ticks: "deadline",
  });
  sim.grow(NODES, { growth: 1, spreadMs: 1000 });
  return sim;
}

/** Distance as the nodes rank peers: latency, times the region multiplier across regions. */
function ranked(sim: Simulator): (a: number, b: number) => number {
  const { network } = sim;
  return (a, b) =>
    regionScaled(
      network.latency(a, b),
      network.host(a).region === network.host(b).region,
      DEFAULT_ROUTING_CONFIG.regionMultiplier,
    );
}

describe("2.5 routing table maintenance over a simulated overlay", () => {
  it(
    "brings table entries to the nearest fitting nodes; without it they stay where the join left them",
    () => {
      // On a quiet overlay the rounds self-tune to 8 configured intervals: configured at an eighth of the
      // default, they come once a minute, as the default pace under light churn.
      const maintained = build(DEFAULT_ROUTING_CONFIG.tableMaintenanceIntervalMs / 8);
      const frozen = build(Number.POSITIVE_INFINITY);
      const before = measureTableLocality(maintained, ranked(maintained));
      // Same seed, same joins: the two overlays start from nearly the same tables (the first maintenance
      // requests, at a random phase, can fall within the build).
      const frozenBefore = measureTableLocality(frozen, ranked(frozen));
      expect(Math.abs(frozenBefore.meanExcess - before.meanExcess)).toBeLessThan(0.05);
      expect(before.meanExcess).toBeGreaterThan(1);

      maintained.runFor(FIVE_MINUTES);
      frozen.runFor(FIVE_MINUTES);
      const after = measureTableLocality(maintained, ranked(maintained));
      const unmaintained = measureTableLocality(frozen, ranked(frozen));
      expect(after.slots).toBeGreaterThanOrEqual(before.slots);
      // Excess distance over the best entries: cut to under a quarter of what is left without maintenance.
      expect(after.meanExcess - 1).toBeLessThan((unmaintained.meanExcess - 1) / 4);
      expect(after.nearestFraction).toBeGreaterThan(unmaintained.nearestFraction);
      expect(maintained.truth.size).toBe(NODES);
    },
    SIM_TIMEOUT_MS,
  );

  it("table locality is perfect when every fitting node is equally near", () => {
    const sim = build(Number.POSITIVE_INFINITY);
    const locality = measureTableLocality(sim, () => 1);
    expect(locality.slots).toBeGreaterThan(NODES * 15);
    expect(locality).toMatchObject({ nearestFraction: 1, meanExcess: 1 });
    // A sample looks at fewer nodes' tables.
    expect(measureTableLocality(sim, () => 1, 30).slots).toBeLessThan(locality.slots / 5);
  });
});
