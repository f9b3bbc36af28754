// Re-replication and handover: after a leaf-set change (the ownership epochs' trigger) every held key's
// replica set is recomputed; members missing the key's current version are sent it, and a node that is no
// longer a member hands the key over and then drops it. Paced: at most `keysPerSecond` keys are checked per
// second, so a change costs each node a bounded rate of Fetch and Replicate traffic.
import type { NodeInfo } from "../../routing/types.js";
import { supersedes, type KvRecord } from "../../kv/record.js";
import { isMember } from "../../kv/replica-set.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { batchRecords, chunks, MAX_RECORDS_PER_REQUEST } from "./batches.js";
import { holderKey, type KvOverlay } from "./overlay.js";
import type { KvPeers } from "./peer-client.js";
import type { Placement } from "./placement.js";
import type { MemoryKvStore } from "./store.js";
import { decodeRecord, encodeRecord, idBytes } from "./wire.js";

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
  /** Keys whose current version every member of the replica set (with this signature) holds. */
  private readonly placed = new Map<string, string>();
  private readonly urgent = new Set<string>();
  private pass: string[] = [];
  private passDue = true;
  private lastPassAt = 0;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly overlay: KvOverlay,
    private readonly store: MemoryKvStore,
    private readonly peers: KvPeers,
    private readonly placement: Placement,
    private readonly options: ReplicatorOptions,
    private readonly hooks: ReplicatorHooks,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.step(), this.options.tickMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The leaf set changed: check every key again. */
  membershipChanged(): void {
    this.passDue = true;
  }

  /** A coordinator's write reached every member (recorded as placed) or not (checked again soon). */
  written(record: KvRecord, set: readonly NodeInfo[], everywhere: boolean): void {
    const hex = record.key.hex;
    const placed = this.placement.of(record.key);
    if (everywhere && placed.signature === set.map(holderKey).join(",")) {
      this.placed.set(hex, placed.signature);
    } else {
      this.placed.delete(hex);
      this.urgent.add(hex);
    }
  }

  /** A record arrived from elsewhere (a write, a repair): whether the set holds it is unknown. */
  received(hex: string): void {
    this.placed.delete(hex);
  }

  /** Keys waiting to be checked: the replication lag, in keys. */
  get backlog(): number {
    return this.urgent.size + this.pass.length;
  }

  /** Runs one paced step now (tests; the timer does the same). */
  async step(): Promise<void> {
    if (this.busy || !this.overlay.ready()) return;
    this.busy = true;
    try {
      const now = performance.now();
      if (this.pass.length === 0 && (this.passDue || now - this.lastPassAt >= this.options.fullPassMs)) {
        this.passDue = false;
        this.lastPassAt = now;
        this.pass = this.store.hexKeys();
      }
      const budget = Math.max(1, Math.floor((this.options.keysPerSecond * this.options.tickMs) / 1000));
      const keys: string[] = [];
      for (const hex of this.urgent) {
        if (keys.length >= budget) break;
        this.urgent.delete(hex);
        keys.push(hex);
      }
      while (keys.length < budget && this.pass.length > 0) keys.push(this.pass.pop() as string);
      if (keys.length > 0) await this.check(keys);
    } finally {
      this.busy = false;
    }
  }

  private async check(hexKeys: readonly string[]): Promise<void> {
    const self = this.overlay.self();
    const byTarget = new Map<string, { node: NodeInfo; records: KvRecord[] }>();
    const pending = new Map<
      string,
      { record: KvRecord; member: boolean; signature: string; failed: boolean }
    >();
    for (const hex of hexKeys) {
      const record = this.store.getHex(hex);
      if (record === undefined) {
        this.placement.forget(hex);
        this.placed.delete(hex);
        continue;
      }
      const { set, signature } = this.placement.of(record.key);
      const member = isMember(self.id, set);
      if (member && this.placed.get(hex) === signature) continue;
      pending.set(hex, { record, member, signature, failed: false });
      for (const node of set) {
        if (node.id.equals(self.id)) continue;
        let entry = byTarget.get(node.id.hex);
        if (entry === undefined) byTarget.set(node.id.hex, (entry = { node, records: [] }));
        entry.records.push(record);
      }
    }
    await Promise.all(
      [...byTarget.values()].map(async ({ node, records }) => {
        const failedKeys = await this.bringUpToDate(node, records);
        for (const hex of failedKeys) {
          const p = pending.get(hex);
          if (p !== undefined) p.failed = true;
        }
      }),
    );
    for (const [hex, p] of pending) {
      if (p.failed) {
        this.urgent.add(hex);
        continue;
      }
      if (p.member) {
        this.placed.set(hex, p.signature);
      } else {
        // Every member holds this version or a newer one: the handover is complete.
        this.store.drop(p.record.key, p.record);
        this.placement.forget(hex);
        this.placed.delete(hex);
        this.hooks.repaired("handoff", 1);
      }
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
      const missing = group.filter((r) => supersedes(r, theirs.get(r.key.hex)));
      for (const batch of batchRecords(missing, this.options.maxBatchBytes)) {
        try {
          await this.peers.replicate(
            node,
            { sender, records: batch.map((r) => encodeRecord(r)) },
            this.options.replicaTimeoutMs,
          );
          this.hooks.repaired("re_replication", batch.length);
        } catch {
          failed.push(...batch.map((r) => r.key.hex));
        }
      }
    }
    return failed;
  }
}
