// The census of a key-value run against global truth: for every key with an acknowledged write, its true
// replica set (the k live ready nodes closest to it, as the ring has them), how many of those hold the
// acknowledged version or a newer one ("correct replicas"), whether any live node still holds it at all
// (a key none holds is lost), and how many copies sit outside the set (not yet handed over).
import { isCloser, type NodeId } from "../routing/id.js";
import { compareVersions } from "../kv/version.js";
import type { SimKv } from "./kv-layer.js";
import type { RingMember, RingTruth } from "./ring-truth.js";
import type { Simulator } from "./simulator.js";

export interface KvCensus {
  readonly atMs: number;
  readonly keys: number;
  /** Keys whose k true replicas all hold the acknowledged version (or newer). */
  readonly withAllReplicas: number;
  readonly shareWithAllReplicas: number;
  /** Keys by how many of their true replicas hold it correctly (index = count, 0..k). */
  readonly byCorrectReplicas: readonly number[];
  /** Keys no live node holds at the acknowledged version or newer. */
  readonly lost: number;
  /** Copies of an acknowledged version held by live nodes outside the key's true replica set. */
  readonly extraCopies: number;
}

/** The k members of `truth` closest to `key`, closest first. */
export function trueReplicaSet(truth: RingTruth, key: NodeId, k: number): RingMember[] {
  const n = truth.size;
  if (n === 0) return [];
  const at = truth.lowerBound(key.value);
  const candidates = new Map<number, RingMember>();
  for (let i = -Math.min(k, n); i < Math.min(k, n); i++) {
    const m = truth.at((((at + i) % n) + n) % n);
    candidates.set(m.index, m);
  }
  return [...candidates.values()]
    .sort((a, b) => (isCloser(key, a.id, b.id) ? -1 : isCloser(key, b.id, a.id) ? 1 : 0))
    .slice(0, k);
}

export function kvCensus(sim: Simulator, kv: SimKv): KvCensus {
  const k = kv.config.replicas;
  const byCorrect = new Array<number>(k + 1).fill(0);
  let lost = 0;
  let extra = 0;
  for (const [hex, { key, version }] of kv.acknowledged()) {
    const set = trueReplicaSet(sim.truth, key, k);
    let correct = 0;
    for (const member of set) {
      const held = kv.replica(member.index)?.store.get(hex);
      if (held !== undefined && compareVersions(held.version, version) >= 0) correct++;
    }
    byCorrect[correct] = (byCorrect[correct] as number) + 1;
    const live = kv.liveHolders(hex);
    if (live === 0) lost++;
    extra += Math.max(0, live - correct);
  }
  const keys = kv.acknowledged().size;
  const withAll = byCorrect[k] as number;
  return {
    atMs: sim.now,
    keys,
    withAllReplicas: withAll,
    shareWithAllReplicas: keys === 0 ? 1 : withAll / keys,
    byCorrectReplicas: byCorrect,
    lost,
    extraCopies: extra,
  };
}
