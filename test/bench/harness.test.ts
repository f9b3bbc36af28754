// CI-sized smoke run of the benchmark harness (2 daemons, about a second of load), so that it cannot rot:
// every figure present and positive, ratios against the same-run baseline computed, files written.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBenchmark } from "../../bench/harness.js";
import { writeResults } from "../../bench/run.js";
import type { BenchResult, RoutedFigure } from "../../bench/lib/result.js";
import type { BenchSettings } from "../../bench/lib/settings.js";
import { memoryCgroupTrial } from "../../bench/lib/memory-cgroup.js";

const MIB = 1024 * 1024;
/** Where the machine lets us (root, a writable cgroup hierarchy), the daemons run under the chart's limit. */
const LIMITED = memoryCgroupTrial() === undefined;

const SMOKE: BenchSettings = {
  warmupMs: 200,
  measureMs: 300,
  repeats: 1,
  clusterSizes: [2],
  inFlights: [1, 64],
  payloadBytes: [100],
  joinSizes: [2],
  failureSizes: [2],
  socketSizes: [2],
  embeddedSizes: [2],
  kv: { nodes: 2, keys: 40 },
  codeWarmupMs: 300,
  // More than a heartbeat interval (4000 ms): every node sends maintenance within the window.
  idleMs: 5000,
  idleSettleMs: 0,
  startBatch: 2,
  runtime: "source",
  ...(LIMITED ? { memoryLimitBytes: 256 * MIB } : {}),
};

const positive = (x: number): void => {
  expect(Number.isFinite(x)).toBe(true);
  expect(x).toBeGreaterThan(0);
};

/** Every figure of a routed row measured, and every message of it delivered at the owner, one hop away. */
function expectMeasuredAndDelivered(r: RoutedFigure): void {
  positive(r.perSecond);
  positive(r.p50Ms);
  positive(r.cpuSecondsPerOp);
  positive(r.pairedUnaryPerSecond);
  positive(r.throughputVsUnary);
  positive(r.p50VsUnary);
  expect(r.meanHops).toBe(1);
  expect(r.misdelivered).toBe(0);
  expect(r.failed).toBe(0);
}

