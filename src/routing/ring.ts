// Which ring a node belongs to, as far as its own leaf set can tell. In a consistent ring exactly one node,
// the one with the smallest ID, has no smaller ID in its leaf set: for every other node the nearest smaller
// ID is its left neighbour. Two rings that never met have two such nodes, so counting the nodes that take
// themselves for their ring's minimum counts the rings, with no gossip and no extra message.
import type { NodeId } from "./id.js";
import type { NodeInfo } from "./types.js";

/** The smallest ID among `self` and its leaf set's members. */
export function smallestKnownId(self: NodeId, leafSet: Iterable<NodeInfo>): NodeId {
  let smallest = self;
  for (const member of leafSet) if (member.id.compare(smallest) < 0) smallest = member.id;
  return smallest;
}

/** True when no leaf-set member has a smaller ID than `self`: it holds the smallest ID of its ring. */
export function isRingMinimum(self: NodeId, leafSet: Iterable<NodeInfo>): boolean {
  return smallestKnownId(self, leafSet).equals(self);
}
