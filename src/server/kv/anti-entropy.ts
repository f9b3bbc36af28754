// Anti-entropy: every interval this node compares, with one of the nodes it shares keys with (its leaf-set
// neighbours up to k-1 places away on each side, in turn), digests of the keys both should hold; it pulls
// the records of the differing buckets that the other holds newer, and pushes those it holds newer. At most
// `maxRecords` versions listed and as many records moved per round: a bounded cost per node per second.
// The decisions are src/kv/reconcile.ts, shared with the simulator; this module sends.
// At rest a round costs a Digest call each way per second and finds nothing (about half an idle daemon's CPU),
// so a partner that agreed with us is not asked again while our side of what we share is unchanged: a change
// on its side makes it ask us (the same rule, seen from there). It is asked anyway once per
// QUIET_RECHECK_ROUNDS rounds, a backstop against a change nobody noticed. With nothing stored the rounds
// sleep for as long (a partner holding records we should hold finds its digest differs from ours and asks
// us), and the store's first record wakes them.
import type { NodeInfo } from "../../routing/types.js";
import { DIGEST_BUCKETS, digestOf } from "../../kv/digest.js";
import { chunks, MAX_RECORDS_PER_REQUEST } from "../../kv/batches.js";
import type { Placement } from "../../kv/placement.js";
import { supersedes, type KvRecord } from "../../kv/record.js";
import { answerDigest, antiEntropyPartners, reconcilePlan, sharedRecords } from "../../kv/reconcile.js";
import type { DigestRequest, DigestResponse } from "../../gen/wendy/v1/kv_peer.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import type { KvOverlay } from "./overlay.js";
import type { KvPeers } from "./peer-client.js";
import { PeriodicRound } from "./periodic-round.js";
import { sendRecords } from "./send-records.js";
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

/** A partner in agreement whose shared records did not change on our side is still asked this often. */
const QUIET_RECHECK_ROUNDS = 30;

export class KvAntiEntropy {
  private turn = 0;
  private readonly rounds: PeriodicRound<void>;
  /**
   * Partner "id:incarnation" -> our digest of what we share with it when a round found both sides equal,
   * and when. Only current partners are kept (a handful: 2(k-1)).
   */
  private readonly agreed = new Map<string, { readonly digest: string; readonly at: number }>();

  constructor(
    private readonly overlay: KvOverlay,
    private readonly store: MemoryKvStore,
    private readonly peers: KvPeers,
    private readonly placement: Placement,
    private readonly options: AntiEntropyOptions,
    private readonly hooks: AntiEntropyHooks,
  ) {
    this.rounds = new PeriodicRound(
      options.intervalMs,
      () => overlay.ready(),
      () => this.withNextPartner(),
      undefined,
    );
    store.onFirstRecord(() => this.rounds.wake());
  }

  start(): void {
    this.rounds.start();
  }

  stop(): void {
    this.rounds.stop();
  }

  /** The nodes that share keys with this one: up to k-1 leaf-set places away on each side. */
  partners(): NodeInfo[] {
    return antiEntropyPartners(this.overlay.leafSet(), this.options.replicas);
  }

  /** One round with the next partner (tests; the timer does the same). */
  round(): Promise<void> {
    return this.rounds.run();
  }

  private async withNextPartner(): Promise<void> {
    await this.askNextPartner();
    if (this.store.size === 0) this.rounds.sleep(QUIET_RECHECK_ROUNDS * this.options.intervalMs);
  }

  private async askNextPartner(): Promise<void> {
    const partners = this.partners();
    if (partners.length === 0) return;
    const partner = partners[this.turn++ % partners.length] as NodeInfo;
    const key = `${partner.id.hex}:${partner.incarnation}`;
    this.forgetFormerPartners(partners);
    const mine = this.shared(partner);
    const buckets = digestOf(mine);
    const digest = buckets.join(",");
    const now = performance.now();
    const agreed = this.agreed.get(key);
    if (
      agreed !== undefined &&
      agreed.digest === digest &&
      now - agreed.at < QUIET_RECHECK_ROUNDS * this.options.intervalMs
    )
      return;
    try {
      if (await this.reconcile(partner, mine, buckets)) this.agreed.set(key, { digest, at: now });
      else this.agreed.delete(key);
    } catch {
      // An unreachable partner is tried again on its next turn.
      this.agreed.delete(key);
    }
  }

  private forgetFormerPartners(partners: readonly NodeInfo[]): void {
    if (this.agreed.size <= partners.length) return;
    const current = new Set(partners.map((p) => `${p.id.hex}:${p.incarnation}`));
    for (const key of this.agreed.keys()) if (!current.has(key)) this.agreed.delete(key);
  }

  private shared(peer: NodeInfo): KvRecord[] {
    return sharedRecords(this.overlay.self().id, peer.id, this.store.all(), this.placement);
  }

  /** The partner's side of a round: its versions in the buckets whose digests differ. */
  answer(sender: NodeInfo, request: DigestRequest): DigestResponse {
    if (request.buckets.length !== DIGEST_BUCKETS)
      throw new WireFormatError(
        "buckets",
        `must hold exactly ${DIGEST_BUCKETS} hashes, got ${request.buckets.length}`,
      );
    const answer = answerDigest(this.shared(sender), request.buckets, this.options.maxRecords);
    return {
      completeBuckets: [...answer.completeBuckets],
      versions: answer.versions.map((r) => encodeRecord(r, false)),
    };
  }

  /** One round with `partner`; true when both sides held the same (every digest bucket equal). */
  private async reconcile(partner: NodeInfo, mine: KvRecord[], buckets: bigint[]): Promise<boolean> {
    const sender = encodeNodeInfo(this.overlay.self());
    const response = await this.peers.digest(partner, { sender, buckets }, this.options.replicaTimeoutMs);
    const versions = response.versions
      .slice(0, this.options.maxRecords)
      .map((r, i) => decodeRecord(r, `versions[${i}]`, 0));
    const plan = reconcilePlan(
      mine,
      { completeBuckets: response.completeBuckets, versions },
      this.options.maxRecords,
    );
    let repaired = 0;
    for (const group of chunks(plan.pull, MAX_RECORDS_PER_REQUEST)) {
      const fetched = await this.peers.fetch(
        partner,
        { sender, keys: group.map(idBytes), versionsOnly: false },
        this.options.replicaTimeoutMs,
      );
      fetched.records.forEach((r, i) => {
        const record = decodeRecord(r, `records[${i}]`, Number.MAX_SAFE_INTEGER);
        if (!supersedes(record, this.store.get(record.key))) return;
        this.store.apply(record);
        if (this.store.get(record.key) !== record) return; // a tombstone this node removed lately
        this.hooks.received(record);
        repaired++;
      });
    }
    const pushed = await sendRecords(this.peers, partner, sender, plan.push, {
      maxBatchBytes: this.options.maxBatchBytes,
      timeoutMs: this.options.replicaTimeoutMs,
    });
    repaired += pushed.sent;
    if (repaired > 0) this.hooks.repaired(repaired);
    return response.versions.length === 0 && plan.pull.length === 0 && plan.push.length === 0;
  }
}