describe("benchmark harness", () => {
  const out = mkdtempSync(join(tmpdir(), "wendy-bench-test-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("measures a 2-node cluster against the baseline after warming each kind of traffic up, and writes JSON, markdown and SVG", async () => {
    const result: BenchResult = await runBenchmark({
      settings: SMOKE,
      resultsDir: join(import.meta.dirname, "../../bench/results"),
      log: () => undefined,
    });

    expect(result.problems).toEqual([]);
    expect(result.baseline.unary.map((u) => u.inFlight)).toEqual([1, 64]);
    for (const u of result.baseline.unary) {
      positive(u.callsPerSecond);
      positive(u.p50Ms);
      expect(u.p999Ms).toBeGreaterThanOrEqual(u.p50Ms);
    }
    positive(result.baseline.stream[0]!.messagesPerSecond);
    // Round trips on one bidi stream, the floor of a leg, at the same payloads and in-flight counts.
    expect(result.baseline.roundTrips?.map((u) => u.inFlight)).toEqual([1, 64]);
    for (const u of result.baseline.roundTrips ?? []) {
      positive(u.callsPerSecond);
      positive(u.p50Ms);
      positive(u.serverCpuSecondsPerCall);
      positive(u.clientCpuSecondsPerCall);
    }

    // Send, Send waiting for the application's ack, and Call, 1 and 64 in flight, and Send between
    // embedded clusters, all delivered to the key's owner, one hop away.
    expect(result.routed.map((r) => `${r.kind}/${r.inFlight}`).sort()).toEqual([
      "call/1",
      "call/64",
      "embedded/1",
      "embedded/64",
      "send-acked/1",
      "send-acked/64",
      "send/1",
      "send/64",
    ]);
    for (const r of result.routed) expectMeasuredAndDelivered(r);

    // The same kinds with the clients on each daemon's Unix socket: all delivered at the owner, one hop.
    expect(result.socketRouted?.map((r) => `${r.kind}/${r.inFlight}`).sort()).toEqual([
      "call/1",
      "call/64",
      "send-acked/1",
      "send-acked/64",
      "send/1",
      "send/64",
    ]);
    for (const r of result.socketRouted ?? []) expectMeasuredAndDelivered(r);

    const cluster = result.clusters[0]!;
    positive(cluster.idleRssBytes);
    positive(cluster.idleExecutableBytes ?? 0);
    positive(cluster.idleAnonymousBytes ?? 0);
    expect((cluster.idleExecutableBytes ?? 0) + (cluster.idleAnonymousBytes ?? 0)).toBeLessThanOrEqual(
      cluster.idleRssBytes,
    );
    expect(cluster.loadRssBytes).toBeGreaterThan(0);
    expect(cluster.knownPeers).toBe(1);
    positive(cluster.maintenancePerNodePerSecond);
    positive(cluster.idleCpuPercent);
    expect(cluster.idleCpuPercentMax).toBeGreaterThanOrEqual(cluster.idleCpuPercent);
    if (LIMITED) {
      // Both daemons the cluster started (the founder and the timed joiner; the failure run kills one and,
      // with one repeat, starts none), each in its own cgroup from its start: none killed by the kernel, the
      // largest peak above nothing and within the limit.
      const limited = cluster.memoryLimit!;
      expect(limited.limitBytes).toBe(256 * MIB);
      expect(limited.daemons).toBe(2);
      expect(limited.oomKills).toBe(0);
      positive(limited.peakChargedBytes);
      expect(limited.peakChargedBytes).toBeLessThanOrEqual(256 * MIB);
    } else {
      expect(cluster.memoryLimit).toBeUndefined();
    }

    const join2 = result.joins[0]!;
    positive(join2.readyMs);
    positive(join2.joinMs);
    expect(join2.readyMs).toBeGreaterThan(join2.joinMs);
    const failure = result.failures[0]!;
    positive(failure.repairedMs);
    positive(failure.deliveryCorrectMs);

    // The key-value store's Get and Put, 1 and 64 in flight, each paired with an echo window; Redis beside
    // them when this machine has it (rows), or recorded as not measured (null).
    expect(result.kv?.map((r) => `${r.operation}/${r.inFlight}`).sort()).toEqual([
      "get/1",
      "get/64",
      "put/1",
      "put/64",
    ]);
    for (const r of result.kv ?? []) {
      positive(r.perSecond);
      positive(r.p50Ms);
      positive(r.cpuSecondsPerOp);
      positive(r.p50VsUnary);
      expect(r.failed).toBe(0);
    }
    if (result.redis !== null)
      expect(result.redis?.map((r) => `${r.operation}/${r.inFlight}`)).toHaveLength(4);

    // Each kind of traffic ran unmeasured first, its windows recorded (the cold figures).
    expect(result.warmups?.map((w) => w.what)).toEqual([
      "send 100 B",
      "send-acked 100 B",
      "call 100 B",
      "kv get",
      "kv put",
      "send 100 B, clients on a Unix socket",
      "send-acked 100 B, clients on a Unix socket",
      "call 100 B, clients on a Unix socket",
      "embedded 100 B",
    ]);
    for (const w of result.warmups ?? []) {
      expect(w.nodes).toBe(2);
      expect(w.inFlight).toBe(64);
      expect(w.windows.length).toBeGreaterThan(0);
      for (const window of w.windows) {
        positive(window.perSecond);
        positive(window.cpuSecondsPerOp);
      }
    }

    // Every target of the issue is checked, each with a finite distance from its goal.
    expect(result.targets).toHaveLength(13);
    for (const t of result.targets) expect(Number.isFinite(t.factor)).toBe(true);

    const files = writeResults(result, out);
    const parsed = JSON.parse(readFileSync(files.json, "utf8")) as BenchResult;
    expect(parsed.routed).toHaveLength(8);
    const markdown = readFileSync(files.md, "utf8");
    expect(markdown).toContain("| send | 2 | 100 B | 64 |");
    expect(markdown).toContain("| send-acked | 2 | 100 B | 64 |");
    expect(markdown).toContain("| embedded | 2 | 100 B | 64 |");
    expect(markdown).toContain("## Targets");
    expect(markdown).toContain("| Get (R = 2) | 2 | 64 |");
    expect(markdown).toContain("## Code warm-up");
    expect(markdown).toContain("### Clients on a Unix socket");
    expect(markdown).toMatch(/\| send \| 2 \| 64 \| [0-9,]+ \| [0-9.]+x \| [0-9.]+x \|/);
    expect(markdown).toContain("Round trips on one long-lived bidi stream");
    expect(markdown).toContain("| kv get | 2 | 1 |");
    const svg = readFileSync(files.svg, "utf8");
    expect(svg.match(/<polyline/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
  }, 180_000);
});
