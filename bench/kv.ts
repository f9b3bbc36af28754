// `make bench-kv`: the key-value store's Put and Get on 8 real daemons (127.0.0.1, k = 3, W = R = 2) against
// the plain unary gRPC echo of the same run (bench/baseline), one request in flight (latency) and 64 (rate),
// and a single-node Redis (Debian's redis-server, started here on loopback) when installed; the same
// scenario as the key-value rows of `make bench` (bench/scenarios/kv.ts), alone and quicker. Then Put again
// on 8 fresh daemons that each keep a data directory (WENDY_KV_DATA_DIR: a replica answers only once the
// record is on disk), beside the in-memory rows. Writes
// bench/results/kv-latest.md. Targets (issue #16), with one routed hop taken as one echo round trip:
// Get p50 within 2 echo round trips plus one hop (3x echo p50); Put p50 with W = 2 within 3x that (9x).
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { BenchCluster, SOURCE_RUNTIME, type DaemonRuntime } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { runLoad } from "./lib/load.js";
import { WARMUP_IN_FLIGHT, warmUp } from "./lib/warmup.js";
import { summarizeLatencies, type LatencySummary } from "./lib/stats.js";
import { EchoClient, EchoServerProcess } from "./baseline/baseline.js";
import { KV_KEYS, KvTraffic, measureRedis, type KvRun } from "./scenarios/kv.js";
import { VERSION_FLOOR_RESERVE } from "../src/server/kv/store.js";
import { runMain } from "./lib/run-main.js";

const NODES = 8;
const VALUE_BYTES = 100;
const GET = "Get (R = 2)";
const PUT = "Put (W = 2)";
const PUT_ON_DISK = "Put (W = 2) with WENDY_KV_DATA_DIR";

interface Row {
  readonly what: string;
  readonly inFlight: number;
  readonly perSecond: number;
  readonly latency: LatencySummary;
  readonly cpuSecondsPerOp: number;
  readonly failed: number;
}

interface KvBenchOptions {
  measureMs: number;
  warmupMs: number;
  codeWarmupMs: number;
  inFlight: number[];
  source?: boolean;
  rev: string;
  out: string;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-kv")
    .option("--measure-ms <n>", "measured window per row", Number, 8000)
    .option("--warmup-ms <n>", "warm-up before each window", Number, 2000)
    .option(
      "--code-warmup-ms <n>",
      "Get and Put each run unmeasured at least this long on a cluster first, until their CPU per op stops falling (4x at most; bench/lib/warmup.ts)",
      Number,
      15_000,
    )
    .option("--in-flight <list>", "requests in flight, comma-separated", list, [1, 64])
    .option(
      "--source",
      "run the working tree through bin/wendy.js (its build if current, else tsx) instead of a compiled commit",
    )
    .option("--rev <commit>", "the commit whose daemons are measured (compiled)", "HEAD")
    .option("--out <file>", "the report written", join(import.meta.dirname, "results", "kv-latest.md"))
    .parse([...argv])
    .opts<KvBenchOptions>();
  const window = { warmupMs: o.warmupMs, measureMs: o.measureMs };
  const limits = { minMs: o.codeWarmupMs, maxMs: 4 * o.codeWarmupMs };
  const loadAtStart = loadavg();
  let runtime: DaemonRuntime = SOURCE_RUNTIME;
  let build = "the working tree through bin/wendy.js";
  if (o.source !== true) {
    const compiled = buildCompiledDaemon(o.rev);
    runtime = { name: "compiled", entry: compiled.entry };
    build = `commit ${compiled.commit} compiled to JavaScript${compiled.bundled ? " and bundled" : ""}`;
  }
  const rows: Row[] = [];
  const row = (what: string, inFlight: number, run: KvRun): void => {
    rows.push({ what, inFlight, ...run });
    process.stdout.write(
      `${what} x${inFlight}: ${run.perSecond.toFixed(0)}/s, p50 ${run.latency.p50Ms.toFixed(2)} ms\n`,
    );
  };

  const echoServer = await EchoServerProcess.start();
  const echo = new EchoClient(echoServer.port);
  const value = Buffer.alloc(VALUE_BYTES, 7);
  try {
    for (const n of o.inFlight) {
      const load = await runLoad(
        async () => {
          const started = performance.now();
          await echo.echo(value);
          return performance.now() - started;
        },
        { inFlight: n, ...window },
      );
      row("echo (plain unary gRPC)", n, {
        perSecond: load.perSecond,
        latency: summarizeLatencies(load.latenciesMs),
        cpuSecondsPerOp: Number.NaN,
        failed: load.failed,
        latenciesMs: [],
      });
    }
  } finally {
    echo.close();
    await echoServer.stop();
  }

  const redis = await measureRedis(o.inFlight, VALUE_BYTES, window);
  if (redis !== undefined) {
    for (const [n, run] of redis.get) row("Redis GET (one node, one connection)", n, run);
    for (const [n, run] of redis.set) row("Redis SET (one node, one connection)", n, run);
  }

  const cluster = new BenchCluster("kv", runtime);
  try {
    await cluster.grow(NODES, 3);
    const traffic = new KvTraffic(cluster, VALUE_BYTES);
    await traffic.preload();
    await warmUp(limits, (w) => traffic.measureGet(WARMUP_IN_FLIGHT, w));
    await warmUp(limits, (w) => traffic.measurePut(WARMUP_IN_FLIGHT, w));
    for (const n of o.inFlight) row(GET, n, await traffic.measureGet(n, window));
    for (const n of o.inFlight) row(PUT, n, await traffic.measurePut(n, window));
  } finally {
    await cluster.stop();
  }

