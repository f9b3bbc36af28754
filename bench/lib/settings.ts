// What one benchmark run measures and for how long. `make bench` uses FULL_SETTINGS; the CI smoke test
// a tiny variant.

export interface BenchSettings {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly repeats: number;
  /** Cluster sizes for routed Send and Call. */
  readonly clusterSizes: readonly number[];
  readonly inFlights: readonly number[];
  readonly payloadBytes: readonly number[];
  /** Cluster sizes whose last node's join is timed (must be among clusterSizes). */
  readonly joinSizes: readonly number[];
  /** Cluster sizes in which a node is killed with SIGKILL and recovery timed (among clusterSizes). */
  readonly failureSizes: readonly number[];
  /**
   * A cluster of this many daemons with this leaf-set size, measured for Send and Call only: routes of more
   * than one hop, for the daemons' CPU per message per hop. Omitted: not measured.
   */
  readonly multiHop?: { readonly nodes: number; readonly leafSetSize: number };
  /**
   * Cluster sizes measured once more with the harness's clients on each daemon's Unix socket
   * (WENDY_CLIENT_SOCKET) instead of its TCP client port: Send, acknowledged Send and Call at the smallest
   * payload, reported beside the TCP rows (never in the targets). Omitted: not measured.
   */
  readonly socketSizes?: readonly number[];
  /** Cluster sizes at which the embedded floor (clusters of the library API in one process) is measured. */
  readonly embeddedSizes: readonly number[];
  /**
   * The key-value store's Put and Get: measured at `nodes` (among clusterSizes) on `keys` keys written first,
   * beside a Redis on loopback when installed. Omitted: not measured.
   */
  readonly kv?: { readonly nodes: number; readonly keys: number };
  /**
   * How long each kind of traffic runs unmeasured on a cluster before its measured windows at the least, so
   * that the figures are of daemons whose hot paths V8 has optimized (bench/lib/warmup.ts); it goes on
   * while their CPU per message keeps falling, up to codeWarmupMaxMs. Absent in runs before it was a
   * setting: those had none.
   */
  readonly codeWarmupMs?: number;
  /** The longest a kind of traffic warms up (absent: codeWarmupMs, a fixed warm-up). */
  readonly codeWarmupMaxMs?: number;
  /** How long the idle cluster is watched: maintenance messages and each daemon's CPU time. */
  readonly idleMs: number;
  /**
   * How long the cluster rests after its last membership change (the last timed join) before the idle window
   * starts. Absent in runs before it was a setting: those waited 2 s.
   */
  readonly idleSettleMs?: number;
  /** Daemons started at once while a cluster is built (the machine has 2 cores). */
  readonly startBatch: number;
  /**
   * "compiled": the daemon built to JavaScript, as the container image runs it (built once per run);
   * "source": bin/wendy.js on the working tree (its build if current, else tsx; quicker to start a run).
   */
  readonly runtime: "compiled" | "source";
  /**
   * Each daemon runs in a memory cgroup of its own with this limit, as in a pod (bench/lib/memory-cgroup.ts):
   * Node sizes its heap for the limit, and what the daemons held and whether the kernel killed any is
   * reported per cluster. Absent: no limit (and in runs before it was a setting).
   */
  readonly memoryLimitBytes?: number;
}

/** The code warm-up's bounds for one kind of traffic (bench/lib/warmup.ts). */
export function codeWarmupLimits(settings: BenchSettings): { minMs: number; maxMs: number } {
  const minMs = settings.codeWarmupMs ?? 0;
  return { minMs, maxMs: Math.max(minMs, settings.codeWarmupMaxMs ?? minMs) };
}

/** The rest before the idle window in runs before idleSettleMs was a setting. */
const IDLE_SETTLE_BEFORE_THE_SETTING_MS = 2000;

/** The rest before the idle window, counted from the cluster's last membership change. */
export function idleSettleMs(settings: BenchSettings): number {
  return settings.idleSettleMs ?? IDLE_SETTLE_BEFORE_THE_SETTING_MS;
}

export const FULL_SETTINGS: BenchSettings = {
  warmupMs: 1000,
  measureMs: 3000,
  repeats: 3,
  clusterSizes: [2, 8, 32],
  inFlights: [1, 64],
  payloadBytes: [100, 16 * 1024],
  joinSizes: [8, 32],
  failureSizes: [8, 32],
  multiHop: { nodes: 32, leafSetSize: 4 },
  socketSizes: [8],
  embeddedSizes: [8],
  kv: { nodes: 8, keys: 1000 },
  // Send on 8 fresh daemons reached its steady rate after about 20 s of traffic (the kinds share most of
  // their code, so each one's warm-up adds to the others'); on 32, where each daemon sees a quarter as
  // many messages, it was still falling after 15 s (3,684 -> 1,951 µs per message).
  codeWarmupMs: 15_000,
  codeWarmupMaxMs: 60_000,
  idleMs: 30_000,
  // Freshly started daemons are still busy for some 30 s after their last join: V8's start-up collections
  // (the memory reducer's come about 30 s after start) and the tables' first maintenance rounds. An idle
  // window 2 s after the joins read 0.49 % of a core per daemon where a settled one reads 0.14 % (26ed892).
  idleSettleMs: 45_000,
  // One join at a time: at a997ac0, 2 of 4 nodes joining a 22-node ring together never completed
  // their join (62 s, retried); the join figure itself is always a single node joining.
  startBatch: 1,
  runtime: "compiled",
};
