// Membership scenarios on a live cluster: timed joins, a SIGKILLed node's repair, maintenance traffic at
// rest, and the daemons' resident memory.
import { randomBytes } from "node:crypto";
import { closestTo, NodeId } from "../../src/routing/id.js";
import type { BenchCluster, BenchNode } from "../lib/cluster.js";
import { httpGet, sumCounter } from "../lib/http.js";
import { sleep } from "../lib/load.js";
import { cpuSeconds, memoryParts } from "../lib/proc.js";
import type { Traffic } from "./traffic.js";

const POLL_MS = 50;
const REPAIR_TIMEOUT_MS = 30_000;
const PROBE_KEYS = 8;
const PROBE_TIMEOUT_MS = 1000;
/** Peer methods that carry application traffic; every other outgoing peer RPC is maintenance. */
const TRAFFIC_METHODS = new Set(["Route", "Ack", "RouteStream"]);

export interface JoinRun {
  /** `wendy start --join` spawned to /readyz answering 200. */
  readonly readyMs: number;
  /** Spawned to the "started" log line (process boot, before the join itself). */
  readonly bootMs: number;
  /** Started to ready: the join protocol itself. */
  readonly joinMs: number;
}

export interface FailureRun {
  /**
   * SIGKILL to the first survivor dropping the node from its leaf set: when its leaf set changed (the time it
   * logged the node's exit), not when a Status poll noticed it (see waitUntilNobodyLists).
   */
  readonly firstDetectedMs: number;
  /** SIGKILL to the last survivor dropping it, timed the same way: no survivor lists it any more. */
  readonly repairedMs: number;
  /** SIGKILL to the first round of probes to its keys all delivered by their new owners. */
  readonly deliveryCorrectMs: number;
  /**
   * From the survivors' own logs (the time each logged the node's failure, which is when it left that
   * survivor's leaf set): SIGKILL to the first and to the last. Unlike the figures above these do not wait
   * for a Status answer, which a loaded machine delays. NaN when a survivor logged no failure.
   */
  readonly loggedFirstMs: number;
  readonly loggedLastMs: number;
  /** What went wrong when a figure could not be measured (NaN then), e.g. a survivor that crashed. */
  readonly problems: readonly string[];
}

export interface MemoryFigures {
  readonly idleRssBytes: number;
  /** Of it, pages of the Node.js executable, and the daemons' own anonymous memory (means over nodes). */
  readonly idleExecutableBytes: number;
  readonly idleAnonymousBytes: number;
  /** Peers each node knows (leaf set, routing table, neighbourhood), from Status; mean over nodes. */
  readonly knownPeers: number;
}

/**
 * Times the cluster's last node joining: starts it, waits for /readyz, then makes it leave gracefully
 * (except on the last repeat) so that every repeat joins a cluster of the same size.
 */
export async function timeJoins(cluster: BenchCluster, repeats: number): Promise<JoinRun[]> {
  const runs: JoinRun[] = [];
  for (let i = 0; i < repeats; i++) {
    const { node, timing } = await cluster.startNode();
    runs.push({ readyMs: timing.readyMs, bootMs: timing.bootMs, joinMs: timing.readyMs - timing.bootMs });
    if (i < repeats - 1) {
      await cluster.leave(node);
      await waitUntilNobodyLists(cluster.nodes, node.id, REPAIR_TIMEOUT_MS, {
        at: performance.now(),
        wallAt: Date.now(),
      });
    }
  }
  return runs;
}

/** Kills one node (not the seed) with SIGKILL and times leaf-set repair and correct delivery. */
export async function timeFailure(cluster: BenchCluster, traffic: Traffic): Promise<FailureRun> {
  const victim = cluster.nodes[Math.floor(cluster.nodes.length / 2)]!;
  const victimKeys = keysOwnedBy(victim, cluster.nodes, PROBE_KEYS);
  const killedAt = performance.now();
  const killedAtWall = Date.now();
  await cluster.kill(victim);
  traffic.chooseKeys();
  const survivors = [...cluster.nodes];
  const problems: string[] = [];
  const noted = (error: unknown): undefined => void problems.push(String(error));
  const [repair, deliveryCorrectMs] = await Promise.all([
    waitUntilNobodyLists(survivors, victim.id, REPAIR_TIMEOUT_MS, {
      at: killedAt,
      wallAt: killedAtWall,
    }).catch(noted),
    probeUntilCorrect(traffic, survivors, victimKeys, killedAt).catch(noted),
  ]);
  const crashed = survivors.filter((n) => !n.process.running).map((n) => n.name);
  if (crashed.length > 0) problems.push(`survivors that exited during the recovery: ${crashed.join(", ")}`);
  const logged = survivors.map((n) => loggedFailureAt(n, victim.id.hex, killedAtWall) - killedAtWall);
  return {
    firstDetectedMs: repair?.firstMs ?? Number.NaN,
    repairedMs: repair?.allMs ?? Number.NaN,
    deliveryCorrectMs: deliveryCorrectMs ?? Number.NaN,
    loggedFirstMs: Math.min(...logged),
    loggedLastMs: Math.max(...logged),
    problems,
  };
}

