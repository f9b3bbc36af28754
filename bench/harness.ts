// The benchmark harness: the plain-gRPC baseline, then per cluster size a cluster of real daemons for
// routed Send and Call, memory, maintenance, join and failure timings; medians over repeats, and ratios
// against the baseline of this same run.
import { execFileSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { EchoClient, EchoServerProcess, measureEcho, type UnaryRun } from "./baseline/baseline.js";
import { BenchCluster, SOURCE_RUNTIME, type DaemonRuntime } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import {
  CDF_FRACTIONS,
  type BenchResult,
  type ClusterFigure,
  type ClusterLimitedMemory,
  type FailureFigure,
  type JoinFigure,
  type KvFigure,
  type LatencyCurve,
  type RedisFigure,
  type RoutedFigure,
  type StreamFigure,
  type UnaryFigure,
  type WarmupFigure,
  type WarmupWindow,
} from "./lib/result.js";
import { codeWarmupLimits, idleSettleMs, type BenchSettings } from "./lib/settings.js";
import { readSimResults } from "./lib/sim-results.js";
import { median, percentile, ratio } from "./lib/stats.js";
import { checkTargets } from "./lib/targets.js";
import { sleep } from "./lib/load.js";
import { WARMUP_IN_FLIGHT, warmUp, type WarmupRun } from "./lib/warmup.js";
import { idleFigures, memoryFigures, timeFailure, timeJoins } from "./scenarios/membership.js";
import { EmbeddedClusters, SOURCE_LIBRARY } from "./scenarios/embedded.js";
import { Traffic, type TrafficRun } from "./scenarios/traffic.js";
import { KvTraffic, measureRedis, type KvRun, type KvWindow } from "./scenarios/kv.js";

/** The shortest measured window of a key-value row. */
const KV_MIN_WINDOW_MS = 1000;

/** Lets joins and leaf-set pushes settle before a kill, and before idle figures at the least. */
const SETTLE_MS = 2000;

/** What every cluster measured in one run shares: its settings, daemons, echo, and where figures go. */
interface RunContext {
  readonly settings: BenchSettings;
  readonly runtime: DaemonRuntime;
  readonly echo: Echo;
  readonly curves: CurveCollector;
  readonly warmups: WarmupFigure[];
  readonly log: (line: string) => void;
}

export interface HarnessOptions {
  readonly settings: BenchSettings;
  readonly resultsDir: string;
  readonly log: (line: string) => void;
}

export async function runBenchmark(options: HarnessOptions): Promise<BenchResult> {
  const { settings, log } = options;
  const startedAt = new Date();
  const loadAverageAtStart = loadavg();
  const curves = new CurveCollector();
  const warmups: WarmupFigure[] = [];

  let runtime = SOURCE_RUNTIME;
  let library = SOURCE_LIBRARY;
  let commit = `${currentCommit()} + the working tree as it was during the run`;
  let bundled = false;
  if (settings.runtime === "compiled") {
    log("building the daemon at HEAD to JavaScript (as the container image runs it)");
    const build = buildCompiledDaemon();
    bundled = build.bundled;
    runtime = { name: "compiled", entry: build.entry };
    library = build.library;
    commit = build.commit;
  }

  log("baseline: plain @grpc/grpc-js echo between two processes");
  // The echo server stays up for the whole run: every routed figure is paired with an echo measured just
  // before it, so a ratio compares two windows seconds apart on this shared, noisy machine.
  const server = await EchoServerProcess.start();
  const echo: Echo = { server, client: new EchoClient(server.port) };
  const run: RunContext = { settings, runtime, echo, curves, warmups, log };
  const routed: RoutedFigure[] = [];
  const socketRouted: RoutedFigure[] = [];
  const clusters: ClusterFigure[] = [];
  const joins: JoinFigure[] = [];
  const failures: FailureFigure[] = [];
  const kv: KvFigure[] = [];
  let redis: RedisFigure[] | null | undefined;
  const problems: string[] = [];
  let baseline: { unary: UnaryFigure[]; roundTrips: UnaryFigure[]; stream: StreamFigure[] };
  try {
    baseline = await measureBaseline(echo, settings, curves, log);
    if (settings.kv !== undefined) redis = await measureRedisFigures(settings, settings.kv.keys, log);
    for (const size of settings.clusterSizes) {
      let result: ClusterOutcome;
      try {
        result = await measureCluster(size, run);
      } catch (error) {
        const problem = `cluster of ${size}: ${error instanceof Error ? error.message : String(error)}`;
        log(`  NOT MEASURED: ${problem}`);
        problems.push(problem);
        continue;
      }
      routed.push(...result.routed);
      clusters.push(result.cluster);
      if (result.join !== undefined) joins.push(result.join);
      if (result.failure !== undefined) failures.push(result.failure);
      kv.push(...result.kv);
    }
    const multiHop = settings.multiHop;
    if (multiHop !== undefined) {
      try {
        routed.push(...(await measureMultiHop(multiHop, run)));
      } catch (error) {
        const problem = `multi-hop cluster of ${multiHop.nodes}: ${error instanceof Error ? error.message : String(error)}`;
        log(`  NOT MEASURED: ${problem}`);
        problems.push(problem);
      }
    }
    for (const size of settings.socketSizes ?? []) {
      try {
        socketRouted.push(...(await measureOverSocket(size, run)));
      } catch (error) {
        const problem = `cluster of ${size} with clients on a Unix socket: ${error instanceof Error ? error.message : String(error)}`;
        log(`  NOT MEASURED: ${problem}`);
        problems.push(problem);
      }
    }
    for (const size of settings.embeddedSizes) {
      try {
        routed.push(...(await measureEmbedded(size, library, run)));
      } catch (error) {
        const problem = `embedded clusters of ${size}: ${error instanceof Error ? error.message : String(error)}`;
        log(`  NOT MEASURED: ${problem}`);
        problems.push(problem);
      }
    }
  } finally {
    echo.client.close();
    await echo.server.stop();
  }

  const smallest = clusters[0];
  const largest = clusters.at(-1);
  const memoryPerKnownPeerBytes =
    smallest !== undefined && largest !== undefined && largest.knownPeers > smallest.knownPeers
      ? (largest.idleRssBytes - smallest.idleRssBytes) / (largest.knownPeers - smallest.knownPeers)
      : Number.NaN;

  const partial = {
    date: startedAt.toISOString().slice(0, 10),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      node: process.version,
      loadAverageAtStart,
      loadAverageAtEnd: loadavg(),
    },
    commit,
    settings,
    daemonRuntime:
      runtime.name === "compiled"
        ? `the daemon of this commit (git archive) compiled to JavaScript${bundled ? " and bundled (scripts/bundle.ts)" : ""}, as the container image runs it`
        : "bin/wendy.js start (the working tree: its build if current, else the sources through tsx)",
    baseline,
    routed,
    ...(settings.socketSizes === undefined ? {} : { socketRouted }),
    clusters,
    memoryPerKnownPeerBytes,
    joins,
    failures,
    sim: readSimResults(options.resultsDir) ?? null,
    ...(settings.kv === undefined ? {} : { kv, redis: redis ?? null }),
    warmups,
    latencyCurves: curves.curves(),
    problems,
  };
  return { ...partial, targets: checkTargets(partial) };
}

