// `make bench-kv`: the key-value store's Put and Get on 8 real daemons (127.0.0.1, k = 3, W = R = 2) against
// the plain unary gRPC echo of the same run (bench/baseline), one request in flight (latency) and 32 (rate).
// Also a single-node Redis (Debian's redis-server, started here on loopback) when installed. Writes
// bench/results/kv-latest.md. Targets (issue #16), with one routed hop taken as one echo round trip:
// Get p50 within 2 echo round trips plus one hop (3x echo p50); Put p50 with W = 2 within 3x that (9x).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BenchCluster } from "./lib/cluster.js";
import { runLoad } from "./lib/load.js";
import { summarizeLatencies, type LatencySummary } from "./lib/stats.js";
import { EchoClient, EchoServerProcess } from "./baseline/baseline.js";
import { existsSync } from "node:fs";
import { REDIS_SERVER, RedisProcess, RespClient } from "./lib/redis.js";

const NODES = 8;
const KEYS = 1000;
const VALUE = Buffer.alloc(100, 7);
const WARMUP_MS = 2000;
const MEASURE_MS = Number(process.env.KV_BENCH_MEASURE_MS ?? 8000);
const IN_FLIGHT = [1, 32] as const;

interface Row {
  readonly what: string;
  readonly inFlight: number;
  readonly perSecond: number;
  readonly latency: LatencySummary;
  readonly failed: number;
}

async function measure(what: string, inFlight: number, op: () => Promise<unknown>): Promise<Row> {
  const load = await runLoad(
    async () => {
      const started = performance.now();
      await op();
      return performance.now() - started;
    },
    { inFlight, warmupMs: WARMUP_MS, measureMs: MEASURE_MS },
  );
  return {
    what,
    inFlight,
    perSecond: load.perSecond,
    latency: summarizeLatencies(load.latenciesMs),
    failed: load.failed,
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const echoServer = await EchoServerProcess.start();
  const echo = new EchoClient(echoServer.port);
  for (const n of IN_FLIGHT) rows.push(await measure("echo (plain unary gRPC)", n, () => echo.echo(VALUE)));
  echo.close();
  await echoServer.stop();

  // What a user would compare with: one Redis on loopback (no replication), when the machine has one.
  const redisAvailable = existsSync(REDIS_SERVER);
  if (redisAvailable) {
    const redis = await RedisProcess.start();
    const resp = await RespClient.connect(redis.port);
    const rkey = (): string => `bench-kv-${Math.floor(Math.random() * KEYS)}`;
    for (let i = 0; i < KEYS; i++) await resp.set(`bench-kv-${i}`, VALUE);
    for (const n of IN_FLIGHT)
      rows.push(await measure("Redis GET (one node, one connection)", n, () => resp.get(rkey())));
    for (const n of IN_FLIGHT)
      rows.push(await measure("Redis SET (one node, one connection)", n, () => resp.set(rkey(), VALUE)));
    resp.close();
    await redis.stop();
  }

  const cluster = new BenchCluster("kv");
  await cluster.grow(NODES, 3);
  const nodes = cluster.nodes;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;
  const key = (): string => `bench-kv-${Math.floor(Math.random() * KEYS)}`;
  for (let i = 0; i < KEYS; i += 50)
    await Promise.all(
      Array.from({ length: 50 }, (_, j) => nodes[(i + j) % NODES]!.client.kv.put(`bench-kv-${i + j}`, VALUE)),
    );
  for (const n of IN_FLIGHT)
    rows.push(await measure("Get (R = 2)", n, () => pick(nodes).client.kv.get(key())));
  for (const n of IN_FLIGHT)
    rows.push(await measure("Put (W = 2)", n, () => pick(nodes).client.kv.put(key(), VALUE)));
  await cluster.stop();

  const p50 = (what: string): number =>
    rows.find((r) => r.what.startsWith(what) && r.inFlight === 1)!.latency.p50Ms;
  const echoP50 = p50("echo");
  const getTarget = 3 * echoP50;
  const putTarget = 3 * getTarget;
  const fmt = (x: number): string => x.toFixed(2);
  const md = [
    "# Key-value store benchmark",
    "",
    `Run ${new Date().toISOString()} on ${process.version}: ${NODES} daemons on 127.0.0.1 (k = 3, W = R = 2, default settings), ${KEYS} keys of ${VALUE.length} bytes, requests to random nodes' client ports (so most are handed on to the key's owner); against a plain unary gRPC echo of the same payload in the same run. ${MEASURE_MS / 1000} s measured after ${WARMUP_MS / 1000} s of warm-up each. A shared 2-core machine: compare ratios, not absolute figures.`,
    "",
    "| operation | in flight | per second | p50 ms | p99 ms | failed |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.what} | ${r.inFlight} | ${Math.round(r.perSecond)} | ${fmt(r.latency.p50Ms)} | ${fmt(r.latency.p99Ms)} | ${r.failed} |`,
    ),
    "",
    "| target (issue #16; one hop taken as one echo round trip) | goal | measured | met |",
    "| --- | --- | --- | --- |",
    `| Get p50 within 2 echo round trips plus one hop | ${fmt(getTarget)} ms | ${fmt(p50("Get"))} ms (${fmt(p50("Get") / echoP50)}x echo) | ${p50("Get") <= getTarget ? "yes" : "no"} |`,
    `| Put p50 (W = 2) within 3x that | ${fmt(putTarget)} ms | ${fmt(p50("Put"))} ms (${fmt(p50("Put") / echoP50)}x echo) | ${p50("Put") <= putTarget ? "yes" : "no"} |`,
    "",
    redisAvailable
      ? `Redis: ${fmt(p50("Redis GET"))} ms GET p50 and ${fmt(p50("Redis SET"))} ms SET p50 at one in flight, one node, no replication, persistence off: the figure a user would compare with, not a like-for-like one (Wendy's Get asks 3 replicas on other processes, after a hand-on to the key's owner).`
      : "Redis: not measured (no redis-server on this machine; Debian's package provides it).",
  ].join("\n");
  const out = join(import.meta.dirname, "results", "kv-latest.md");
  writeFileSync(out, md + "\n");
  process.stdout.write(md + `\n\nwrote ${out}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `bench-kv failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