/** When `node` logged the failure of the node `hex` at or after `since` (wall ms); NaN if it did not. */
function loggedFailureAt(node: BenchNode, hex: string, since: number): number {
  const line = node.process.logLines.find(
    (l) => l.event === "peer_failed" && l.peer === hex && typeof l.time === "number" && l.time >= since,
  );
  return typeof line?.time === "number" ? line.time : Number.NaN;
}

export interface IdleFigures {
  /** Outgoing maintenance RPCs per node per second while the cluster carries no traffic. */
  readonly maintenancePerNodePerSecond: number;
  /** The same by peer method (heartbeat, probe, leafSet, ...). */
  readonly maintenanceByMethod: Readonly<Record<string, number>>;
  /** Each daemon's CPU time over the idle window as a percentage of one core, in cluster order. */
  readonly cpuPercent: readonly number[];
}

/**
 * Watches the cluster at rest for `idleMs`: maintenance RPCs from the metrics counters, and each daemon's
 * CPU time from /proc (so that load from other processes on the machine does not count). The CPU window lies
 * inside the two scrapes, so the scrapes themselves are not counted.
 */
export async function idleFigures(cluster: BenchCluster, idleMs: number): Promise<IdleFigures> {
  const count = async (): Promise<Map<string, number>> => {
    const bodies = await Promise.all(cluster.nodes.map((n) => httpGet(`${n.metricsUrl}/metrics`)));
    const byMethod = new Map<string, number>();
    for (const b of bodies) {
      for (const method of methodsIn(b.body)) {
        if (TRAFFIC_METHODS.has(method)) continue;
        const n = sumCounter(
          b.body,
          "wendy_peer_rpcs_total",
          (l) => l.side === "client" && l.method === method,
        );
        byMethod.set(method, (byMethod.get(method) ?? 0) + n);
      }
    }
    return byMethod;
  };
  const before = await count();
  const started = performance.now();
  const cpuBefore = cluster.nodes.map((n) => cpuSeconds(n.pid));
  await sleep(idleMs);
  const cpuSecondsUsed = cluster.nodes.map((n, i) => cpuSeconds(n.pid) - cpuBefore[i]!);
  const cpuWindowSeconds = (performance.now() - started) / 1000;
  const after = await count();
  const perNodePerSecond = (cluster.nodes.length * (performance.now() - started)) / 1000;
  const maintenanceByMethod: Record<string, number> = {};
  let total = 0;
  for (const [method, n] of after) {
    const rate = (n - (before.get(method) ?? 0)) / perNodePerSecond;
    if (rate > 0) maintenanceByMethod[method] = rate;
    total += rate;
  }
  return {
    maintenancePerNodePerSecond: total,
    maintenanceByMethod,
    cpuPercent: cpuSecondsUsed.map((s) => (100 * s) / cpuWindowSeconds),
  };
}

/** The method labels of wendy_peer_rpcs_total in an exposition. */
function methodsIn(exposition: string): Set<string> {
  const methods = new Set<string>();
  for (const match of exposition.matchAll(/^wendy_peer_rpcs_total\{[^}]*method="([^"]+)"/gm))
    methods.add(match[1]!);
  return methods;
}

export async function memoryFigures(cluster: BenchCluster): Promise<MemoryFigures> {
  const statuses = await Promise.all(cluster.nodes.map((n) => n.client.status()));
  const parts = cluster.nodes.map((n) => memoryParts(n.pid));
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    idleRssBytes: mean(parts.map((p) => p.rssBytes)),
    idleExecutableBytes: mean(parts.map((p) => p.executableBytes)),
    idleAnonymousBytes: mean(parts.map((p) => p.anonymousBytes)),
    knownPeers: mean(statuses.map(distinctPeers)),
  };
}

function distinctPeers(status: Awaited<ReturnType<BenchNode["client"]["status"]>>): number {
  const ids = new Set<string>();
  for (const n of [...status.leafSetLeft, ...status.leafSetRight, ...status.neighbourhood]) ids.add(n.id.hex);
  for (const row of status.routingTable) for (const n of row.entries) ids.add(n.id.hex);
  return ids.size;
}