interface Echo {
  readonly server: EchoServerProcess;
  readonly client: EchoClient;
}

async function measureBaseline(
  echo: Echo,
  settings: BenchSettings,
  curves: CurveCollector,
  log: (line: string) => void,
): Promise<{ unary: UnaryFigure[]; roundTrips: UnaryFigure[]; stream: StreamFigure[] }> {
  const { server, client } = echo;
  const unaryRuns = new Map<string, UnaryRun[]>();
  const roundTripRuns = new Map<string, UnaryRun[]>();
  const streamRuns = new Map<number, number[]>();
  for (let r = 0; r < settings.repeats; r++) {
    for (const payloadBytes of settings.payloadBytes) {
      for (const inFlight of settings.inFlights) {
        const run = await measureEcho(server, client, payloadBytes, inFlight, settings);
        push(unaryRuns, `${payloadBytes}/${inFlight}`, run);
        curves.add(`unary echo, ${inFlight} in flight, ${payloadBytes} B`, run.latenciesMs);
        log(`  unary ${payloadBytes} B x${inFlight}: ${run.callsPerSecond.toFixed(0)} calls/s`);
        const roundTrips = await measureEcho(server, client, payloadBytes, inFlight, settings, "stream");
        push(roundTripRuns, `${payloadBytes}/${inFlight}`, roundTrips);
        log(`  stream round trips ${payloadBytes} B x${inFlight}: ${roundTrips.callsPerSecond.toFixed(0)}/s`);
      }
      const stream = await client.streamRate(payloadBytes, settings.warmupMs, settings.measureMs);
      push(streamRuns, payloadBytes, stream.messagesPerSecond);
      log(`  server stream ${payloadBytes} B: ${stream.messagesPerSecond.toFixed(0)} msgs/s`);
    }
  }
  const figures = (runsOf: Map<string, UnaryRun[]>): UnaryFigure[] =>
    settings.payloadBytes.flatMap((payloadBytes) =>
      settings.inFlights.map((inFlight) => {
        const runs = runsOf.get(`${payloadBytes}/${inFlight}`)!;
        return {
          payloadBytes,
          inFlight,
          callsPerSecond: median(runs.map((x) => x.callsPerSecond)),
          p50Ms: median(runs.map((x) => x.latency.p50Ms)),
          p99Ms: median(runs.map((x) => x.latency.p99Ms)),
          p999Ms: median(runs.map((x) => x.latency.p999Ms)),
          serverCpuSecondsPerCall: median(runs.map((x) => x.serverCpuSecondsPerCall)),
          clientCpuSecondsPerCall: median(runs.map((x) => x.clientCpuSecondsPerCall)),
        };
      }),
    );
  const stream = settings.payloadBytes.map((payloadBytes) => ({
    payloadBytes,
    messagesPerSecond: median(streamRuns.get(payloadBytes)!),
  }));
  return { unary: figures(unaryRuns), roundTrips: figures(roundTripRuns), stream };
}

