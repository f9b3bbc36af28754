// CPU profile of the daemons under routed load: `node --import tsx bench/profile.ts [--nodes 8]`.
// Every daemon runs under the V8 profiler (lib/cpu-profiler-preload.mjs), started and stopped by
// SIGUSR2 around a fixed window of Send traffic; self time is then totalled per function and per area into
// bench/results/profile-latest.md, to show what the routed path spends its CPU on. With `--kv get|put` the
// load is the key-value store's Get or Put instead (bench/scenarios/kv.ts, after the keys are written and
// the ring settled), and the daemons' CPU at rest is measured first, so the per-operation cost can be told
// from the background's; that report goes to bench/results/profile-kv-<op>-latest.md. With `--kind
// send-acked|call` the routed load is Send waiting for the application's ack, or Call answered by the
// owner's subscriber; that report goes to bench/results/profile-<kind>-latest.md.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { BenchCluster, SOURCE_RUNTIME, type DaemonRuntime } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { summarizeProfiles, type SelfTime } from "./lib/cpu-profile.js";
import { sleep } from "./lib/load.js";
import { totalCpuSeconds } from "./lib/proc.js";
import { measureOf, oneWindowSettings, routedKind, Traffic, type RoutedKind } from "./scenarios/traffic.js";
import { KvTraffic } from "./scenarios/kv.js";
import { WARMUP_IN_FLIGHT, warmUp } from "./lib/warmup.js";
import { runMain } from "./lib/run-main.js";

const TOP = 30;
const FILE_TIMEOUT_MS = 10_000;
/** How long the key-value cluster's CPU at rest is measured before its load window. */
const REST_MS = 5000;

interface ProfileOptions {
  source?: boolean;
  nodes: number;
  seconds: number;
  inFlight: number;
  payload: number;
  out: string;
  kv?: "get" | "put";
  kind: RoutedKind;
  codeWarmupMs: number;
  samplingUs: number;
}

/** What one profiled window measured. */
interface Window {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly cpuSecondsPerOp: number;
  readonly cpuSeconds: number;
  readonly what: string;
  /** The daemons' CPU at rest, all together, in seconds per second (kv only). */
  readonly restCpuPerSecond?: number;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-profile")
    .option("--nodes <n>", "cluster size", Number, 8)
    .option("--seconds <n>", "seconds of measured load", Number, 5)
    .option("--in-flight <n>", "messages in flight", Number, 64)
    .option("--payload <bytes>", "payload size", Number, 100)
    .option("--out <dir>", "results directory", join(import.meta.dirname, "results"))
    .option(
      "--source",
      "profile the working tree through bin/wendy.js (its build if current, else tsx) instead of the compiled HEAD",
    )
    .option("--kv <op>", "profile the key-value store's get or put instead of Send", kvOperation)
    .option("--kind <kind>", "routed load: send, send-acked or call", routedKind, "send")
    .option(
      "--code-warmup-ms <n>",
      "the load runs unprofiled at least this long first, until its CPU per op stops falling (4x at most; bench/lib/warmup.ts)",
      Number,
      15_000,
    )
    .option("--sampling-us <n>", "the profiler's sampling interval, µs", Number, 1000)
    .parse([...argv])
    .opts<ProfileOptions>();
  const dir = mkdtempSync(join(tmpdir(), "wendy-profile-"));
  const preload = join(import.meta.dirname, "lib", "cpu-profiler-preload.mjs");
  let runtime: DaemonRuntime = SOURCE_RUNTIME;
  let build = "the working tree through bin/wendy.js";
  if (o.source !== true) {
    const compiled = buildCompiledDaemon("HEAD", { bundle: false });
    runtime = { name: "compiled", entry: compiled.entry };
    build = `commit ${compiled.commit} compiled to JavaScript`;
  }
  const cluster = new BenchCluster(`p${o.nodes}`, runtime, {
    NODE_OPTIONS: `--import ${preload}`,
    BENCH_CPU_PROFILE_DIR: dir,
    BENCH_CPU_PROFILE_INTERVAL_US: String(o.samplingUs),
  });
  const pids = (): number[] => cluster.nodes.map((n) => n.pid);
  const profiling = (): void => pids().forEach((pid) => process.kill(pid, "SIGUSR2"));
  let window: Window;
  try {
    window =
      o.kv === undefined
        ? await profileRouted(cluster, runtime.name, o, profiling)
        : await profileKv(cluster, o.kv, o, profiling);
    await waitForFiles(dir, pids().length, FILE_TIMEOUT_MS);
  } finally {
    await cluster.stop();
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(dir, f));
  const summary = summarizeProfiles(files, TOP);
  const rest =
    window.restCpuPerSecond === undefined
      ? ""
      : ` At rest (${REST_MS / 1000} s with no traffic, after the keys were written and the ring settled) the daemons used ` +
        `${(window.restCpuPerSecond * 1000).toFixed(0)} ms of CPU per second together.`;
  const lines = [
    `# Daemon CPU profile under ${o.kv === undefined ? "routed" : `key-value ${o.kv}`} load (${new Date().toISOString().slice(0, 16)}Z)`,
    "",
    `${o.nodes} daemons (${build}, V8 sampling profiler every ${o.samplingUs} µs), ${window.what} with ${o.inFlight} in flight through the ` +
      `client API for ${o.seconds} s after 1 s of warm-up${o.codeWarmupMs > 0 ? `, on daemons that first ran the same load unprofiled at ${WARMUP_IN_FLIGHT} in flight for ${o.codeWarmupMs / 1000} s or more, until its CPU per op stopped falling (bench/lib/warmup.ts)` : ""}: ${Math.round(window.perSecond)} ops/s, p50 ` +
      `${window.p50Ms.toFixed(2)} ms, daemon CPU ${Math.round(window.cpuSecondsPerOp * 1e6)} µs/op ` +
      `(${window.cpuSeconds.toFixed(1)} s in the window).${rest} Load average ${loadavg()[0]!.toFixed(1)} at the end. ` +
      `Profiles cover the 1 s warm-up and the window (not start-up, join or the unprofiled warm-up): ${summary.files} files, ` +
      `${(summary.busyMs / 1000).toFixed(1)} s of non-idle samples. Produced by ` +
      `\`node --import tsx bench/profile.ts${o.kv === undefined ? (o.kind === "send" ? "" : ` --kind ${o.kind}`) : ` --kv ${o.kv}`}\`.`,
    "",
    "## Self time by area",
    "",
    ...table(summary.byArea),
    "",
    `## Top ${TOP} functions by self time`,
    "",
    ...table(summary.byFunction),
    "",
  ];
  const name =
    o.kv !== undefined
      ? `profile-kv-${o.kv}-latest.md`
      : o.kind === "send"
        ? "profile-latest.md"
        : `profile-${o.kind}-latest.md`;
  const path = join(o.out, name);
  writeFileSync(path, lines.join("\n"));
  process.stdout.write(`wrote ${path} (profiles in ${dir})\n`);
}

