// Anti-entropy decisions, shared by the runtime (src/server/kv/anti-entropy.ts) and the simulator: whom a
// node compares digests with, which records two replicas share, what the partner lists back for the
// buckets that differ, and what then moves each way. Bounded: at most `maxRecords` versions listed and as
// many records pulled and pushed per round.
import type { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import { bucketOf, differingBuckets, digestOf } from "./digest.js";
import type { Placement } from "./placement.js";
import { supersedes, type KvRecord } from "./record.js";

/** The nodes that share keys with this one: up to k-1 leaf-set places away on each side, right first. */
export function antiEntropyPartners(
  leafSet: { readonly left: readonly NodeInfo[]; readonly right: readonly NodeInfo[] },
  k: number,
): NodeInfo[] {
  const out: NodeInfo[] = [];
  for (let i = 0; i < k - 1; i++) {
    const l = leafSet.left[i];
    const r = leafSet.right[i];
    if (r !== undefined) out.push(r);
    if (l !== undefined && !out.some((n) => n.id.equals(l.id))) out.push(l);
  }
  return out;
}

/** The records held here that `peer` should hold too (both are in the key's replica set). */
export function sharedRecords(
  self: NodeId,
  peer: NodeId,
  records: Iterable<KvRecord>,
  placement: Placement,
): KvRecord[] {
  const out: KvRecord[] = [];
  for (const record of records) {
    const set = placement.of(record.key).set;
    if (set.some((n) => n.id.equals(peer)) && set.some((n) => n.id.equals(self))) out.push(record);
  }
  return out;
}

/** The partner's answer: the buckets it lists completely and its versions in them. */
export interface DigestAnswer {
  readonly completeBuckets: readonly number[];
  readonly versions: readonly KvRecord[];
}

/** The partner's side: its versions in the buckets whose digests differ, whole buckets up to `maxRecords`. */
export function answerDigest(
  mine: readonly KvRecord[],
  theirBuckets: readonly bigint[],
  maxRecords: number,
): DigestAnswer {
  const differing = differingBuckets(theirBuckets, digestOf(mine));
  const byBucket = new Map<number, KvRecord[]>(differing.map((b) => [b, []]));
  for (const r of mine) byBucket.get(bucketOf(r.key.hex))?.push(r);
  const completeBuckets: number[] = [];
  const versions: KvRecord[] = [];
  for (const b of differing) {
    const records = byBucket.get(b) ?? [];
    if (versions.length + records.length > maxRecords) break;
    completeBuckets.push(b);
    versions.push(...records);
  }
  return { completeBuckets, versions };
}

/** What moves after an answer: keys to pull (the partner holds them newer or alone), records to push. */
export interface ReconcilePlan {
  readonly pull: readonly NodeId[];
  readonly push: readonly KvRecord[];
}

/**
 * The initiator's side: pull what the partner listed newer (or alone); push what this node holds newer
 * (or alone) in the buckets the partner listed completely (elsewhere its silence proves nothing).
 */
export function reconcilePlan(
  mine: readonly KvRecord[],
  answer: DigestAnswer,
  maxRecords: number,
): ReconcilePlan {
  const theirs = new Map<string, KvRecord>();
  for (const r of answer.versions.slice(0, maxRecords)) theirs.set(r.key.hex, r);
  const held = new Map(mine.map((r) => [r.key.hex, r]));
  const pull: NodeId[] = [];
  for (const [hex, r] of theirs) if (supersedes(r, held.get(hex))) pull.push(r.key);
  const complete = new Set(answer.completeBuckets);
  const push = mine
    .filter((r) => complete.has(bucketOf(r.key.hex)) && supersedes(r, theirs.get(r.key.hex)))
    .slice(0, maxRecords);
  return { pull: pull.slice(0, maxRecords), push };
}
