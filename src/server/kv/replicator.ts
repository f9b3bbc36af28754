// Re-replication and handover: after a change of the node's view (a leaf-set change, the ownership epochs'
// trigger, or a suspicion raised or cleared) every held key's replica set is recomputed; members missing the key's current version are sent it, and a node that is no
// longer a member hands the key over and then drops it. Paced: at most `keysPerSecond` keys are checked per
// second, so a change costs each node a bounded rate of Fetch and Replicate traffic. The decisions (which
// keys, to whom, what follows) are src/kv/re-replication.ts, shared with the simulator; this module sends.
import type { NodeInfo } from "../../routing/types.js";
import type { KvRecord } from "../../kv/record.js";
import { chunks, MAX_RECORDS_PER_REQUEST } from "../../kv/batches.js";
import type { Placement } from "../../kv/placement.js";
import { lacking, ReplicationTracker } from "../../kv/re-replication.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { KvOverlay } from "./overlay.js";
import type { KvPeers } from "./peer-client.js";
import { PeriodicRound } from "./periodic-round.js";
import { sendRecords } from "./send-records.js";
import type { MemoryKvStore } from "./store.js";
import { decodeRecord, idBytes } from "./wire.js";

export interface ReplicatorOptions {
  /** Keys checked per second at most (each may cost a record sent to each member missing it). */
  readonly keysPerSecond: number;
  /** How often a paced step runs. */
  readonly tickMs: number;
  /** Every this long a full pass runs even without a leaf-set change (a safety net behind anti-entropy). */
  readonly fullPassMs: number;
  readonly replicaTimeoutMs: number;
  /** Bytes of records per Replicate request, at most. */
  readonly maxBatchBytes: number;
}

export interface ReplicatorHooks {
  /** Records sent to members that lacked them (re-replication) or handed over before a drop. */
  repaired(kind: "re_replication" | "handoff", count: number): void;
}

export class KvReplicator {
  private readonly tracker: ReplicationTracker;
  private readonly steps: PeriodicRound<void>;

  constructor(
    private readonly overlay: KvOverlay,
    private readonly store: MemoryKvStore,
    private readonly peers: KvPeers,
    placement: Placement,
    private readonly options: ReplicatorOptions,
    private readonly hooks: ReplicatorHooks,
  ) {
    this.tracker = new ReplicationTracker(placement, options.fullPassMs);
    this.steps = new PeriodicRound(
      options.tickMs,
      () => overlay.ready(),
      () => this.pacedStep(),
      undefined,
    );
  }

  start(): void {
    this.steps.start();
  }

  stop(): void {
    this.steps.stop();
  }

  /** A coordinator's write reached every member (recorded as placed) or not (checked again soon). */
  written(record: KvRecord, set: readonly NodeInfo[], everywhere: boolean): void {
    this.tracker.written(record.key, set, everywhere);
    this.steps.wake();
  }

  /** A record arrived from elsewhere (a write, a repair): whether the set holds it is unknown. */
  received(hex: string): void {
    this.tracker.received(hex);
    this.steps.wake();
  }

  /** Keys waiting to be checked: the replication lag, in keys. */
  get backlog(): number {
    return this.tracker.backlog;
  }

  /** Runs one paced step now (tests; the timer does the same). */
  step(): Promise<void> {
    return this.steps.run();
  }

  private async pacedStep(): Promise<void> {
    const budget = Math.max(1, Math.floor((this.options.keysPerSecond * this.options.tickMs) / 1000));
    const keys = this.tracker.nextKeys(performance.now(), () => this.store.hexKeys(), budget);
    if (keys.length > 0) await this.check(keys);
    // Nothing held and nothing to check: steps would only wake an idle node ten times a second. A record
    // arriving (written, received) wakes them; the sleep's end anyway, as often as full passes come.
    if (this.store.size === 0 && this.tracker.backlog === 0) this.steps.sleep(this.options.fullPassMs);
  }

  private async check(hexKeys: readonly string[]): Promise<void> {
    const plan = this.tracker.plan(this.overlay.self().id, hexKeys, (hex) => this.store.getHex(hex));
    const failed = new Set<string>();
    await Promise.all(
      plan.targets.map(async ({ node, records }) => {
        for (const hex of await this.bringUpToDate(node, records)) failed.add(hex);
      }),
    );
    for (const record of this.tracker.settle(plan, failed)) {
      this.store.drop(record.key, record);
      this.hooks.repaired("handoff", 1);
    }
  }

  /** Sends `node` the records it lacks or holds older; returns the keys that could not be confirmed. */
  private async bringUpToDate(node: NodeInfo, records: readonly KvRecord[]): Promise<string[]> {
    const sender = encodeNodeInfo(this.overlay.self());
    const failed: string[] = [];
    for (const group of chunks(records, MAX_RECORDS_PER_REQUEST)) {
      let theirs: Map<string, KvRecord>;
      try {
        const answer = await this.peers.fetch(
          node,
          { sender, keys: group.map((r) => idBytes(r.key)), versionsOnly: true },
          this.options.replicaTimeoutMs,
        );
        theirs = new Map(
          answer.records.map((r, i) => {
            const decoded = decodeRecord(r, `records[${i}]`, Number.MAX_SAFE_INTEGER);
            return [decoded.key.hex, decoded];
          }),
        );
      } catch {
        failed.push(...group.map((r) => r.key.hex));
        continue;
      }
      const result = await sendRecords(this.peers, node, sender, lacking(group, theirs), {
        maxBatchBytes: this.options.maxBatchBytes,
        timeoutMs: this.options.replicaTimeoutMs,
      });
      if (result.sent > 0) this.hooks.repaired("re_replication", result.sent);
      failed.push(...result.failed);
    }
    return failed;
  }
}
