// The leaf-set scan: ghosts (departed nodes still held) and holes (live nodes missing where they belong),
// measured against the simulator's truth without changing the run.
import { describe, expect, it } from "vitest";
import { LeafSetScan } from "../../src/sim/leaf-set-scan.js";
import { leafSetMembers } from "../../src/sim/machine.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Simulator } from "../../src/sim/simulator.js";

const SIM_TIMEOUT_MS = 120_000;

function overlay(): Simulator {
  const sim = new Simulator({ seed: 9, createMachine: createPastryMachine, routing: { leafSetSize: 8 } });
  sim.grow(40, { growth: 1, spreadMs: 500 });
  sim.runFor(5000);
  return sim;
}

describe("LeafSetScan", () => {
  it(
    "counts one ghost per holder of a crashed host, each held from the crash until its holder dropped it, and the holes it left",
    () => {
      const sim = overlay();
      const scan = new LeafSetScan(sim);
      scan.sample();
      expect(scan.summary().holes.pairs + scan.summary().openHoles).toBe(0);
      const victim = sim.readyNodes()[7]!;
      const holders = sim
        .readyNodes()
        .filter((n) => leafSetMembers(n.machine).some((m) => m.id.equals(victim.info.id))).length;
      sim.crash(victim.index, "host");
      const crashedAt = sim.now;
      let lastHeld = crashedAt;
      for (let s = 0; s < 40; s++) {
        sim.runFor(1000);
        const held = sim
          .readyNodes()
          .some((n) => leafSetMembers(n.machine).some((m) => m.id.equals(victim.info.id)));
        if (held) lastHeld = sim.now;
        scan.sample();
      }
      const { ghosts, holes, openGhosts } = scan.summary();
      expect(openGhosts).toBe(0);
      expect(ghosts.host.pairs).toBe(holders);
      expect(ghosts.process.pairs + ghosts.left.pairs).toBe(0);
      // A host gone silent is found after the failure timeout: every holder held it for some seconds.
      expect(ghosts.host.maxMs).toBe(lastHeld - crashedAt);
      expect(ghosts.host.maxMs).toBeGreaterThan(5_000);
      expect(ghosts.host.worst?.node).toBe(victim.info.id.hex.slice(0, 6));
      // Its place was empty at its holders until each took in the live node beyond it.
      expect(holes.pairs).toBeGreaterThan(0);
    },
    SIM_TIMEOUT_MS,
  );

  it(
    "a scanned run follows the same trajectory as one not scanned",
    () => {
      const run = (scanned: boolean): string => {
        const sim = overlay();
        const scan = new LeafSetScan(sim);
        sim.crash(sim.readyNodes()[3]!.index, "host");
        sim.leave(sim.readyNodes()[11]!.index);
        sim.scheduleTraffic(100, 10_000);
        for (let s = 0; s < 20; s++) {
          sim.runFor(1000);
          if (scanned) scan.sample();
        }
        return JSON.stringify({ events: sim.events, messages: sim.totalMessageCounts() });
      };
      expect(run(true)).toBe(run(false));
    },
    SIM_TIMEOUT_MS,
  );
});
