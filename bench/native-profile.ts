// Where a routed message's daemon CPU goes below JavaScript: `node --import tsx bench/native-profile.ts
// [--nodes 8] [--in-flight 64] [--kind send]`. Runs a cluster of this commit's compiled daemons (with node's
// --perf-basic-prof-only-functions, so perf can name JIT frames), warms the traffic up as bench/profile.ts
// does, then samples every thread of every daemon with Linux perf over one window and writes the time per
// category (lib/native-profile.ts) and the top symbols to results/profile-native-latest.md (or
// profile-native-<kind>-<in flight>-latest.md). Needs `perf` (Debian's linux-perf) and permission to attach
// to the daemons (root, or kernel.perf_event_paranoid <= 1).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { BenchCluster } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { sleep } from "./lib/load.js";
import {
  parsePerfReport,
  summarizeByCategory,
  categoryOf,
  wendyJavaScriptPercent,
} from "./lib/native-profile.js";
import { WARMUP_IN_FLIGHT, warmUp } from "./lib/warmup.js";
import { measureOf, oneWindowSettings, routedKind, Traffic, type RoutedKind } from "./scenarios/traffic.js";
import { runMain } from "./lib/run-main.js";

interface Options {
  nodes: number;
  inFlight: number;
  seconds: number;
  payload: number;
  kind: RoutedKind;
  codeWarmupMs: number;
  frequency: number;
  out: string;
}