interface ClusterOutcome {
  readonly routed: RoutedFigure[];
  readonly cluster: ClusterFigure;
  readonly join?: JoinFigure;
  readonly failure?: FailureFigure;
  readonly kv: KvFigure[];
}

async function measureCluster(size: number, run: RunContext): Promise<ClusterOutcome> {
  const { settings, runtime, echo, curves, warmups, log } = run;
  const cluster = new BenchCluster(`n${size}`, runtime, {}, { memoryLimitBytes: settings.memoryLimitBytes });
  const traffic = new Traffic(cluster);
  let outcome: ClusterOutcome;
  try {
    const timedJoin = settings.joinSizes.includes(size) && size >= 2;
    const built = performance.now();
    await cluster.grow(timedJoin ? size - 1 : size, settings.startBatch);
    log(`cluster of ${size}: ${cluster.nodes.length} daemons ready in ${seconds(built)}`);
    let join: JoinFigure | undefined;
    if (timedJoin) {
      const runs = await timeJoins(cluster, settings.repeats);
      join = {
        nodes: size,
        readyMs: median(runs.map((r) => r.readyMs)),
        bootMs: median(runs.map((r) => r.bootMs)),
        joinMs: median(runs.map((r) => r.joinMs)),
        runsReadyMs: runs.map((r) => r.readyMs),
      };
      log(
        `  join into ${size - 1}: ready in ${join.readyMs.toFixed(0)} ms (join itself ${join.joinMs.toFixed(0)} ms)`,
      );
    }
    await sleep(Math.max(SETTLE_MS, cluster.changedAt + idleSettleMs(settings) - performance.now()));
    const idle = await idleFigures(cluster, settings.idleMs);
    const idleCpuPercent = median([...idle.cpuPercent]);
    const memory = await memoryFigures(cluster);
    log(
      `  idle: ${mib(memory.idleRssBytes)} MiB RSS (Node.js executable ${mib(memory.idleExecutableBytes)}, ` +
        `anonymous ${mib(memory.idleAnonymousBytes)}), ${memory.knownPeers.toFixed(1)} known peers, ` +
        `${idle.maintenancePerNodePerSecond.toFixed(2)} maintenance msgs/node/s, ` +
        `CPU ${idleCpuPercent.toFixed(3)} % of a core per daemon (max ${Math.max(...idle.cpuPercent).toFixed(3)} %)`,
    );

    await traffic.open();
    const runs = await measureRouted(traffic, size, settings, echo, curves, warmups, log);
    const routed = routedFigures(runs, size);
    const all = [...runs.values()].flat().map((p) => p.run);
    const kv =
      settings.kv?.nodes === size
        ? await measureKv(cluster, settings, settings.kv.keys, echo, curves, warmups, log)
        : [];
    const clusterFigure: ClusterFigure = {
      nodes: size,
      idleRssBytes: memory.idleRssBytes,
      idleExecutableBytes: memory.idleExecutableBytes,
      idleAnonymousBytes: memory.idleAnonymousBytes,
      loadRssBytes: Math.max(...all.map((x) => x.maxRssBytes)),
      knownPeers: memory.knownPeers,
      maintenancePerNodePerSecond: idle.maintenancePerNodePerSecond,
      idleCpuPercent,
      idleCpuPercentMax: Math.max(...idle.cpuPercent),
      meanHops: median(all.map((x) => x.meanHops)),
    };

    let failure: FailureFigure | undefined;
    if (settings.failureSizes.includes(size) && size >= 2) {
      const failureRuns = [];
      for (let r = 0; r < settings.repeats; r++) {
        // Restore the cluster's size before every kill but the first.
        if (r > 0) {
          await cluster.startNode();
          await traffic.reopen();
          await sleep(SETTLE_MS);
        }
        const run = await timeFailure(cluster, traffic);
        failureRuns.push(run);
        log(
          `  SIGKILL: first detected ${run.firstDetectedMs.toFixed(0)} ms, leaf sets repaired ${run.repairedMs.toFixed(0)} ms, delivery correct ${run.deliveryCorrectMs.toFixed(0)} ms`,
        );
      }
      failure = {
        nodes: size,
        firstDetectedMs: median(failureRuns.map((x) => x.firstDetectedMs)),
        repairedMs: median(failureRuns.map((x) => x.repairedMs)),
        deliveryCorrectMs: median(failureRuns.map((x) => x.deliveryCorrectMs)),
        runsRepairedMs: failureRuns.map((x) => x.repairedMs),
        problems: failureRuns.flatMap((x) => x.problems),
      };
    }
    outcome = { routed, cluster: clusterFigure, join, failure, kv };
  } finally {
    traffic.close();
    await cluster.stop();
  }
  const memoryLimit = cluster.limitedMemory();
  if (memoryLimit === undefined) return outcome;
  log(`  ${limitedMemoryLine(memoryLimit)}`);
  return { ...outcome, cluster: { ...outcome.cluster, memoryLimit } };
}

