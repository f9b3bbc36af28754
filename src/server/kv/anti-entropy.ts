// Anti-entropy: every interval this node compares, with one of the nodes it shares keys with (its leaf-set
// neighbours up to k-1 places away on each side, in turn), digests of the keys both should hold; it pulls
// the records of the differing buckets that the other holds newer, and pushes those it holds newer. At most
// `maxRecords` versions listed and as many records moved per round: a bounded cost per node per second.
import type { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import { DIGEST_BUCKETS, bucketOf, differingBuckets, digestOf } from "../../kv/digest.js";
import { supersedes, type KvRecord } from "../../kv/record.js";
import type { DigestRequest, DigestResponse } from "../../gen/wendy/v1/kv_peer.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import { batchRecords, chunks, MAX_RECORDS_PER_REQUEST } from "./batches.js";
import type { KvOverlay } from "./overlay.js";
import type { KvPeers } from "./peer-client.js";
import type { Placement } from "./placement.js";
import type { MemoryKvStore } from "./store.js";
import { decodeRecord, encodeRecord, idBytes } from "./wire.js";

export interface AntiEntropyOptions {
  readonly intervalMs: number;
  /** Versions listed, and records moved each way, per round at most. */
  readonly maxRecords: number;
  readonly replicaTimeoutMs: number;
  readonly maxBatchBytes: number;
  /** k: neighbours up to k-1 places away share keys with this node. */
  readonly replicas: number;
}

export interface AntiEntropyHooks {
  repaired(count: number): void;
  /** A record was stored here by a repair. */
  received(record: KvRecord): void;
}

export class KvAntiEntropy {
  private turn = 0;
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly overlay: KvOverlay,
    private readonly store: MemoryKvStore,
    private readonly peers: KvPeers,
    private readonly placement: Placement,
    private readonly options: AntiEntropyOptions,
    private readonly hooks: AntiEntropyHooks,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.round(), this.options.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The nodes that share keys with this one: up to k-1 leaf-set places away on each side. */
  partners(): NodeInfo[] {
    const { left, right } = this.overlay.leafSet();
    const reach = this.options.replicas - 1;
    const out: NodeInfo[] = [];
    for (let i = 0; i < reach; i++) {
      const l = left[i];
      const r = right[i];
      if (r !== undefined) out.push(r);
      if (l !== undefined && !out.some((n) => n.id.equals(l.id))) out.push(l);
    }
    return out;
  }

  /** One round with the next partner (tests; the timer does the same). */
  async round(): Promise<void> {
    if (this.busy || !this.overlay.ready()) return;
    const partners = this.partners();
    if (partners.length === 0) return;
    const partner = partners[this.turn++ % partners.length] as NodeInfo;
    this.busy = true;
    try {
      await this.reconcile(partner);
    } catch {
      // An unreachable partner is tried again on its next turn.
    } finally {
      this.busy = false;
    }
  }

  /** The records this node holds that `peer` should hold too (both are in the key's replica set). */
  private shared(peer: NodeInfo): KvRecord[] {
    const self = this.overlay.self();
    const out: KvRecord[] = [];
    for (const record of this.store.all()) {
      const set = this.placement.of(record.key).set;
      if (set.some((n) => n.id.equals(peer.id)) && set.some((n) => n.id.equals(self.id))) out.push(record);
    }
    return out;
  }

  /** The partner's side of a round: its versions in the buckets whose digests differ. */
  answer(sender: NodeInfo, request: DigestRequest): DigestResponse {
    if (request.buckets.length !== DIGEST_BUCKETS)
      throw new WireFormatError(
        "buckets",
        `must hold exactly ${DIGEST_BUCKETS} hashes, got ${request.buckets.length}`,
      );
    const mine = this.shared(sender);
    const differing = differingBuckets(request.buckets, digestOf(mine));
    const byBucket = new Map<number, KvRecord[]>(differing.map((b) => [b, []]));
    for (const r of mine) byBucket.get(bucketOf(r.key.hex))?.push(r);
    const completeBuckets: number[] = [];
    const versions: KvRecord[] = [];
    for (const b of differing) {
      const records = byBucket.get(b) ?? [];
      if (versions.length + records.length > this.options.maxRecords) break;
      completeBuckets.push(b);
      versions.push(...records);
    }
    return { completeBuckets, versions: versions.map((r) => encodeRecord(r, false)) };
  }

  private async reconcile(partner: NodeInfo): Promise<void> {
    const sender = encodeNodeInfo(this.overlay.self());
    const mine = this.shared(partner);
    const response = await this.peers.digest(
      partner,
      { sender, buckets: digestOf(mine) },
      this.options.replicaTimeoutMs,
    );
    const theirs = new Map<string, KvRecord>();
    response.versions.slice(0, this.options.maxRecords).forEach((r, i) => {
      const decoded = decodeRecord(r, `versions[${i}]`, 0);
      theirs.set(decoded.key.hex, decoded);
    });
    const held = new Map(mine.map((r) => [r.key.hex, r]));
    // Pull what the partner holds newer (or alone).
    const pull: NodeId[] = [];
    for (const [hex, r] of theirs) if (supersedes(r, held.get(hex))) pull.push(r.key);
    let repaired = 0;
    for (const group of chunks(pull.slice(0, this.options.maxRecords), MAX_RECORDS_PER_REQUEST)) {
      const fetched = await this.peers.fetch(
        partner,
        { sender, keys: group.map(idBytes), versionsOnly: false },
        this.options.replicaTimeoutMs,
      );
      fetched.records.forEach((r, i) => {
        const record = decodeRecord(r, `records[${i}]`, Number.MAX_SAFE_INTEGER);
        if (!supersedes(record, this.store.get(record.key))) return;
        this.store.apply(record);
        this.hooks.received(record);
        repaired++;
      });
    }
    // Push what this node holds newer (or alone), in the buckets the partner listed completely.
    const complete = new Set(response.completeBuckets);
    const push = mine
      .filter((r) => complete.has(bucketOf(r.key.hex)) && supersedes(r, theirs.get(r.key.hex)))
      .slice(0, this.options.maxRecords);
    for (const batch of batchRecords(push, this.options.maxBatchBytes)) {
      await this.peers.replicate(
        partner,
        { sender, records: batch.map((r) => encodeRecord(r)) },
        this.options.replicaTimeoutMs,
      );
      repaired += batch.length;
    }
    if (repaired > 0) this.hooks.repaired(repaired);
  }
}
