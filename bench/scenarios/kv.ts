// The key-value store's Put and Get on a cluster of real daemons (requests to random nodes' client ports,
// most of them owned elsewhere), and the same SET and GET against one Redis on loopback (Debian's
// redis-server, started here with persistence off) as the figure a user would compare with. Used by
// `make bench` (bench/harness.ts) and `make bench-kv` (bench/kv.ts).
import { existsSync } from "node:fs";
import type { BenchCluster } from "../lib/cluster.js";
import { DEFAULT_READ_SETTLE_AFTER_CHANGE_MS } from "../../src/server/kv/kv-node.js";
import { runLoad, sleep } from "../lib/load.js";
import { totalCpuSeconds } from "../lib/proc.js";
import { REDIS_SERVER, RedisProcess, RespClient } from "../lib/redis.js";
import { summarizeLatencies, type LatencySummary } from "../lib/stats.js";

/** Keys written before measuring, each read and overwritten at random (the default). */
export const KV_KEYS = 1000;
/** Keys written at once while preloading. */
const PRELOAD_BATCH = 10;
const PRELOAD_ATTEMPTS = 5;

export interface KvWindow {
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface KvRun {
  readonly perSecond: number;
  readonly latency: LatencySummary;
  /** Daemon CPU seconds (all nodes together) per operation; NaN for Redis. */
  readonly cpuSecondsPerOp: number;
  readonly failed: number;
  readonly latenciesMs: number[];
}

const keyName = (i: number): string => `bench-kv-${i}`;
const randomKey = (keys: number): string => keyName(Math.floor(Math.random() * keys));

/** Put and Get at random nodes of `cluster`, on `keys` keys of `valueBytes` written by `preload`. */
export class KvTraffic {
  private readonly value: Buffer;

  constructor(
    private readonly cluster: BenchCluster,
    valueBytes: number,
    private readonly keys = KV_KEYS,
  ) {
    this.value = Buffer.alloc(valueBytes, 7);
  }

  /**
   * Writes every key once, a few at a time (the cluster may be young and the machine loaded); a put that
   * fails (a replica too slow to answer in time on a crowded machine) is tried again, a few times at most.
   * Then waits until the membership has been unchanged for the nodes' read-settle window, so that the
   * windows measure a steady ring (right after a join or a failure, reads wait for every replica).
   */
  async preload(): Promise<void> {
    await this.write();
    await sleep(this.cluster.changedAt + DEFAULT_READ_SETTLE_AFTER_CHANGE_MS + 500 - performance.now());
  }

  private async write(): Promise<void> {
    const nodes = this.cluster.nodes;
    const put = async (i: number): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await nodes[i % nodes.length]!.client.kv.put(keyName(i), this.value, { timeoutMs: 30_000 });
          return;
        } catch (error) {
          if (attempt >= PRELOAD_ATTEMPTS) throw error;
        }
      }
    };
    for (let i = 0; i < this.keys; i += PRELOAD_BATCH)
      await Promise.all(Array.from({ length: Math.min(PRELOAD_BATCH, this.keys - i) }, (_, j) => put(i + j)));
  }

  measureGet(inFlight: number, window: KvWindow): Promise<KvRun> {
    return this.measure(inFlight, window, async () => {
      if ((await this.node().client.kv.get(randomKey(this.keys))) === undefined)
        throw new Error("a written key read as absent");
    });
  }

  measurePut(inFlight: number, window: KvWindow): Promise<KvRun> {
    return this.measure(inFlight, window, () => this.node().client.kv.put(randomKey(this.keys), this.value));
  }

  private node(): BenchCluster["nodes"][number] {
    const nodes = this.cluster.nodes;
    return nodes[Math.floor(Math.random() * nodes.length)]!;
  }

  private async measure(inFlight: number, window: KvWindow, op: () => Promise<unknown>): Promise<KvRun> {
    const pids = this.cluster.nodes.map((n) => n.pid);
    let cpuAtStart = 0;
    let cpuUsed = 0;
    const load = await runLoad(timed(op), {
      inFlight,
      ...window,
      onWindow: (edge) => {
        if (edge === "start") cpuAtStart = totalCpuSeconds(pids);
        else cpuUsed = totalCpuSeconds(pids) - cpuAtStart;
      },
    });
    return {
      perSecond: load.perSecond,
      latency: summarizeLatencies(load.latenciesMs),
      cpuSecondsPerOp: load.completed === 0 ? Number.NaN : cpuUsed / load.completed,
      failed: load.failed,
      latenciesMs: load.latenciesMs,
    };
  }
}

export interface RedisRuns {
  readonly get: ReadonlyMap<number, KvRun>;
  readonly set: ReadonlyMap<number, KvRun>;
}

/** GET and SET at each in-flight count against a Redis started here; undefined when none is installed. */
export async function measureRedis(
  inFlights: readonly number[],
  valueBytes: number,
  window: KvWindow,
  keys = KV_KEYS,
): Promise<RedisRuns | undefined> {
  if (!existsSync(REDIS_SERVER)) return undefined;
  const redis = await RedisProcess.start();
  const resp = await RespClient.connect(redis.port);
  const value = Buffer.alloc(valueBytes, 7);
  try {
    for (let i = 0; i < keys; i++) await resp.set(keyName(i), value);
    const get = new Map<number, KvRun>();
    const set = new Map<number, KvRun>();
    for (const n of inFlights) get.set(n, await measureLoad(n, window, () => resp.get(randomKey(keys))));
    for (const n of inFlights)
      set.set(n, await measureLoad(n, window, () => resp.set(randomKey(keys), value)));
    return { get, set };
  } finally {
    resp.close();
    await redis.stop();
  }
}

async function measureLoad(inFlight: number, window: KvWindow, op: () => Promise<unknown>): Promise<KvRun> {
  const load = await runLoad(timed(op), { inFlight, ...window });
  return {
    perSecond: load.perSecond,
    latency: summarizeLatencies(load.latenciesMs),
    cpuSecondsPerOp: Number.NaN,
    failed: load.failed,
    latenciesMs: load.latenciesMs,
  };
}

function timed(op: () => Promise<unknown>): () => Promise<number> {
  return async () => {
    const started = performance.now();
    await op();
    return performance.now() - started;
  };
}