/** One line on what a cluster's daemons did under their memory limit. */
function limitedMemoryLine(m: ClusterLimitedMemory): string {
  return (
    `under a memory limit of ${mib(m.limitBytes)} MiB each: largest peak charged ${mib(m.peakChargedBytes)} MiB, ` +
    `${m.oomKills} OOM kills over ${m.daemons} daemons`
  );
}

/**
 * Routed Send, acknowledged Send and Call, each window paired with an echo window just before it; each
 * kind warmed up first.
 */
async function measureRouted(
  traffic: Traffic,
  size: number,
  settings: BenchSettings,
  echo: Echo,
  curves: CurveCollector,
  warmups: WarmupFigure[],
  log: (line: string) => void,
  options: {
    readonly payloadBytes?: readonly number[];
    readonly label?: string;
    readonly leafSetSize?: number;
    /** Added to the warm-up figures' names (a variant of a cluster size measured twice). */
    readonly variant?: string;
  } = {},
): Promise<Map<string, Paired[]>> {
  const runs = new Map<string, Paired[]>();
  const payloads = options.payloadBytes ?? settings.payloadBytes;
  const label = options.label ?? `${size} nodes`;
  const callPayload = payloads[0]!;
  const cluster = {
    nodes: size,
    ...(options.leafSetSize === undefined ? {} : { leafSetSize: options.leafSetSize }),
  };
  const warm = (what: string, run: WarmupRun): Promise<void> =>
    warmUpTraffic(warmups, settings, { what: what + (options.variant ?? ""), ...cluster }, run, log);
  for (const payloadBytes of payloads)
    await warm(`send ${bytesLabel(payloadBytes)}`, (w) =>
      traffic.measureSend(payloadBytes, WARMUP_IN_FLIGHT, { ...settings, ...w }),
    );
  await warm(`send-acked ${bytesLabel(callPayload)}`, (w) =>
    traffic.measureAckedSend(callPayload, WARMUP_IN_FLIGHT, { ...settings, ...w }),
  );
  await warm(`call ${bytesLabel(callPayload)}`, (w) =>
    traffic.measureCall(callPayload, WARMUP_IN_FLIGHT, { ...settings, ...w }),
  );
  for (let r = 0; r < settings.repeats; r++) {
    for (const inFlight of settings.inFlights) {
      for (const payloadBytes of payloads) {
        const unary = await measureEcho(echo.server, echo.client, payloadBytes, inFlight, settings);
        const run = await traffic.measureSend(payloadBytes, inFlight, settings);
        push(runs, routedKey("send", payloadBytes, inFlight), { run, unary });
        curves.add(`Send, ${label}, ${inFlight} in flight, ${payloadBytes} B`, run.latenciesMs);
        log(
          `  send ${payloadBytes} B x${inFlight}: ${run.perSecond.toFixed(0)} msgs/s, ${run.meanHops.toFixed(2)} hops (echo just before: ${unary.callsPerSecond.toFixed(0)} calls/s)`,
        );
        const acked = await traffic.measureAckedSend(payloadBytes, inFlight, settings);
        push(runs, routedKey("send-acked", payloadBytes, inFlight), { run: acked, unary });
        log(
          `  send waiting for the application's ack ${payloadBytes} B x${inFlight}: ${acked.perSecond.toFixed(0)} msgs/s`,
        );
        if (payloadBytes !== callPayload) continue;
        const call = await traffic.measureCall(callPayload, inFlight, settings);
        push(runs, routedKey("call", callPayload, inFlight), { run: call, unary });
        log(`  call ${callPayload} B x${inFlight}: ${call.perSecond.toFixed(0)} calls/s`);
      }
    }
  }
  return runs;
}

