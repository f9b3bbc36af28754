// One simulated node's key-value replica: its records, and the replication protocol's two background
// loops, re-replication and anti-entropy, driven by the very decisions the runtime uses (src/kv/
// re-replication.ts, reconcile.ts, placement.ts, batches.ts) over the node's own routing view (its
// machine's leaf set and replicaCandidates()). Only the sending differs: messages cross the virtual network.
import type { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import { batchRecords, chunks, MAX_RECORDS_PER_REQUEST } from "../kv/batches.js";
import { digestOf } from "../kv/digest.js";
import { Placement } from "../kv/placement.js";
import { lacking, ReplicationTracker } from "../kv/re-replication.js";
import { recordBytes, supersedes, type KvRecord } from "../kv/record.js";
import {
  answerDigest,
  antiEntropyPartners,
  reconcilePlan,
  sharedRecords,
  type DigestAnswer,
} from "../kv/reconcile.js";
import type { SimNode } from "./sim-node.js";
import {
  BUCKET_HASH_BYTES,
  KEY_BYTES,
  MESSAGE_OVERHEAD_BYTES,
  RECORD_HEADER_BYTES,
  VERSION_BYTES,
  type KvWork,
} from "./kv-traffic.js";

export interface SimKvConfig {
  /** k */
  readonly replicas: number;
  /** W */
  readonly writeQuorum: number;
  /** R */
  readonly readQuorum: number;
  /** Keys re-replication checks per second per node at most (the runtime's repairKeysPerSecond). */
  readonly repairKeysPerSecond: number;
  /** How often a node's re-replication step runs (the runtime: 100 ms; coarser here to save events). */
  readonly tickMs: number;
  /** A full re-replication pass at least this often. */
  readonly fullPassMs: number;
  readonly antiEntropyIntervalMs: number;
  readonly antiEntropyMaxRecords: number;
  /** How long a call to a silent host takes to fail. */
  readonly replicaTimeoutMs: number;
  readonly maxBatchBytes: number;
}

export const DEFAULT_SIM_KV_CONFIG: SimKvConfig = {
  replicas: 3,
  writeQuorum: 2,
  readQuorum: 2,
  repairKeysPerSecond: 2000,
  tickMs: 500,
  fullPassMs: 30_000,
  antiEntropyIntervalMs: 1000,
  antiEntropyMaxRecords: 512,
  replicaTimeoutMs: 2000,
  maxBatchBytes: 2 * 1024 * 1024,
};

/**
 * Sends a request of `bytes` to `to`; `serve` runs there on arrival (if it is up and joined) and returns the
 * answer and its size; `done` runs back at the sender with the answer, or undefined if the call failed.
 */
export type KvCall = <T>(
  from: SimKvNode,
  to: NodeInfo,
  work: KvWork,
  bytes: number,
  serve: (target: SimKvNode) => { readonly answer: T; readonly bytes: number },
  done: (answer: T | undefined) => void,
) => void;

/** How a simulated replica reaches another: one request and its answer over the virtual network. */
export interface KvNet {
  readonly now: number;
  readonly call: KvCall;
  /** The node now holds `record` (for the layer's index of holders). */
  stored(node: SimKvNode, record: KvRecord): void;
  dropped(node: SimKvNode, record: KvRecord): void;
}

export class SimKvNode {
  readonly store = new Map<string, KvRecord>();
  readonly placement: Placement;
  readonly tracker: ReplicationTracker;
  private turn = 0;
  private replicating = false;
  private reconciling = false;
  private lastRoundAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly sim: SimNode,
    private readonly net: KvNet,
    private readonly config: SimKvConfig,
  ) {
    this.placement = new Placement(() => sim.machine.replicaCandidates(), config.replicas);
    this.tracker = new ReplicationTracker(this.placement, config.fullPassMs);
  }

  get id(): NodeId {
    return this.sim.info.id;
  }

  get ready(): boolean {
    return this.sim.state === "ready";
  }

  /** Keeps `record` if it is newer than what is held (the conflict rule); whether it was kept. */
  apply(record: KvRecord): boolean {
    if (!supersedes(record, this.store.get(record.key.hex))) return false;
    this.store.set(record.key.hex, record);
    this.net.stored(this, record);
    return true;
  }

  /** The node stopped: what it held is gone with it. */
  wipe(): void {
    for (const record of this.store.values()) this.net.dropped(this, record);
    this.store.clear();
  }

  /** One tick: a re-replication step (a pass when the view changed), an anti-entropy round. */
  tick(): void {
    if (!this.ready) return;
    if (!this.replicating) this.replicationStep();
    if (!this.reconciling && this.net.now - this.lastRoundAt >= this.config.antiEntropyIntervalMs) {
      this.lastRoundAt = this.net.now;
      this.antiEntropyRound();
    }
  }

  // ---- Re-replication (the runtime's KvReplicator.step) -----------------------------------------------

  private replicationStep(): void {
    const budget = Math.max(1, Math.floor((this.config.repairKeysPerSecond * this.config.tickMs) / 1000));
    const keys = this.tracker.nextKeys(this.net.now, () => [...this.store.keys()], budget);
    if (keys.length === 0) return;
    const plan = this.tracker.plan(this.id, keys, (hex) => this.store.get(hex));
    if (plan.targets.length === 0) {
      this.finishStep(plan, new Set());
      return;
    }
    this.replicating = true;
    const failed = new Set<string>();
    const groups = plan.targets.flatMap(({ node, records }) =>
      chunks(records, MAX_RECORDS_PER_REQUEST).map((group) => ({ node, group })),
    );
    const finished = countdown(groups.length, () => {
      this.replicating = false;
      this.finishStep(plan, failed);
    });
    for (const { node, group } of groups) this.bringUpToDate(node, group, failed, finished);
  }

  private finishStep(plan: Parameters<ReplicationTracker["settle"]>[0], failed: Set<string>): void {
    for (const record of this.tracker.settle(plan, failed)) this.drop(record);
  }

  /** Versions-only Fetch, then Replicate of what the member lacks (the runtime's bringUpToDate). */
  private bringUpToDate(
    node: NodeInfo,
    group: readonly KvRecord[],
    failed: Set<string>,
    done: () => void,
  ): void {
    const fail = (records: readonly KvRecord[]): void => {
      for (const r of records) failed.add(r.key.hex);
    };
    this.net.call(
      this,
      node,
      "re_replication",
      MESSAGE_OVERHEAD_BYTES + KEY_BYTES * group.length,
      (target) => {
        const theirs = new Map<string, KvRecord>();
        for (const r of group) {
          const held = target.store.get(r.key.hex);
          if (held !== undefined) theirs.set(r.key.hex, held);
        }
        return { answer: theirs, bytes: MESSAGE_OVERHEAD_BYTES + RECORD_HEADER_BYTES * theirs.size };
      },
      (theirs) => {
        if (theirs === undefined) {
          fail(group);
          return done();
        }
        this.send(node, lacking(group, theirs), "re_replication", (lost) => {
          fail(lost);
          done();
        });
      },
    );
  }

  /** Replicate requests in batches (the runtime's sendRecords); `done` gets the records not confirmed. */
  private send(
    node: NodeInfo,
    records: readonly KvRecord[],
    work: KvWork,
    done: (failed: readonly KvRecord[]) => void,
  ): void {
    const batches = batchRecords(records, this.config.maxBatchBytes);
    const failed: KvRecord[] = [];
    const finished = countdown(batches.length, () => done(failed));
    for (const batch of batches) {
      const bytes = batch.reduce((sum, r) => sum + recordBytes(r) + RECORD_HEADER_BYTES - 40, 0);
      this.net.call(
        this,
        node,
        work,
        MESSAGE_OVERHEAD_BYTES + bytes,
        (target) => {
          for (const r of batch) if (target.apply(r)) target.tracker.received(r.key.hex);
          return { answer: true, bytes: MESSAGE_OVERHEAD_BYTES + VERSION_BYTES * batch.length };
        },
        (ok) => {
          if (ok === undefined) failed.push(...batch);
          finished();
        },
      );
    }
  }

  private drop(record: KvRecord): void {
    const held = this.store.get(record.key.hex);
    if (held === undefined || supersedes(held, record)) return;
    this.store.delete(record.key.hex);
    this.net.dropped(this, held);
  }

  // ---- Anti-entropy (the runtime's KvAntiEntropy.round) -------------------------------------------------

  private antiEntropyRound(): void {
    const partners = antiEntropyPartners(this.sim.machine.leafSet(), this.config.replicas);
    if (partners.length === 0) return;
    const partner = partners[this.turn++ % partners.length] as NodeInfo;
    const max = this.config.antiEntropyMaxRecords;
    const mine = sharedRecords(this.id, partner.id, this.store.values(), this.placement);
    const buckets = digestOf(mine);
    this.reconciling = true;
    this.net.call<DigestAnswer>(
      this,
      partner,
      "anti_entropy",
      MESSAGE_OVERHEAD_BYTES + BUCKET_HASH_BYTES * buckets.length,
      (target) => {
        const theirs = sharedRecords(target.id, this.id, target.store.values(), target.placement);
        const answer = answerDigest(theirs, buckets, max);
        const bytes = MESSAGE_OVERHEAD_BYTES + 2 * answer.completeBuckets.length;
        return { answer, bytes: bytes + RECORD_HEADER_BYTES * answer.versions.length };
      },
      (answer) => {
        if (answer === undefined) {
          this.reconciling = false;
          return;
        }
        const plan = reconcilePlan(mine, answer, max);
        const pulls = chunks(plan.pull, MAX_RECORDS_PER_REQUEST);
        const finished = countdown(pulls.length + 1, () => {
          this.reconciling = false;
        });
        for (const keys of pulls) this.pull(partner, keys, finished);
        this.send(partner, plan.push, "anti_entropy", finished);
      },
    );
  }

  private pull(partner: NodeInfo, keys: readonly NodeId[], done: () => void): void {
    this.net.call(
      this,
      partner,
      "anti_entropy",
      MESSAGE_OVERHEAD_BYTES + KEY_BYTES * keys.length,
      (target) => {
        const records = keys.map((k) => target.store.get(k.hex)).filter((r) => r !== undefined);
        const bytes = records.reduce((sum, r) => sum + recordBytes(r) + RECORD_HEADER_BYTES - 40, 0);
        return { answer: records, bytes: MESSAGE_OVERHEAD_BYTES + bytes };
      },
      (records) => {
        for (const r of records ?? []) if (this.apply(r)) this.tracker.received(r.key.hex);
        done();
      },
    );
  }
}

/** A callback that runs `then` on its n-th call (at once for n = 0). */
function countdown(n: number, then: () => void): () => void {
  let left = n;
  if (left === 0) then();
  return () => {
    if (--left === 0) then();
  };
}
