// Which nodes hold a key (PAST's placement: the k live nodes numerically closest to it) and the bounds on
// k, W and R. The closeness rule is routing's (isCloser: ties to the lower ID), so the replica set's first
// member is the node that routing delivers the key to.
import { isCloser, type NodeId } from "../routing/id.js";

export interface KvReplication {
  /** k: replicas per key. */
  readonly replicas: number;
  /** W: replicas that must store a write before it is acknowledged. */
  readonly writeQuorum: number;
  /** R: replicas that must answer a read. */
  readonly readQuorum: number;
}

/** The largest k whose replica set a key's owner knows exactly: half the leaf set plus itself. */
export function maxReplicationFactor(leafSetSize: number): number {
  return leafSetSize / 2 + 1;
}

/** A majority of k. */
export function majority(k: number): number {
  return Math.floor(k / 2) + 1;
}

/** k, W and R with the defaults filled in (W = R = majority of k); throws naming the bad value. */
export function kvReplication(
  leafSetSize: number,
  asked: { replicas?: number | undefined; writeQuorum?: number | undefined; readQuorum?: number | undefined },
): KvReplication {
  const max = maxReplicationFactor(leafSetSize);
  const replicas = asked.replicas ?? Math.min(3, max);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > max)
    throw new RangeError(
      `kv replicas must be an integer in 1..${max} (half the leaf set plus one), got ${replicas}`,
    );
  const writeQuorum = asked.writeQuorum ?? majority(replicas);
  const readQuorum = asked.readQuorum ?? majority(replicas);
  for (const [name, value] of [
    ["write quorum", writeQuorum],
    ["read quorum", readQuorum],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > replicas)
      throw new RangeError(
        `kv ${name} must be an integer in 1..${replicas} (the replica count), got ${value}`,
      );
  }
  return { replicas, writeQuorum, readQuorum };
}

/** The k nodes closest to `key` among `nodes` (distinct IDs), closest first. */
export function replicaSet<T extends { readonly id: NodeId }>(
  key: NodeId,
  nodes: readonly T[],
  k: number,
): T[] {
  return [...nodes]
    .sort((a, b) => (isCloser(key, a.id, b.id) ? -1 : isCloser(key, b.id, a.id) ? 1 : 0))
    .slice(0, k);
}

/** Whether `self` belongs to a replica set. */
export function isMember(self: NodeId, set: readonly { readonly id: NodeId }[]): boolean {
  return set.some((n) => n.id.equals(self));
}
