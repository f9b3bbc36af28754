// Held-back ticks (SimulatorOptions.lazyTicks): the simulator may run a ready node's idle ticks later, just
// before its next input, because the machine sees the same calls in the same order. This checks that claim
// end to end: a run with churn (crashes of both kinds, graceful leaves, joins) and traffic sends the very
// same messages at the very same times either way.
import { describe, expect, it } from "vitest";
import type { TraceEntry } from "../../src/sim/simulator.js";
import { smallChurnRun } from "./small-churn-run.js";

/** A few seconds of CPU; on a loaded 2-core machine give it room (behaviour, not timing). */
const SIM_TIMEOUT_MS = 240_000;

function line(e: TraceEntry): string {
  const m = e.out.message;
  const detail = m.type === "route" ? `${m.message.id}/${m.message.hops}` : "";
  return `${e.at}|${e.what}|${e.from}|${String(e.to)}|${e.out.address}|${m.type}|${detail}`;
}

function run(lazyTicks: boolean): { trace: string[]; ticksHeld: number; delivered: number; sent: number } {
  const trace: string[] = [];
  const sim = smallChurnRun({ lazyTicks, trace: (e) => trace.push(line(e)) }, 10_000);
  const a = sim.account();
  return { trace, ticksHeld: sim.ticksHeld, delivered: a.delivered, sent: a.sent };
}

describe("held-back ticks", () => {
  it(
    "a run with churn and traffic sends the same messages at the same times with idle ticks held back as with every tick run as it comes",
    () => {
      const eager = run(false);
      const lazy = run(true);
      expect(eager.ticksHeld).toBe(0);
      expect(lazy.ticksHeld).toBeGreaterThan(1000);
      expect(lazy.trace.length).toBe(eager.trace.length);
      expect(lazy.trace).toEqual(eager.trace);
      expect(lazy.sent).toBe(400);
      expect(lazy.delivered).toBe(eager.delivered);
    },
    SIM_TIMEOUT_MS,
  );
});
