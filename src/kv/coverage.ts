// Which nodes may coordinate a read: a node whose leaf set spans the key's whole neighbourhood computes the
// same replica set as the key's owner, so it can ask the replicas itself instead of handing the read on.
import { clockwiseDistance, ringDistance, type NodeId } from "../routing/id.js";

/**
 * True when a node with leaf set `left` and `right` (each side nearest first) knows every node at least as
 * close to `key` as the farthest member of `set` (the replica set it computed for the key): the arc from its
 * farthest left to its farthest right member reaches that far on both sides of the key, or the leaf set
 * wraps around the whole ring. A node outside the arc is then farther from the key than every member. A set
 * of fewer than `k` members proves nothing unless the leaf set wraps: the nodes that would complete it lie
 * outside the arc, unknown to this node.
 */
export function knowsReplicaSet(
  left: readonly NodeId[],
  right: readonly NodeId[],
  key: NodeId,
  set: readonly NodeId[],
  k: number,
): boolean {
  if (set.length === 0) return false;
  const leftEnd = left.at(-1);
  const rightEnd = right.at(-1);
  // Alone, or fewer nodes than the leaf set holds: every node is known.
  if (leftEnd === undefined || rightEnd === undefined) return leftEnd === rightEnd;
  const rightHex = new Set(right.map((id) => id.hex));
  if (left.some((id) => rightHex.has(id.hex))) return true;
  if (set.length < k) return false;
  const reach = set.reduce((far, id) => {
    const d = ringDistance(key, id);
    return d > far ? d : far;
  }, 0n);
  const fromLeftEnd = clockwiseDistance(leftEnd, key);
  const toRightEnd = clockwiseDistance(key, rightEnd);
  // The key lies on the arc (leftEnd -> self -> rightEnd) when the two parts add up to the arc's length.
  const onArc = fromLeftEnd + toRightEnd === clockwiseDistance(leftEnd, rightEnd);
  return onArc && fromLeftEnd >= reach && toRightEnd >= reach;
}