/** The store's Get and Put (bench/scenarios/kv.ts) at each in-flight count, each window paired with an echo. */
async function measureKv(
  cluster: BenchCluster,
  settings: BenchSettings,
  keys: number,
  echo: Echo,
  curves: CurveCollector,
  warmups: WarmupFigure[],
  log: (line: string) => void,
): Promise<KvFigure[]> {
  const valueBytes = Math.min(...settings.payloadBytes);
  const traffic = new KvTraffic(cluster, valueBytes, keys);
  // At least KV_MIN_WINDOW_MS: with 64 in flight on a loaded machine one Put can outlast a smoke run's window.
  const window = { warmupMs: settings.warmupMs, measureMs: Math.max(settings.measureMs, KV_MIN_WINDOW_MS) };
  await traffic.preload();
  const nodes = cluster.nodes.length;
  for (const operation of ["get", "put"] as const) {
    const measure = (w: KvWindow): Promise<KvRun> =>
      operation === "get" ? traffic.measureGet(WARMUP_IN_FLIGHT, w) : traffic.measurePut(WARMUP_IN_FLIGHT, w);
    await warmUpTraffic(warmups, settings, { what: `kv ${operation}`, nodes }, measure, log);
  }
  const runs = new Map<string, { run: KvRun; unary: UnaryRun }[]>();
  for (let r = 0; r < settings.repeats; r++) {
    for (const inFlight of settings.inFlights) {
      for (const operation of ["get", "put"] as const) {
        const unary = await measureEcho(echo.server, echo.client, valueBytes, inFlight, settings);
        const run =
          operation === "get"
            ? await traffic.measureGet(inFlight, window)
            : await traffic.measurePut(inFlight, window);
        push(runs, `${operation}/${inFlight}`, { run, unary });
        curves.add(
          `kv ${operation}, ${cluster.nodes.length} nodes, ${inFlight} in flight, ${valueBytes} B`,
          run.latenciesMs,
        );
        log(
          `  kv ${operation} ${valueBytes} B x${inFlight}: ${run.perSecond.toFixed(0)} ops/s, p50 ${run.latency.p50Ms.toFixed(2)} ms (echo just before: p50 ${unary.latency.p50Ms.toFixed(2)} ms)`,
        );
      }
    }
  }
  return [...runs].map(([key, pairs]) => {
    const [operation, inFlightText] = key.split("/") as ["get" | "put", string];
    const list = pairs.map((p) => p.run);
    return {
      operation,
      nodes: cluster.nodes.length,
      keys,
      valueBytes,
      inFlight: Number(inFlightText),
      perSecond: median(list.map((x) => x.perSecond)),
      p50Ms: median(list.map((x) => x.latency.p50Ms)),
      p99Ms: median(list.map((x) => x.latency.p99Ms)),
      p999Ms: median(list.map((x) => x.latency.p999Ms)),
      cpuSecondsPerOp: median(list.map((x) => x.cpuSecondsPerOp)),
      failed: list.reduce((s, x) => s + x.failed, 0),
      pairedUnaryPerSecond: median(pairs.map((p) => p.unary.callsPerSecond)),
      pairedUnaryP50Ms: median(pairs.map((p) => p.unary.latency.p50Ms)),
      throughputVsUnary: median(pairs.map((p) => ratio(p.run.perSecond, p.unary.callsPerSecond))),
      p50VsUnary: median(pairs.map((p) => ratio(p.run.latency.p50Ms, p.unary.latency.p50Ms))),
    };
  });
}

