// CPU profile of the daemons under routed load: `node --import tsx bench/profile.ts [--nodes 8]`.
// Every daemon runs under the V8 profiler (lib/cpu-profiler-preload.mjs), started and stopped by
// SIGUSR2 around a fixed window of Send traffic; self time is then totalled per function and per area into
// bench/results/profile-latest.md, to show what the routed path spends its CPU on.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { BenchCluster, SOURCE_RUNTIME, type DaemonRuntime } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { summarizeProfiles, type SelfTime } from "./lib/cpu-profile.js";
import { sleep } from "./lib/load.js";
import { totalCpuSeconds } from "./lib/proc.js";
import { Traffic } from "./scenarios/traffic.js";

const TOP = 30;
const FILE_TIMEOUT_MS = 10_000;

interface ProfileOptions {
  source?: boolean;
  nodes: number;
  seconds: number;
  inFlight: number;
  payload: number;
  out: string;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-profile")
    .option("--nodes <n>", "cluster size", Number, 8)
    .option("--seconds <n>", "seconds of measured load", Number, 5)
    .option("--in-flight <n>", "messages in flight", Number, 64)
    .option("--payload <bytes>", "payload size", Number, 100)
    .option("--out <dir>", "results directory", join(import.meta.dirname, "results"))
    .option("--source", "profile the TypeScript sources through tsx instead of the compiled HEAD")
    .parse([...argv])
    .opts<ProfileOptions>();
  const dir = mkdtempSync(join(tmpdir(), "wendy-profile-"));
  const preload = join(import.meta.dirname, "lib", "cpu-profiler-preload.mjs");
  let runtime: DaemonRuntime = SOURCE_RUNTIME;
  let build = "the working tree through tsx";
  if (o.source !== true) {
    const compiled = buildCompiledDaemon();
    runtime = { name: "compiled", entry: compiled.entry };
    build = `commit ${compiled.commit} compiled to JavaScript`;
  }
  const cluster = new BenchCluster(`p${o.nodes}`, runtime, {
    NODE_OPTIONS: `--import ${preload}`,
    BENCH_CPU_PROFILE_DIR: dir,
  });
  const traffic = new Traffic(cluster);
  let run;
  let cpu: number;
  try {
    await cluster.grow(o.nodes, 4);
    await traffic.open();
    const pids = cluster.nodes.map((n) => n.pid);
    const profiling = (): void => pids.forEach((pid) => process.kill(pid, "SIGUSR2"));
    profiling();
    const before = totalCpuSeconds(pids);
    run = await traffic.measureSend(o.payload, o.inFlight, {
      warmupMs: 1000,
      measureMs: o.seconds * 1000,
      repeats: 1,
      clusterSizes: [o.nodes],
      inFlights: [o.inFlight],
      payloadBytes: [o.payload],
      joinSizes: [],
      failureSizes: [],
      embeddedSizes: [],
      idleMs: 0,
      startBatch: 4,
      runtime: runtime.name,
    });
    cpu = totalCpuSeconds(pids) - before;
    profiling();
    await waitForFiles(dir, pids.length, FILE_TIMEOUT_MS);
  } finally {
    traffic.close();
    await cluster.stop();
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(dir, f));
  const summary = summarizeProfiles(files, TOP);
  const lines = [
    `# Daemon CPU profile under routed load (${new Date().toISOString().slice(0, 16)}Z)`,
    "",
    `${o.nodes} daemons (${build}, V8 sampling profiler), Send of ${o.payload} B with ${o.inFlight} in flight through the ` +
      `client API for ${o.seconds} s after 1 s of warm-up: ${Math.round(run.perSecond)} msgs/s, p50 ` +
      `${run.latency.p50Ms.toFixed(2)} ms, daemon CPU ${Math.round(run.cpuSecondsPerOp * 1e6)} µs/msg ` +
      `(${cpu.toFixed(1)} s in the window), harness ${Math.round(run.clientCpuSecondsPerOp * 1e6)} µs/msg. ` +
      `Profiles cover the warm-up and the window (not start-up or join): ${summary.files} files, ` +
      `${(summary.busyMs / 1000).toFixed(1)} s of non-idle samples. Produced by ` +
      "`node --import tsx bench/profile.ts`.",
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
  const path = join(o.out, "profile-latest.md");
  writeFileSync(path, lines.join("\n"));
  process.stdout.write(`wrote ${path} (profiles in ${dir})\n`);
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

// Exit through process.exit so that the cluster's exit hook stops every daemon this run started.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
main(process.argv).then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `profile failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
