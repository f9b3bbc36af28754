// A simulation's fingerprint, to show that a change to the simulator (or a pure refactor of the routing core)
// left its behaviour exactly as it was: the churn benchmark's scenario at a small size, with every message
// sent, arrived and failed (time, nodes, type, address and full content) folded into one SHA-256, printed
// with the churn figures. Two runs of the same seed with the same fingerprint took the same events in the
// same order. Usage: bench/sim/fingerprint.ts [--nodes 1000] [--median-minutes 30] [--warmup-minutes 1]
//   [--minutes 2] [--seed 7] [--no-trace (figures only, for timing)] [--eager-ticks]
//   [--cpu-profile file.cpuprofile (V8 sampling profile of the churn phase only, the build left out)]
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { performance } from "node:perf_hooks";
import { Command } from "commander";
import { NodeId } from "../../src/routing/id.js";
import { Churn } from "../../src/sim/churn.js";
import { ChurnObserver } from "../../src/sim/churn-measure.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { Simulator, type TraceEntry } from "../../src/sim/simulator.js";

const o = new Command()
  .option("--nodes <n>", "steady population", "1000")
  .option("--median-minutes <m>", "median session (exponential)", "30")
  .option("--warmup-minutes <m>", "virtual minutes of churn before measuring", "1")
  .option("--minutes <m>", "virtual minutes measured", "2")
  .option("--seed <n>", "simulation seed", "7")
  .option("--no-trace", "no fingerprint of the messages (the figures only)")
  .option("--eager-ticks", "run every tick as it comes (SimulatorOptions.lazyTicks false)")
  .option("--cpu-profile <file>", "write a CPU profile of the churn phase (after the build) to this file")
  .parse()
  .opts<{
    nodes: string;
    medianMinutes: string;
    warmupMinutes: string;
    minutes: string;
    seed: string;
    trace: boolean;
    eagerTicks?: boolean;
    cpuProfile?: string;
  }>();

const MINUTE = 60_000;
const seed = Number.parseInt(o.seed, 10);

/** A canonical text for any message field: IDs as hex, nodes as ID and incarnation, object keys sorted. */
function canonical(value: unknown): string {
  if (value === undefined) return "u";
  if (value === null || typeof value !== "object")
    return typeof value === "bigint" ? `${value}n` : String(value);
  if (value instanceof NodeId) return value.hex;
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const record = value as Record<string, unknown>;
  if (record["id"] instanceof NodeId && "incarnation" in record && "localAddress" in record)
    return `${(record["id"] as NodeId).hex}/${String(record["incarnation"])}`;
  return `{${Object.keys(record)
    .sort()
    .map((k) => `${k}:${canonical(record[k])}`)
    .join(",")}}`;
}

const hash = createHash("sha256");
let traced = 0;
const trace = (e: TraceEntry): void => {
  traced++;
  hash.update(`${e.at}|${e.what}|${e.from}|${String(e.to)}|${canonical(e.out)}\n`);
};

const started = performance.now();
const cpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const cpuAtStart = cpuSeconds();
const sim = new Simulator({
  seed,
  createMachine: createPastryMachine,
  seedSelection: { kind: "nearestOfSample", sample: 16 },
  lazyTicks: o.eagerTicks !== true,
  ...(o.trace ? { trace } : {}),
});
const random = new Prng(seed ^ 0x5eed);
const observer = new ChurnObserver(sim, { windowMs: MINUTE }, random.fork());
sim.grow(Number.parseInt(o.nodes, 10), {
  growth: 1,
  spreadMs: 1000,
  waveTimeoutMs: 5_000,
  stragglers: 0.01,
  finalTimeoutMs: 60_000,
});
sim.runFor(3_000);
const buildWallMs = performance.now() - started;
const buildCpuS = cpuSeconds() - cpuAtStart;
const profiler = o.cpuProfile === undefined ? undefined : new Session();
if (profiler !== undefined) {
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
}
const churn = new Churn(
  sim,
  { lifetime: { kind: "exponential", medianMs: Number.parseFloat(o.medianMinutes) * MINUTE } },
  random.fork(),
  {
    onArrival: () => observer.observeArrival(),
    onDeparture: (node, kind) => observer.observeDeparture(node, kind),
  },
);
churn.start();
sim.runFor(Number.parseFloat(o.warmupMinutes) * MINUTE);
observer.start();
observer.startTraffic(20, 0.2);
sim.runFor(Number.parseFloat(o.minutes) * MINUTE);
observer.stop();
churn.stop();
sim.runFor(30_000);
const totals = observer.finish();
if (profiler !== undefined && o.cpuProfile !== undefined) {
  const { profile } = await profiler.post("Profiler.stop");
  writeFileSync(o.cpuProfile, JSON.stringify(profile));
  profiler.disconnect();
}
console.log(
  JSON.stringify(
    {
      fingerprint: o.trace ? hash.digest("hex") : "not traced",
      traced,
      events: sim.events,
      ticksHeld: sim.ticksHeld,
      now: sim.now,
      nodes: sim.nodeCount,
      ready: sim.truth.size,
      failedJoins: sim.failedJoins().length,
      messageCounts: sim.totalMessageCounts(),
      deliveryChecks: sim.deliveryChecks(),
      addressingErrors: sim.addressingErrors(),
      totals,
      buildWallS: Math.round(buildWallMs / 100) / 10,
      buildCpuS: Math.round(buildCpuS * 10) / 10,
      churnCpuS: Math.round((cpuSeconds() - cpuAtStart - buildCpuS) * 10) / 10,
      wallS: Math.round((performance.now() - started) / 100) / 10,
    },
    null,
    1,
  ),
);