/** Redis GET and SET (one repeat: it is the reference a user compares with, not a ratio's baseline). */
async function measureRedisFigures(
  settings: BenchSettings,
  keys: number,
  log: (line: string) => void,
): Promise<RedisFigure[] | null> {
  const runs = await measureRedis(settings.inFlights, Math.min(...settings.payloadBytes), settings, keys);
  if (runs === undefined) {
    log("redis: no redis-server installed, not measured");
    return null;
  }
  const figures: RedisFigure[] = [];
  for (const [operation, byInFlight] of [
    ["GET", runs.get],
    ["SET", runs.set],
  ] as const) {
    for (const [inFlight, run] of byInFlight) {
      figures.push({
        operation,
        inFlight,
        perSecond: run.perSecond,
        p50Ms: run.latency.p50Ms,
        p99Ms: run.latency.p99Ms,
        p999Ms: run.latency.p999Ms,
      });
      log(
        `redis ${operation} x${inFlight}: ${run.perSecond.toFixed(0)} ops/s, p50 ${run.latency.p50Ms.toFixed(2)} ms`,
      );
    }
  }
  return figures;
}

function routedKey(kind: RoutedFigure["kind"], payloadBytes: number, inFlight: number): string {
  return `${kind}/${payloadBytes}/${inFlight}`;
}