function keysOwnedBy(owner: BenchNode, nodes: readonly BenchNode[], count: number): NodeId[] {
  const keys: NodeId[] = [];
  for (let attempt = 0; keys.length < count && attempt < count * 10_000; attempt++) {
    const key = NodeId.fromBytes(randomBytes(16));
    if (closestTo(key, nodes) === owner) keys.push(key);
  }
  if (keys.length < count) throw new Error(`found only ${keys.length} keys owned by ${owner.name}`);
  return keys;
}

/** When a node departed or was killed: on the bench's monotonic clock, and on the wall clock logs carry. */
interface Moment {
  readonly at: number;
  readonly wallAt: number;
}

/**
 * Waits until no node in `nodes` lists `gone` in its leaf set, and times when each stopped listing it: the
 * moment its leaf set changed, read from its log (the exit of `gone` is logged, with the daemon's own
 * clock, by the very input that took it out of the leaf set), not the moment a Status poll noticed. Polls
 * go every POLL_MS and a Status answer is slow on a loaded machine: timed by the poll, a node that dropped
 * the dead node at once could count as still listing it for as long as its answer took. The poll only
 * decides that a node is done. A node whose log names no such exit is timed by the poll that found it done
 * if an earlier answer listed `gone` (it dropped it without an exit: evicted by a nearer node), and not
 * counted if none did (it never held it).
 */
async function waitUntilNobodyLists(
  nodes: readonly BenchNode[],
  gone: NodeId,
  timeoutMs: number,
  since: Moment,
): Promise<{ firstMs: number; allMs: number }> {
  const still = new Set(nodes);
  const silent = new Set<BenchNode>();
  /** When the poll found each node done, ms after `since`. */
  const polledDoneMs = new Map<BenchNode, number>();
  /** Nodes seen listing `gone` in some answer (the others may never have held it). */
  const sawListing = new Set<BenchNode>();
  while (performance.now() - since.at < timeoutMs) {
    await Promise.all(
      [...still].map(async (node) => {
        const status = await node.client.status({ deadlineMs: 2000 }).catch(() => undefined);
        if (status === undefined) {
          silent.add(node);
          return;
        }
        silent.delete(node);
        const listed = [...status.leafSetLeft, ...status.leafSetRight].some((n) => n.id.equals(gone));
        if (listed) {
          sawListing.add(node);
          return;
        }
        still.delete(node);
        polledDoneMs.set(node, performance.now() - since.at);
      }),
    );
    if (still.size === 0) {
      // The log line was written before the Status answer, but its pipe may be read a moment later.
      await sleep(POLL_MS);
      const doneMs: number[] = [];
      for (const [node, polledMs] of polledDoneMs) {
        const changedAt = loggedExitAt(node, gone.hex, since.wallAt);
        if (!Number.isNaN(changedAt)) doneMs.push(changedAt - since.wallAt);
        else if (sawListing.has(node)) doneMs.push(polledMs);
      }
      // NaN when no node ever held it.
      return doneMs.length === 0
        ? { firstMs: Number.NaN, allMs: Number.NaN }
        : { firstMs: Math.min(...doneMs), allMs: Math.max(...doneMs) };
    }
    await sleep(POLL_MS);
  }
  throw new Error(
    `${still.size - silent.size} node(s) still list ${gone.hex} after ${timeoutMs} ms, ` +
      `${silent.size} did not answer their last Status`,
  );
}

/**
 * When `node` last logged the exit of the node `hex` (found dead, or left) at or after `since` (wall ms): the
 * time its leaf set dropped it. NaN if it logged none.
 */
function loggedExitAt(node: BenchNode, hex: string, since: number): number {
  const lines = node.process.logLines;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (
      (l.event === "peer_failed" || l.event === "peer_left") &&
      l.peer === hex &&
      typeof l.time === "number"
    )
      return l.time >= since ? l.time : Number.NaN;
  }
  return Number.NaN;
}

/** Rounds of probes to the dead node's keys, each entered at another survivor, until a round is all correct. */
async function probeUntilCorrect(
  traffic: Traffic,
  survivors: readonly BenchNode[],
  keys: readonly NodeId[],
  since: number,
): Promise<number> {
  let round = 0;
  let lastError = "";
  while (performance.now() - since < REPAIR_TIMEOUT_MS) {
    const sentAt = performance.now() - since;
    const results = await Promise.allSettled(
      keys.map((key, i) =>
        withTimeout(traffic.sendOnce(survivors[(round + i) % survivors.length]!, key, 16), PROBE_TIMEOUT_MS),
      ),
    );
    if (results.every((r) => r.status === "fulfilled")) return sentAt;
    const failed = results.find((r) => r.status === "rejected");
    lastError = failed === undefined ? "" : String(failed.reason);
    round++;
    await sleep(POLL_MS);
  }
  throw new Error(
    `delivery to the dead node's keys not correct within ${REPAIR_TIMEOUT_MS} ms (last: ${lastError})`,
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no delivery within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
