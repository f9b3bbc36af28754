// The key range a node owns, as its leaf set shows it: every key closer to it than to its nearest neighbour on
// either side, half-way to each. Which side a key exactly half-way belongs to is decided by isCloser, the rule
// routing delivers by (ties to the lower ID), so the ranges and the deliveries cannot disagree.
import { ID_BITS, NodeId, clockwiseDistance, isCloser } from "./id.js";
import type { NodeInfo } from "./types.js";

const RING = 1n << BigInt(ID_BITS);

/** A run of keys clockwise from `first` to `last`, both included; `size` keys (the whole ring: 2^128). */
export interface KeyRange {
  readonly first: NodeId;
  readonly last: NodeId;
  readonly size: bigint;
}

function rangeOf(start: bigint, size: bigint): KeyRange {
  return {
    first: NodeId.fromBigInt(start),
    last: NodeId.fromBigInt(start + size - 1n),
    size,
  };
}

/** Whether `key` lies in `range`. */
export function rangeHas(range: KeyRange, key: NodeId): boolean {
  return clockwiseDistance(range.first, key) < range.size;
}

/**
 * The keys `self` owns between its nearest neighbours `left` (counter-clockwise) and `right` (clockwise);
 * the whole ring when it knows no other node (both undefined), starting just after itself.
 */
export function ownedRange(self: NodeId, left: NodeId | undefined, right: NodeId | undefined): KeyRange {
  if (left === undefined || right === undefined) return rangeOf(self.value + 1n, RING);
  // The key half-way (rounded down) between two nodes is the only one whose owner is not plain distance.
  const leftMiddle = NodeId.fromBigInt(left.value + clockwiseDistance(left, self) / 2n);
  const first = isCloser(leftMiddle, self, left) ? leftMiddle.value : leftMiddle.value + 1n;
  const rightMiddle = NodeId.fromBigInt(self.value + clockwiseDistance(self, right) / 2n);
  const last = isCloser(rightMiddle, self, right) ? rightMiddle.value : rightMiddle.value - 1n;
  const start = NodeId.fromBigInt(first);
  return rangeOf(start.value, clockwiseDistance(start, NodeId.fromBigInt(last)) + 1n);
}

/** One node's range among a set of nodes, and the neighbours that bound it. */
export interface Ownership {
  readonly node: NodeInfo;
  readonly range: KeyRange;
  /** The nearest other node counter-clockwise; undefined when the node knows no other. */
  readonly left: NodeInfo | undefined;
  /** The nearest other node clockwise; undefined when the node knows no other. */
  readonly right: NodeInfo | undefined;
}

/**
 * How `nodes` (distinct IDs; a node's leaf set and itself) divide the ring among themselves: each node's
 * range, in ID order. Exact for `self` and its neighbours; beyond the leaf set's ends the nodes not in it
 * are missing, so the ranges of its farthest members are wider than the truth.
 */
export function divideRing(nodes: readonly NodeInfo[]): Ownership[] {
  const sorted = [...nodes].sort((a, b) => a.id.compare(b.id));
  return sorted.map((node, i) => {
    if (sorted.length === 1) {
      return { node, range: ownedRange(node.id, undefined, undefined), left: undefined, right: undefined };
    }
    const left = sorted[(i - 1 + sorted.length) % sorted.length] as NodeInfo;
    const right = sorted[(i + 1) % sorted.length] as NodeInfo;
    return { node, range: ownedRange(node.id, left.id, right.id), left, right };
  });
}

/** The range of `self` given the members of its leaf set. */
export function ownershipOf(self: NodeInfo, leafSet: readonly NodeInfo[]): Ownership {
  const others = leafSet.filter((n) => !n.id.equals(self.id));
  const own = divideRing([self, ...others]).find((o) => o.node === self);
  if (own === undefined) throw new Error("unreachable: self is among the nodes divided");
  return own;
}

/** Keys a node gained or gave up in one change, and the neighbour they came from or went to. */
export interface OwnershipChange {
  readonly kind: "gained" | "lost";
  readonly range: KeyRange;
  /**
   * Gained: the node that owned these keys before, as this node knew the ring then (it may have left or
   * failed). Lost: the node that owns them now, as this node knows the ring now.
   */
  readonly neighbour: NodeInfo;
}

/** The keys of `a` that are also in `b`: up to two runs. */
function intersect(a: KeyRange, b: KeyRange): KeyRange[] {
  if (a.size === RING) return [b];
  if (b.size === RING) return [a];
  // Measured from the start of a: a is [0, a.size), b is [offset, offset + b.size) modulo the ring.
  const offset = clockwiseDistance(a.first, b.first);
  const parts: KeyRange[] = [];
  if (offset < a.size) {
    const end = offset + b.size < a.size ? offset + b.size : a.size;
    parts.push(rangeOf(a.first.value + offset, end - offset));
  }
  const wrapped = offset + b.size - RING;
  if (wrapped > 0n) parts.push(rangeOf(a.first.value, wrapped < a.size ? wrapped : a.size));
  return parts;
}

/** The keys of `a` that are not in `b`: up to two runs. */
function subtract(a: KeyRange, b: KeyRange): KeyRange[] {
  if (b.size === RING) return [];
  return intersect(a, rangeOf(b.last.value + 1n, RING - b.size));
}

/**
 * What moved between two views of the ring by the same node: the keys it gained, split by the node that
 * owned each part before, and the keys it lost, split by the node that owns each part now; in ring order
 * starting after the node itself.
 */
export function ownershipChanges(
  before: Ownership,
  beforeNodes: readonly NodeInfo[],
  after: Ownership,
  afterNodes: readonly NodeInfo[],
): OwnershipChange[] {
  const self = after.node.id;
  const split = (
    kind: OwnershipChange["kind"],
    moved: KeyRange[],
    nodes: readonly NodeInfo[],
  ): OwnershipChange[] =>
    divideRing(nodes)
      .filter((o) => !o.node.id.equals(self))
      .flatMap((o) =>
        moved.flatMap((m) => intersect(m, o.range).map((range) => ({ kind, range, neighbour: o.node }))),
      );
  const withSelf = (nodes: readonly NodeInfo[], me: NodeInfo): NodeInfo[] => [
    me,
    ...nodes.filter((n) => !n.id.equals(me.id)),
  ];
  const changes = [
    ...split("gained", subtract(after.range, before.range), withSelf(beforeNodes, before.node)),
    ...split("lost", subtract(before.range, after.range), withSelf(afterNodes, after.node)),
  ];
  const position = (c: OwnershipChange): bigint => clockwiseDistance(self, c.range.first);
  return changes.sort((a, b) => (position(a) < position(b) ? -1 : position(a) > position(b) ? 1 : 0));
}

/** Whether two ranges hold the same keys. */
export function sameRange(a: KeyRange, b: KeyRange): boolean {
  return a.size === b.size && (a.size === RING || a.first.equals(b.first));
}