/** Medians over repeats of each kind/payload/in-flight, with the ratios against the paired echo windows. */
function routedFigures(runs: Map<string, Paired[]>, size: number, leafSetSize?: number): RoutedFigure[] {
  const routed: RoutedFigure[] = [];
  for (const [key, pairs] of runs) {
    const [kind, payloadText, inFlightText] = key.split("/") as [RoutedFigure["kind"], string, string];
    const list = pairs.map((p) => p.run);
    routed.push({
      kind,
      nodes: size,
      ...(leafSetSize === undefined ? {} : { leafSetSize }),
      payloadBytes: Number(payloadText),
      inFlight: Number(inFlightText),
      perSecond: median(list.map((x) => x.perSecond)),
      p50Ms: median(list.map((x) => x.latency.p50Ms)),
      p99Ms: median(list.map((x) => x.latency.p99Ms)),
      p999Ms: median(list.map((x) => x.latency.p999Ms)),
      cpuSecondsPerOp: median(list.map((x) => x.cpuSecondsPerOp)),
      clientCpuSecondsPerOp: median(list.map((x) => x.clientCpuSecondsPerOp)),
      meanHops: median(list.map((x) => x.meanHops)),
      failed: list.reduce((s, x) => s + x.failed, 0),
      misdelivered: list.reduce((s, x) => s + x.misdelivered, 0),
      pairedUnaryPerSecond: median(pairs.map((p) => p.unary.callsPerSecond)),
      pairedUnaryP50Ms: median(pairs.map((p) => p.unary.latency.p50Ms)),
      throughputVsUnary: median(pairs.map((p) => ratio(p.run.perSecond, p.unary.callsPerSecond))),
      p50VsUnary: median(pairs.map((p) => ratio(p.run.latency.p50Ms, p.unary.latency.p50Ms))),
    });
  }
  return routed;
}

/** A cluster measured for routed traffic only, small payload: the multi-hop set, or the socket set. */
interface RoutedOnlySet {
  readonly nodes: number;
  /** BenchCluster's label, and how the log and the latency curves name the set. */
  readonly clusterLabel: string;
  readonly name: string;
  readonly leafSetSize?: number;
  readonly clientSocket?: boolean;
  /** Added to the warm-up figures' names, for a cluster size measured twice. */
  readonly variant?: string;
}

/**
 * The multi-hop row set: many daemons with a small leaf set, so that routes take more than one hop and the
 * daemons' CPU per message per hop can be held against the one-hop rows. Routed traffic only (the
 * membership figures of the default leaf set are measured with the cluster sizes).
 */
function measureMultiHop(
  multiHop: NonNullable<BenchSettings["multiHop"]>,
  run: RunContext,
): Promise<RoutedFigure[]> {
  const { nodes, leafSetSize } = multiHop;
  const set = {
    nodes,
    leafSetSize,
    clusterLabel: `m${nodes}`,
    name: `${nodes} nodes, leaf set ${leafSetSize}`,
  };
  return measureRoutedOnly(set, run);
}

/**
 * The routed kinds again on a cluster whose daemons also serve their client services on a Unix socket, the
 * harness's clients (senders, callers and subscribers) on it: applications beside their node, without the
 * loopback TCP stack on the client legs.
 */
function measureOverSocket(size: number, run: RunContext): Promise<RoutedFigure[]> {
  const set = {
    nodes: size,
    clientSocket: true,
    clusterLabel: `u${size}`,
    name: `${size} nodes, clients on a Unix socket`,
    variant: ", clients on a Unix socket",
  };
  return measureRoutedOnly(set, run);
}

async function measureRoutedOnly(set: RoutedOnlySet, run: RunContext): Promise<RoutedFigure[]> {
  const { settings, runtime, echo, curves, warmups, log } = run;
  const cluster = new BenchCluster(
    set.clusterLabel,
    runtime,
    set.leafSetSize === undefined ? {} : { WENDY_LEAF_SET_SIZE: String(set.leafSetSize) },
    { memoryLimitBytes: settings.memoryLimitBytes, clientSocket: set.clientSocket === true },
  );
  const traffic = new Traffic(cluster);
  let figures: RoutedFigure[];
  try {
    const built = performance.now();
    await cluster.grow(set.nodes, settings.startBatch);
    log(`cluster of ${set.name}: ready in ${seconds(built)}`);
    await sleep(SETTLE_MS);
    await traffic.open();
    const runs = await measureRouted(traffic, set.nodes, settings, echo, curves, warmups, log, {
      payloadBytes: [Math.min(...settings.payloadBytes)],
      label: set.name,
      ...(set.leafSetSize === undefined ? {} : { leafSetSize: set.leafSetSize }),
      ...(set.variant === undefined ? {} : { variant: set.variant }),
    });
    figures = routedFigures(runs, set.nodes, set.leafSetSize);
  } finally {
    traffic.close();
    await cluster.stop();
  }
  const memoryLimit = cluster.limitedMemory();
  if (memoryLimit !== undefined) log(`  ${limitedMemoryLine(memoryLimit)}`);
  return figures;
}