const TOP = 40;
/** perf's own start-up before samples count: the window starts after it. */
const PERF_START_MS = 500;

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-native-profile")
    .option("--nodes <n>", "cluster size", Number, 8)
    .option("--in-flight <n>", "messages in flight", Number, 64)
    .option("--seconds <n>", "seconds sampled", Number, 8)
    .option("--payload <bytes>", "payload size", Number, 100)
    .option("--kind <kind>", "send, send-acked or call", routedKind, "send")
    .option(
      "--code-warmup-ms <n>",
      "the load runs unsampled at least this long first, until its CPU per op stops falling (4x at most)",
      Number,
      30_000,
    )
    .option("--frequency <hz>", "perf's sampling frequency", Number, 999)
    .option("--out <dir>", "results directory", join(import.meta.dirname, "results"))
    .parse([...argv])
    .opts<Options>();
  requirePerf();
  const compiled = buildCompiledDaemon("HEAD", { bundle: false });
  const dir = mkdtempSync(join(tmpdir(), "wendy-native-profile-"));
  const data = join(dir, "perf.data");
  const cluster = new BenchCluster(
    `np${o.nodes}`,
    { name: "compiled", entry: compiled.entry },
    {
      NODE_OPTIONS: "--perf-basic-prof-only-functions",
    },
  );
  const traffic = new Traffic(cluster);
  let pids: readonly number[];
  let window: { perSecond: number; p50Ms: number; cpuUsPerOp: number; userShare: number };
  try {
    await cluster.grow(o.nodes, 4);
    await traffic.open();
    pids = cluster.nodes.map((n) => n.pid);
    const measure = measureOf(traffic, o.kind);
    const settings = oneWindowSettings(o.nodes, o.inFlight, o.payload, {
      warmupMs: 0,
      measureMs: o.seconds * 1000,
    });
    await warmUp({ minMs: o.codeWarmupMs, maxMs: 4 * o.codeWarmupMs }, (w) =>
      measure(o.payload, WARMUP_IN_FLIGHT, { ...settings, ...w }),
    );
    const perf = spawn("perf", ["record", "-F", String(o.frequency), "-o", data, "-p", pids.join(",")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const perfExited = new Promise<string>((resolve) =>
      perf.on("exit", (code, signal) => resolve(signal ?? String(code))),
    );
    await sleep(PERF_START_MS);
    const ticksBefore = pids.map(userSystemTicks);
    const run = await measure(o.payload, o.inFlight, settings);
    const ticksAfter = pids.map(userSystemTicks);
    perf.kill("SIGINT");
    // perf writes its data and exits on SIGINT; as a signal's exit when the signal reached it mid-write.
    const ended = await perfExited;
    if (ended !== "0" && ended !== "SIGINT") throw new Error(`perf record ended with ${ended}`);
    let user = 0;
    let system = 0;
    ticksAfter.forEach(([u, s], i) => {
      user += u - ticksBefore[i]![0];
      system += s - ticksBefore[i]![1];
    });
    window = {
      perSecond: run.perSecond,
      p50Ms: run.latency.p50Ms,
      cpuUsPerOp: run.cpuSecondsPerOp * 1e6,
      userShare: user + system > 0 ? user / (user + system) : Number.NaN,
    };
  } finally {
    traffic.close();
    await cluster.stop();
  }
  const report = execFileSync(
    "perf",
    ["report", "-i", data, "--no-children", "--sort", "dso,sym", "-g", "none", "--stdio"],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] },
  );
  // node writes one map per process for perf; they are only needed until the report is read.
  for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
  rmSync(dir, { recursive: true, force: true });
  const symbols = parsePerfReport(report);
  const shares = summarizeByCategory(symbols);
  const name =
    o.kind === "send" && o.inFlight === 64
      ? "profile-native-latest.md"
      : `profile-native-${o.kind}-${o.inFlight}-latest.md`;
  const lines = [
    `# Daemon CPU by where it runs, from Linux perf (${new Date().toISOString().slice(0, 16)}Z)`,
    "",
    `${o.nodes} daemons (commit ${compiled.commit} compiled to JavaScript, node --perf-basic-prof-only-functions), ` +
      `${o.kind} of ${o.payload} B with ${o.inFlight} in flight through the client API, sampled by \`perf record -F ${o.frequency}\` ` +
      `over every thread of every daemon for one window of ${o.seconds} s, after the same traffic ran unsampled until the daemons' ` +
      `CPU per op stopped falling (bench/lib/warmup.ts, ${o.codeWarmupMs / 1000} s or more): ` +
      `${Math.round(window.perSecond)} ops/s, p50 ${window.p50Ms.toFixed(2)} ms, daemon CPU ${Math.round(window.cpuUsPerOp)} µs/op, ` +
      `${(window.userShare * 100).toFixed(0)} % of it in user space (/proc). Load average ${loadavg()[0]!.toFixed(1)} at the end. ` +
      `Produced by \`node --import tsx bench/native-profile.ts --nodes ${o.nodes} --in-flight ${o.inFlight} --kind ${o.kind}\`.`,
    "",
    `Wendy's own JavaScript (src/, as compiled and optimized by V8): ${wendyJavaScriptPercent(shares).toFixed(1)} % of the samples. ` +
      "The rest is the runtime a message passes through: V8's builtins and runtime, other packages' and Node's JavaScript, " +
      "HTTP/2, libuv, malloc and the kernel. bench/profile.ts shows the JavaScript alone (V8's sampling profiler).",
    "",
    "## By category",
    "",
    "| where | share of samples |",
    "| --- | ---: |",
    ...shares.map((s) => `| ${s.category} | ${s.percent.toFixed(2)} % |`),
    "",
    `## Top ${TOP} symbols`,
    "",
    "| symbol | category | share of samples |",
    "| --- | --- | ---: |",
    ...symbols
      .slice(0, TOP)
      .map((s) => `| \`${shortSymbol(s.symbol)}\` | ${categoryOf(s)} | ${s.percent.toFixed(2)} % |`),
    "",
  ];
  const path = join(o.out, name);
  writeFileSync(path, lines.join("\n"));
  process.stdout.write(`wrote ${path}\n`);
}

/** User and system CPU ticks of a process so far (/proc/<pid>/stat fields 14 and 15). */
function userSystemTicks(pid: number): [number, number] {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [Number(fields[11]), Number(fields[12])];
  } catch {
    return [0, 0];
  }
}

/** A JIT symbol's file shown from its package or src/, not the temporary build directory. */
function shortSymbol(symbol: string): string {
  return symbol
    .replace(/file:\/\/\/\S*?\/dist\/src\//, "src/")
    .replace(/\S*\/node_modules\//, "")
    .replaceAll("|", "\\|");
}

function requirePerf(): void {
  try {
    execFileSync("perf", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("bench/native-profile.ts needs Linux perf (Debian: apt-get install linux-perf)");
  }
}

runMain("bench-native-profile", main);
