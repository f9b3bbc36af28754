// The churn benchmark (`make bench-sim-churn`): builds an overlay through real joins, warms it up under
// churn, then measures for a virtual hour (by default) while nodes come and go and random traffic flows.
// Results merge into bench/results/sim-churn.json (one row per size, session law and median) and are
// rendered as the churn section of bench/results/sim-latest.md (the rest of that file is left as it is).
// Usage: bench/sim/churn.ts --nodes 10000 --median-minutes 30 [--lifetime exponential|pareto] [--shape 1.5]
//   [--warmup-minutes 10] [--minutes 60] [--traffic 20] [--crash-fraction 0.5] [--seed 1]
//   [--trace file] [--eager-ticks] [--wall-minutes m] [--out bench/results]
//   [--heartbeat-ms ms] [--failure-timeout-ms ms] [--leaf-set-size l] [--table-maintenance-ms ms]
//   [--ticks period|deadline] [--loss p] [--scan-leaf-sets]
// Once the overlay is built, SIGINT or SIGTERM ends the run at the end of the current virtual minute: a run
// stopped while measuring still writes its row (with the minutes it measured); a second signal aborts it.
import { mkdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { execFileSync } from "node:child_process";
import { Command } from "commander";
import { Churn, parseTrace, replayTrace, type LifetimeDistribution } from "../../src/sim/churn.js";
import { ChurnObserver } from "../../src/sim/churn-measure.js";
import { LeafSetScan, type PairDurations } from "../../src/sim/leaf-set-scan.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { Simulator, type TickMode } from "../../src/sim/simulator.js";
import { addChurnResult, type ChurnRun } from "./churn-results.js";
import { churnRouting } from "./churn-routing.js";
import { StopRequest } from "./stop-request.js";

const program = new Command()
  .option("--nodes <n>", "steady population", "10000")
  .option("--median-minutes <m>", "median session length (0: no churn, the overlay at rest)", "30")
  .option("--lifetime <law>", "exponential or pareto (Lomax, heavy-tailed)", "exponential")
  .option("--shape <alpha>", "pareto shape (> 1)", "1.5")
  .option("--warmup-minutes <m>", "virtual minutes of churn before measuring", "10")
  .option("--minutes <m>", "virtual minutes measured", "60")
  .option("--traffic <n>", "random messages per virtual second (a fifth as same-key pairs)", "20")
  .option("--crash-fraction <f>", "share of departures that are crashes (no goodbye)", "0.5")
  .option(
    "--loss <p>",
    "probability that any one message is lost on the way (its sender times out, as over a lossy network)",
    "0",
  )
  .option("--window-minutes <m>", "length of one measurement window", "5")
  .option(
    "--heartbeat-ms <ms>",
    "heartbeatIntervalMs (failureTimeoutMs follows at twice it unless given; default: the routing defaults)",
  )
  .option(
    "--failure-timeout-ms <ms>",
    "failureTimeoutMs (default: the routing default, or twice --heartbeat-ms)",
  )
  .option("--leaf-set-size <l>", "leafSetSize (default: the routing default)")
  .option(
    "--table-maintenance-ms <ms>",
    "tableMaintenanceIntervalMs, the base pace of periodic table maintenance (default: the routing default)",
  )
  .option("--seed <n>", "simulation seed", "1")
  .option(
    "--eager-ticks",
    "run every node's every tick as it comes (no held-back idle ticks; same results, slower)",
  )
  .option(
    "--ticks <mode>",
    "deadline: each node ticked at its machine's next deadline, as the runtime does; period: every quarter heartbeat (rows before 2026-12-06)",
    "deadline",
  )
  .option("--trace <file>", "replay this churn trace instead of drawing sessions (see docs/simulation.md)")
  .option(
    "--wall-minutes <m>",
    "stop measuring at the first virtual minute that ends after this much wall time since the start " +
      "(the row then states the virtual minutes actually measured)",
  )
  .option(
    "--scan-leaf-sets",
    "look at every ready node's leaf set once per virtual second measured: how long departed nodes stay held " +
      "and live ones missing (slower; the run itself is the same)",
  )
  .option("--out <dir>", "results directory", "bench/results")
  .option("--render", "only re-render the churn section of sim-latest.md from sim-churn.json")
  .parse();

const o = program.opts<{
  nodes: string;
  medianMinutes: string;
  lifetime: string;
  shape: string;
  warmupMinutes: string;
  minutes: string;
  traffic: string;
  crashFraction: string;
  loss: string;
  windowMinutes: string;
  seed: string;
  eagerTicks?: boolean;
  ticks: string;
  heartbeatMs?: string;
  failureTimeoutMs?: string;
  leafSetSize?: string;
  tableMaintenanceMs?: string;
  trace?: string;
  wallMinutes?: string;
  scanLeafSets?: boolean;
  out: string;
  render?: boolean;
}>();
if (o.render === true) {
  addChurnResult(join(o.out, "sim-churn.json"), join(o.out, "sim-latest.md"), undefined);
  process.exit(0);
}

const MINUTE = 60_000;
/** After the measured time, every message in flight is let finish (hop retries and probe verdicts take seconds). */
const DRAIN_MS = 30_000;
const nodes = Number.parseInt(o.nodes, 10);
const seed = Number.parseInt(o.seed, 10);
const medianMs = Number.parseFloat(o.medianMinutes) * MINUTE;
const warmupMs = Number.parseFloat(o.warmupMinutes) * MINUTE;
const measuredMs = Number.parseFloat(o.minutes) * MINUTE;
const traffic = Number.parseFloat(o.traffic);
const loss = Number.parseFloat(o.loss);
if (!(loss >= 0 && loss < 1)) throw new Error(`bad --loss ${o.loss}: a probability below 1`);
const wallBudgetMs = o.wallMinutes === undefined ? Infinity : Number.parseFloat(o.wallMinutes) * MINUTE;
if (!(wallBudgetMs > 0)) throw new Error(`bad --wall-minutes ${o.wallMinutes}`);
if (!Number.isInteger(nodes) || nodes < 2) throw new Error(`bad --nodes ${o.nodes}`);
if (o.lifetime !== "exponential" && o.lifetime !== "pareto") throw new Error(`bad --lifetime ${o.lifetime}`);
// Made now: a directory found missing only when the row is written, hours later, would lose the run.
mkdirSync(o.out, { recursive: true });
const lifetime: LifetimeDistribution =
  o.lifetime === "exponential"
    ? { kind: "exponential", medianMs }
    : { kind: "pareto", medianMs, shape: Number.parseFloat(o.shape) };

function coreVersion(): { commit: string; dirty: boolean } {
  try {
    const git = (...args: string[]): string => execFileSync("git", args, { encoding: "utf8" }).trim();
    return {
      commit: git("log", "-1", "--format=%h", "--", "src/routing"),
      dirty: git("status", "--porcelain", "--", "src/routing") !== "",
    };
  } catch {
    return { commit: "unknown", dirty: false };
  }
}
/** Read now, when the core's modules have been loaded: edits to the tree during an hour's run are not in it. */
const core = coreVersion();

const started = performance.now();
const log = (line: string): void =>
  console.log(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${line}`);
const overrides = churnRouting(o);
const sim = new Simulator({
  seed,
  createMachine: createPastryMachine,
  routing: overrides.routing,
  seedSelection: { kind: "nearestOfSample", sample: 16 },
  lazyTicks: o.eagerTicks !== true,
  ticks: tickMode(o.ticks),
  network: { lossProbability: loss },
});
const random = new Prng(seed ^ 0x5eed);

let churnStop: () => void;
let label: string;
const observer = new ChurnObserver(
  sim,
  { windowMs: Number.parseFloat(o.windowMinutes) * MINUTE },
  random.fork(),
);
const listener = {
  onArrival: () => observer.observeArrival(),
  onDeparture: (...args: Parameters<ChurnObserver["observeDeparture"]>) => observer.observeDeparture(...args),
};
if (o.trace !== undefined) {
  const events = parseTrace(readFileSync(o.trace, "utf8"));
  label = `trace ${o.trace}`;
  log(`replaying ${events.length} trace events from ${o.trace}`);
  replayTrace(sim, events, random.fork(), { listener });
  churnStop = () => {};
} else {
  label = medianMs > 0 ? `${o.lifetime} sessions, median ${o.medianMinutes} min` : "at rest (no churn)";
  label += overrides.label;
  log(`building ${nodes} nodes`);
  sim.grow(nodes, {
    growth: 1,
    spreadMs: 1000,
    waveTimeoutMs: 5_000,
    stragglers: 0.01,
    finalTimeoutMs: 60_000,
    onWave: (created, ready) => log(`  build: ${created} created, ${ready} ready, ${sim.events} events`),
  });
  sim.runFor(3_000);
  if (medianMs > 0) {
    const churn = new Churn(
      sim,
      { lifetime, crashFraction: Number.parseFloat(o.crashFraction) },
      random.fork(),
      listener,
    );
    churn.start();
    churnStop = () => churn.stop();
  } else {
    churnStop = () => {};
  }
}
if (o.ticks === "deadline") label += ", deadline ticks";
if (loss > 0) label += `, ${+(loss * 100).toFixed(2)} % of messages lost`;
const buildWallMs = performance.now() - started;
const stop = new StopRequest({
  onRequest: (signal) =>
    log(`${signal}: stopping at the end of this virtual minute (again to abort without writing anything)`),
  onAbort: (signal) => {
    log(`${signal} again: aborted, nothing written`);
    process.exit(130);
  },
});
log(
  `built: ${sim.truth.size} ready at t=${(sim.now / 1000).toFixed(0)} s; warming up ${o.warmupMinutes} min`,
);
const warmStarted = sim.now;
while (sim.now < warmStarted + warmupMs) {
  if (await stop.checkpoint()) {
    log(`  stopped during the warm-up: nothing measured, no row written`);
    process.exit(1);
  }
  sim.runFor(MINUTE);
  log(`  warm-up t=${((sim.now - warmStarted) / MINUTE).toFixed(0)} min, ${sim.truth.size} ready`);
}
observer.start();
observer.startTraffic(traffic, 0.2);
const scan = o.scanLeafSets === true ? new LeafSetScan(sim) : undefined;
const measureStarted = sim.now;
while (sim.now < measureStarted + measuredMs) {
  if (performance.now() - started > wallBudgetMs) {
    log(`  wall-time budget of ${o.wallMinutes} min spent: measuring stops here`);
    break;
  }
  if (await stop.checkpoint()) {
    log(`  ${stop.requested}: measuring stops here`);
    break;
  }
  if (scan === undefined) sim.runFor(MINUTE);
  else {
    for (let second = 0; second < MINUTE / 1000; second++) {
      sim.runFor(1000);
      scan.sample();
    }
  }
  const mem = sim.peakMemory();
  log(
    `  measured t=${((sim.now - measureStarted) / MINUTE).toFixed(0)} min, ${sim.truth.size} ready, ` +
      `${sim.events} events, rss ${(mem.rssBytes / 2 ** 20).toFixed(0)} MiB`,
  );
}
observer.stop();
churnStop();
sim.runFor(DRAIN_MS);
const totals = observer.finish();
const mem = sim.peakMemory();
const run: ChurnRun = {
  nodes,
  label,
  lifetime: o.trace === undefined && medianMs > 0 ? lifetime : undefined,
  trace: o.trace,
  crashFraction: Number.parseFloat(o.crashFraction),
  seed,
  warmupMinutes: Number.parseFloat(o.warmupMinutes),
  measuredMinutes: (sim.now - measureStarted - DRAIN_MS) / MINUTE,
  trafficPerSecond: traffic,
  core,
  totals,
  buildWallMs,
  totalWallMs: performance.now() - started,
  peakRssMiB: mem.rssBytes / 2 ** 20,
  peakHeapUsedMiB: mem.heapUsedBytes / 2 ** 20,
  events: sim.events,
  date: new Date().toISOString().slice(0, 10),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
  ...(scan === undefined ? {} : { leafSetScan: scan.summary() }),
};
log(
  `done: sent ${totals.sent}, delivered ${totals.delivered}, wrong ${totals.deliveredWrong}, lost ${totals.lost}, ` +
    `control ${totals.controlTotalPerNodePerSecond.toFixed(3)} msg/node/s, stretch ${totals.stretch.mean.toFixed(2)}`,
);
if (run.leafSetScan !== undefined) {
  const { ghosts, holes } = run.leafSetScan;
  const longest = (d: PairDurations, verb = "held"): string =>
    `${d.pairs} pairs, ${d.over15s} over 15 s, longest ${(d.maxMs / 1000).toFixed(1)} s` +
    (d.worst === undefined
      ? ""
      : ` (${d.worst.holder} ${verb} ${d.worst.node} from ${(d.worst.fromMs / 1000).toFixed(1)} s)`);
  log(`leaf sets: silent host ${longest(ghosts.host)}; dead process ${longest(ghosts.process)}`);
  log(`leaf sets: left ${longest(ghosts.left)}; holes ${longest(holes, "lacked")}`);
}
addChurnResult(join(o.out, "sim-churn.json"), join(o.out, "sim-latest.md"), run);
stop.dispose();
log(`written ${join(o.out, "sim-churn.json")} and the churn section of ${join(o.out, "sim-latest.md")}`);

function tickMode(text: string): TickMode {
  if (text === "period" || text === "deadline") return text;
  throw new RangeError(`bad --ticks ${text}: period or deadline`);
}