/** The embedded floor: Send between clusters of the library API in one process, small payload. */
async function measureEmbedded(size: number, library: string, run: RunContext): Promise<RoutedFigure[]> {
  const { settings, echo, curves, warmups, log } = run;
  const embedded = await EmbeddedClusters.start(library, size);
  const payloadBytes = Math.min(...settings.payloadBytes);
  const runs = new Map<string, Paired[]>();
  try {
    log(`embedded: ${size} clusters of the library API in one process`);
    await warmUpTraffic(
      warmups,
      settings,
      { what: `embedded ${bytesLabel(payloadBytes)}`, nodes: size },
      (w) => embedded.measureSend(payloadBytes, WARMUP_IN_FLIGHT, { ...settings, ...w }),
      log,
    );
    for (let r = 0; r < settings.repeats; r++) {
      for (const inFlight of settings.inFlights) {
        const unary = await measureEcho(echo.server, echo.client, payloadBytes, inFlight, settings);
        const run = await embedded.measureSend(payloadBytes, inFlight, settings);
        push(runs, routedKey("embedded", payloadBytes, inFlight), { run, unary });
        curves.add(
          `embedded Send, ${size} clusters, ${inFlight} in flight, ${payloadBytes} B`,
          run.latenciesMs,
        );
        log(
          `  embedded send ${payloadBytes} B x${inFlight}: ${run.perSecond.toFixed(0)} msgs/s (echo just before: ${unary.callsPerSecond.toFixed(0)} calls/s)`,
        );
      }
    }
  } finally {
    await embedded.stop();
  }
  return routedFigures(runs, size);
}

/**
 * Runs one kind of traffic unmeasured for the settings' code warm-up (bench/lib/warmup.ts) and records its
 * windows, which are the cold figures.
 */
async function warmUpTraffic(
  warmups: WarmupFigure[],
  settings: BenchSettings,
  figure: Omit<WarmupFigure, "inFlight" | "windows">,
  run: WarmupRun,
  log: (line: string) => void,
): Promise<void> {
  const windows = await warmUp(codeWarmupLimits(settings), run);
  const first = windows[0];
  const last = windows.at(-1);
  if (first === undefined || last === undefined) return;
  warmups.push({ ...figure, inFlight: WARMUP_IN_FLIGHT, windows });
  const rate = (w: WarmupWindow): string => w.perSecond.toFixed(0);
  const cpu = (w: WarmupWindow): string => (w.cpuSecondsPerOp * 1e6).toFixed(0);
  log(
    `  warm-up ${figure.what} x${WARMUP_IN_FLIGHT}: ${rate(first)} -> ${rate(last)} ops/s, ${cpu(first)} -> ${cpu(last)} µs/op over ${windows.length} windows`,
  );
}

function bytesLabel(n: number): string {
  return n >= 1024 && n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`;
}

/** A routed run and the echo baseline measured just before it, with the same payload and in-flight count. */
interface Paired {
  readonly run: TrafficRun;
  readonly unary: UnaryRun;
}

/** Latency samples pooled over repeats, reduced to quantiles for the plot. */
class CurveCollector {
  private readonly samples = new Map<string, number[]>();

  add(label: string, latenciesMs: readonly number[]): void {
    const list = this.samples.get(label) ?? [];
    for (const x of latenciesMs) list.push(x);
    this.samples.set(label, list);
  }

  curves(): LatencyCurve[] {
    return [...this.samples].map(([label, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return { label, points: CDF_FRACTIONS.map((f) => percentile(sorted, f)) };
    });
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

function currentCommit(): string {
  try {
    const root = join(import.meta.dirname, "..");
    return execFileSync("git", ["-C", root, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