  // The same on daemons with a data directory each (one cluster at a time: the machine has 2 cores).
  const persistent = new BenchCluster("kvdisk", runtime, {}, { kvDataDirs: true });
  try {
    await persistent.grow(NODES, 3);
    const traffic = new KvTraffic(persistent, VALUE_BYTES);
    await traffic.preload();
    await warmUp(limits, (w) => traffic.measurePut(WARMUP_IN_FLIGHT, w));
    for (const n of o.inFlight) row(PUT_ON_DISK, n, await traffic.measurePut(n, window));
  } finally {
    await persistent.stop();
  }

  // A row by its exact name, else by a prefix ("echo", "Redis GET").
  const at = (what: string, inFlight: number): Row =>
    rows.find((r) => r.what === what && r.inFlight === inFlight) ??
    rows.find((r) => r.what.startsWith(what) && r.inFlight === inFlight)!;
  const p50 = (what: string): number => at(what, Math.min(...o.inFlight)).latency.p50Ms;
  const echoP50 = p50("echo");
  const getTarget = 3 * echoP50;
  const putTarget = 3 * getTarget;
  const fmt = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
  const cpu = (x: number): string => (Number.isFinite(x) ? Math.round(x * 1e6).toLocaleString("en-US") : "");
  const md = [
    "# Key-value store benchmark",
    "",
    `Run ${new Date().toISOString()} on ${process.version}, daemons: ${build}. ${NODES} daemons on 127.0.0.1 (k = 3, W = R = 2, default settings), ${KV_KEYS} keys of ${VALUE_BYTES} bytes, requests to random nodes' client ports; against a plain unary gRPC echo of the same payload in the same run. ${o.measureMs / 1000} s measured after ${o.warmupMs / 1000} s of warm-up each${o.codeWarmupMs > 0 ? `, on daemons that first ran each operation unmeasured at ${WARMUP_IN_FLIGHT} in flight for ${o.codeWarmupMs / 1000} s or more, until its CPU per op stopped falling (V8 optimizes their hot paths only after many operations: bench/lib/warmup.ts)` : ""}. Load average ${loadAtStart.map((x) => x.toFixed(1)).join(" / ")} at start, ${loadavg()
      .map((x) => x.toFixed(1))
      .join(
        " / ",
      )} at end: a 2-core machine shared with other developers' work, so compare ratios within the run, not absolute figures. Daemon CPU is all daemons together per operation (from /proc).`,
    "",
    "| operation | in flight | per second | p50 ms | p99 ms | daemon CPU µs/op | failed |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.what} | ${r.inFlight} | ${Math.round(r.perSecond)} | ${fmt(r.latency.p50Ms)} | ${fmt(r.latency.p99Ms)} | ${cpu(r.cpuSecondsPerOp)} | ${r.failed} |`,
    ),
    "",
    "| target (issue #16; one hop taken as one echo round trip) | goal | measured | met |",
    "| --- | --- | --- | --- |",
    `| Get p50 within 2 echo round trips plus one hop | ${fmt(getTarget)} ms | ${fmt(p50(GET))} ms (${fmt(p50(GET) / echoP50)}x echo) | ${p50(GET) <= getTarget ? "yes" : "no"} |`,
    `| Put p50 (W = 2) within 3x that | ${fmt(putTarget)} ms | ${fmt(p50(PUT))} ms (${fmt(p50(PUT) / echoP50)}x echo) | ${p50(PUT) <= putTarget ? "yes" : "no"} |`,
    "",
    `With a data directory (a second cluster of ${NODES} fresh daemons, the same settings plus WENDY_KV_DATA_DIR, measured after the in-memory one): Put p50 ${o.inFlight
      .map(
        (n) =>
          `${fmt(at(PUT_ON_DISK, n).latency.p50Ms)} ms at ${n} in flight (${fmt(at(PUT_ON_DISK, n).latency.p50Ms / at(PUT, n).latency.p50Ms)}x in memory), ${Math.round(at(PUT_ON_DISK, n).perSecond)}/s (${fmt(at(PUT_ON_DISK, n).perSecond / at(PUT, n).perSecond)}x)`,
      )
      .join(
        "; ",
      )}. Each replica answers a Replicate only once the record is written (LevelDB, group commit, no fsync per write), and a coordinator writes a version floor ahead once per ${VERSION_FLOOR_RESERVE} counters.`,
    "",
    redis !== undefined
      ? `Redis: ${fmt(p50("Redis GET"))} ms GET p50 and ${fmt(p50("Redis SET"))} ms SET p50 at ${Math.min(...o.inFlight)} in flight, one node, no replication, persistence off: the figure a user would compare with, not a like-for-like one (a Wendy Get reads a quorum of R = 2 of its k = 3 replicas, in other processes, over a gRPC hop from the client).`
      : "Redis: not measured (no redis-server on this machine; Debian's package provides it).",
  ].join("\n");
  writeFileSync(o.out, md + "\n");
  process.stdout.write(md + `\n\nwrote ${o.out}\n`);
}

function list(value: string): number[] {
  return value.split(",").map((s) => Number(s.trim()));
}

runMain("bench-kv", main);
