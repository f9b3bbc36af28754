// The shape of one benchmark run's results (bench/results/<date>.json). Every figure is a median over
// the run's repeats; ratios compare it with the baseline measured in the same run.
import type { BenchSettings } from "./settings.js";
import type { SimSummary } from "./sim-results.js";

export interface LatencyFigures {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
}

export interface UnaryFigure extends LatencyFigures {
  readonly payloadBytes: number;
  readonly inFlight: number;
  readonly callsPerSecond: number;
  readonly serverCpuSecondsPerCall: number;
  readonly clientCpuSecondsPerCall: number;
}

export interface StreamFigure {
  readonly payloadBytes: number;
  readonly messagesPerSecond: number;
}

export interface RoutedFigure extends LatencyFigures {
  /**
   * send: not waiting; send-acked: waiting for the owner's application to acknowledge; call; embedded: Send
   * between clusters of the library API in one process (the floor the daemon path is held against).
   */
  readonly kind: "send" | "send-acked" | "call" | "embedded";
  readonly nodes: number;
  /** The leaf-set size when not the default (the multi-hop row set: a small leaf set makes routes longer). */
  readonly leafSetSize?: number;
  readonly payloadBytes: number;
  readonly inFlight: number;
  readonly perSecond: number;
  readonly cpuSecondsPerOp: number;
  readonly clientCpuSecondsPerOp: number;
  readonly meanHops: number;
  readonly failed: number;
  readonly misdelivered: number;
  /** The unary echo (same payload and in-flight count) measured just before each repeat: medians. */
  readonly pairedUnaryPerSecond: number;
  readonly pairedUnaryP50Ms: number;
  /** Median over repeats of perSecond / the paired echo's calls per second. */
  readonly throughputVsUnary: number;
  /** Median over repeats of p50 / the paired echo's p50. */
  readonly p50VsUnary: number;
}

/** The key-value store's Put or Get at random nodes of a cluster (k = 3, W = R = 2), against the echo. */
export interface KvFigure extends LatencyFigures {
  readonly operation: "get" | "put";
  readonly nodes: number;
  /** Keys written before measuring; each operation picks one at random. */
  readonly keys: number;
  readonly valueBytes: number;
  readonly inFlight: number;
  readonly perSecond: number;
  /** Daemon CPU seconds (all nodes together) per operation. */
  readonly cpuSecondsPerOp: number;
  readonly failed: number;
  /** The unary echo (same payload and in-flight count) measured just before each repeat: medians. */
  readonly pairedUnaryPerSecond: number;
  readonly pairedUnaryP50Ms: number;
  readonly throughputVsUnary: number;
  readonly p50VsUnary: number;
}

/** One window of a code warm-up (bench/lib/warmup.ts): traffic before the measured windows. */
export interface WarmupWindow {
  readonly perSecond: number;
  /** Daemon CPU seconds (all nodes together; the whole process for embedded) per operation. */
  readonly cpuSecondsPerOp: number;
}

/** The code warm-up of one kind of traffic on one cluster, window by window. */
export interface WarmupFigure {
  /** The traffic, as its rows name it ("send 100 B", "call 100 B", "kv get", ...). */
  readonly what: string;
  readonly nodes: number;
  /** The leaf-set size when not the default (the multi-hop row set). */
  readonly leafSetSize?: number;
  readonly inFlight: number;
  readonly windows: readonly WarmupWindow[];
}

/** One Redis on loopback (no replication, persistence off): what a user would compare the store with. */
export interface RedisFigure extends LatencyFigures {
  readonly operation: "GET" | "SET";
  readonly inFlight: number;
  readonly perSecond: number;
}

/** What the daemons of a cluster run under a memory limit did inside it, all of them together. */
export interface ClusterLimitedMemory {
  readonly limitBytes: number;
  readonly daemons: number;
  /** The largest peak charged to any one daemon's cgroup. */
  readonly peakChargedBytes: number;
  /** OOM kills over all the daemons. */
  readonly oomKills: number;
}

export interface ClusterFigure {
  readonly nodes: number;
  /** With BenchSettings.memoryLimitBytes: what the cluster's daemons did under it. */
  readonly memoryLimit?: ClusterLimitedMemory;
  readonly idleRssBytes: number;
  /** Of the idle RSS: the Node.js executable's pages, and the daemons' own anonymous memory (runs since 2026-12-07). */
  readonly idleExecutableBytes?: number;
  readonly idleAnonymousBytes?: number;
  readonly loadRssBytes: number;
  readonly knownPeers: number;
  readonly maintenancePerNodePerSecond: number;
  /** Median over the daemons of each one's CPU time at rest, in % of one core (from /proc). */
  readonly idleCpuPercent: number;
  /** The busiest daemon's CPU time at rest, in % of one core. */
  readonly idleCpuPercentMax: number;
  readonly meanHops: number;
}

export interface JoinFigure {
  readonly nodes: number;
  readonly readyMs: number;
  readonly bootMs: number;
  readonly joinMs: number;
  readonly runsReadyMs: readonly number[];
}

export interface FailureFigure {
  readonly nodes: number;
  readonly firstDetectedMs: number;
  readonly repairedMs: number;
  readonly deliveryCorrectMs: number;
  readonly runsRepairedMs: readonly number[];
  readonly problems: readonly string[];
}

export interface TargetCheck {
  readonly name: string;
  readonly measured: string;
  readonly target: string;
  readonly met: boolean;
  /** How far from the target (measured / target limit), for the closing note. */
  readonly factor: number;
}

/** Latency quantiles for the plot: `points[i]` is the latency at `CDF_FRACTIONS[i]`. */
export interface LatencyCurve {
  readonly label: string;
  readonly points: readonly number[];
}

export interface BenchResult {
  readonly date: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly node: string;
    readonly loadAverageAtStart: readonly number[];
    readonly loadAverageAtEnd: readonly number[];
  };
  readonly commit: string;
  readonly settings: BenchSettings;
  readonly daemonRuntime: string;
  readonly baseline: {
    readonly unary: readonly UnaryFigure[];
    /**
     * Round trips on one long-lived bidi stream, a round trip counting as a call: the least one leg of the
     * daemon path costs. Absent in runs before it was measured.
     */
    readonly roundTrips?: readonly UnaryFigure[];
    readonly stream: readonly StreamFigure[];
  };
  readonly routed: readonly RoutedFigure[];
  /**
   * The same kinds of routed traffic with the clients on each daemon's Unix socket (settings.socketSizes);
   * absent in runs before it was measured.
   */
  readonly socketRouted?: readonly RoutedFigure[];
  readonly clusters: readonly ClusterFigure[];
  /** (idle RSS of the largest cluster - of the smallest) / (peers known there - here). */
  readonly memoryPerKnownPeerBytes: number;
  readonly joins: readonly JoinFigure[];
  readonly failures: readonly FailureFigure[];
  readonly sim: SimSummary | null;
  /** Put and Get rows (absent in runs before they were measured, and when the settings skip them). */
  readonly kv?: readonly KvFigure[];
  /** Redis beside them; null when no redis-server is installed. */
  readonly redis?: readonly RedisFigure[] | null;
  /**
   * Each kind of traffic's unmeasured run before its cluster's measured windows (absent in runs before it
   * was done: those measured daemons still warming up).
   */
  readonly warmups?: readonly WarmupFigure[];
  readonly targets: readonly TargetCheck[];
  /** Cluster sizes that could not be measured, and why (the rest of the run went on). */
  readonly problems: readonly string[];
  readonly latencyCurves: readonly LatencyCurve[];
}

export const CDF_FRACTIONS: readonly number[] = [
  0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999,
];