/** Send, acknowledged Send or Call through the client API, profiled. */
async function profileRouted(
  cluster: BenchCluster,
  runtime: DaemonRuntime["name"],
  o: ProfileOptions,
  profiling: () => void,
): Promise<Window> {
  const traffic = new Traffic(cluster);
  try {
    await cluster.grow(o.nodes, 4);
    await traffic.open();
    const pids = cluster.nodes.map((n) => n.pid);
    const measure = measureOf(traffic, o.kind);
    const settings = oneWindowSettings(
      o.nodes,
      o.inFlight,
      o.payload,
      { warmupMs: 1000, measureMs: o.seconds * 1000 },
      runtime,
    );
    await warmUp(warmupLimits(o), (w) => measure(o.payload, WARMUP_IN_FLIGHT, { ...settings, ...w }));
    profiling();
    const before = totalCpuSeconds(pids);
    const run = await measure(o.payload, o.inFlight, settings);
    const cpuSeconds = totalCpuSeconds(pids) - before;
    profiling();
    return {
      perSecond: run.perSecond,
      p50Ms: run.latency.p50Ms,
      cpuSecondsPerOp: run.cpuSecondsPerOp,
      cpuSeconds,
      what: `${{ send: "Send", "send-acked": "Send waiting for the application's ack", call: "Call" }[o.kind]} of ${o.payload} B (harness ${Math.round(run.clientCpuSecondsPerOp * 1e6)} µs/msg)`,
    };
  } finally {
    traffic.close();
  }
}

/** The key-value store's Get or Put through the client API, profiled after its CPU at rest is measured. */
async function profileKv(
  cluster: BenchCluster,
  op: "get" | "put",
  o: ProfileOptions,
  profiling: () => void,
): Promise<Window> {
  await cluster.grow(o.nodes, 3);
  const traffic = new KvTraffic(cluster, o.payload);
  await traffic.preload();
  const pids = cluster.nodes.map((n) => n.pid);
  const atRest = totalCpuSeconds(pids);
  await sleep(REST_MS);
  const restCpuPerSecond = (totalCpuSeconds(pids) - atRest) / (REST_MS / 1000);
  await warmUp(warmupLimits(o), (w) =>
    op === "get" ? traffic.measureGet(WARMUP_IN_FLIGHT, w) : traffic.measurePut(WARMUP_IN_FLIGHT, w),
  );
  profiling();
  const before = totalCpuSeconds(pids);
  const window = { warmupMs: 1000, measureMs: o.seconds * 1000 };
  const run =
    op === "get"
      ? await traffic.measureGet(o.inFlight, window)
      : await traffic.measurePut(o.inFlight, window);
  const cpuSeconds = totalCpuSeconds(pids) - before;
  profiling();
  return {
    perSecond: run.perSecond,
    p50Ms: run.latency.p50Ms,
    cpuSecondsPerOp: run.cpuSecondsPerOp,
    cpuSeconds,
    what: `${op === "get" ? "Get" : "Put"} of ${o.payload} B values (k = 3, W = R = 2)`,
    restCpuPerSecond,
  };
}

/** The unprofiled warm-up before the window: the window is of warm daemons, as a running node's. */
function warmupLimits(o: ProfileOptions): { minMs: number; maxMs: number } {
  return { minMs: o.codeWarmupMs, maxMs: 4 * o.codeWarmupMs };
}

function kvOperation(value: string): "get" | "put" {
  if (value !== "get" && value !== "put") throw new Error(`--kv takes get or put, not ${value}`);
  return value;
}

async function waitForFiles(dir: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).length < count) {
    if (performance.now() > deadline) throw new Error(`fewer than ${count} profiles in ${dir}`);
    await sleep(100);
  }
}

function table(rows: readonly SelfTime[]): string[] {
  return [
    "| where | self ms | share of busy time |",
    "| --- | ---: | ---: |",
    ...rows.map((r) => `| \`${r.name}\` | ${Math.round(r.ms)} | ${(r.share * 100).toFixed(1)} % |`),
  ];
}

runMain("profile", main);
