// Pastry's leaf set (paper section 2.1): the l/2 numerically nearest smaller and l/2 nearest larger node IDs.
// Each side is kept sorted by ring distance from self, nearest first, with the distances cached so that an
// insert costs two bigint subtractions and a short sorted insertion.
import { approxClockwise, approxOrder, clockwiseDistance, isCloser, type NodeId } from "./id.js";
import type { NodeInfo } from "./types.js";

export interface LeafSides {
  readonly left: boolean;
  readonly right: boolean;
}

export class LeafSet {
  /** l/2: members per side. */
  readonly half: number;
  /** Counter-clockwise neighbours (smaller IDs, wrapping), nearest first. */
  private readonly leftNodes: NodeInfo[] = [];
  private readonly leftDistances: bigint[] = [];
  /** Clockwise neighbours (larger IDs, wrapping), nearest first. */
  private readonly rightNodes: NodeInfo[] = [];
  private readonly rightDistances: bigint[] = [];
  private readonly byHex = new Map<string, NodeInfo>();
  /** members() as one frozen array, until the next change: messages that carry the leaf set share it. */
  private frozenList: readonly NodeInfo[] | undefined;
  /** Changes to the membership so far (see version). */
  private changes = 0;
  /** IDs that stopped being members so far (see removals). */
  private removed = 0;

  /** `size`: l, an even integer (checked once, by routingConfig in config.ts). */
  constructor(
    readonly self: NodeInfo,
    size: number,
  ) {
    this.half = size / 2;
  }

  /** Grows whenever a member is added, replaced or removed: a cache of look-ups keyed on it is never stale. */
  get version(): number {
    return this.changes;
  }

  /**
   * Grows whenever an ID stops being a member (removed, or pushed out by a nearer node); not when one joins
   * or a member's incarnation is replaced. A cache of "is this ID a member?" answers that were all yes
   * stays true until it changes.
   */
  get removals(): number {
    return this.removed;
  }

  /** Distinct members (a node on both sides counts once). */
  get size(): number {
    return this.byHex.size;
  }

  has(hex: string): boolean {
    return this.byHex.has(hex);
  }

  get(hex: string): NodeInfo | undefined {
    return this.byHex.get(hex);
  }

  left(): readonly NodeInfo[] {
    return this.leftNodes;
  }

  right(): readonly NodeInfo[] {
    return this.rightNodes;
  }

  members(): IterableIterator<NodeInfo> {
    return this.byHex.values();
  }

  /**
   * The members as an immutable array, the same one until the leaf set changes: a node answering hundreds
   * of probes during a wave of joins sends one copy, not one per answer.
   */
  list(): readonly NodeInfo[] {
    this.frozenList ??= Object.freeze([...this.byHex.values()]);
    return this.frozenList;
  }

  /** Farthest member on the left (the counter-clockwise end of the range). */
  farthestLeft(): NodeInfo | undefined {
    return this.leftNodes[this.leftNodes.length - 1];
  }

  farthestRight(): NodeInfo | undefined {
    return this.rightNodes[this.rightNodes.length - 1];
  }

  sidesOf(hex: string): LeafSides {
    return {
      left: this.leftNodes.some((n) => n.id.hex === hex),
      right: this.rightNodes.some((n) => n.id.hex === hex),
    };
  }

  /**
   * True when the two sides share a member: the leaf set then covers the whole ring (fewer than l other
   * nodes are known), so every key is in range. An empty leaf set also covers the ring: self is alone.
   */
  wrapsAround(): boolean {
    return this.byHex.size === 0 || this.leftNodes.length + this.rightNodes.length > this.byHex.size;
  }

  /** Whether `key` lies between the farthest left and the farthest right member (inclusive). */
  inRange(key: NodeId): boolean {
    if (this.wrapsAround()) return true;
    const selfId = this.self.id;
    const leftEnd = this.leftDistances[this.leftDistances.length - 1];
    if (leftEnd !== undefined && clockwiseDistance(key, selfId) <= leftEnd) return true;
    const rightEnd = this.rightDistances[this.rightDistances.length - 1];
    return rightEnd !== undefined && clockwiseDistance(selfId, key) <= rightEnd;
  }

  /**
   * The member or self closest to `key` (ties to the lower ID). Members whose ID hex is in `skip` or equals
   * `skipHex` are passed over (suspected peers, a joiner's old incarnation); self is never skipped.
   */
  closest(key: NodeId, skip?: ReadonlySet<string>, skipHex?: string): NodeInfo {
    // Each side is sorted by distance from self, so only the members bracketing the key's position on that
    // side can be closest (any member reached the long way round is beaten by self): a short walk over
    // cached distances and a handful of isCloser calls instead of one per member.
    const fromSelf = clockwiseDistance(this.self.id, key);
    let best = this.closestOnSide(
      this.rightNodes,
      this.rightDistances,
      fromSelf,
      key,
      this.self,
      skip,
      skipHex,
    );
    const toSelf = clockwiseDistance(key, this.self.id);
    best = this.closestOnSide(this.leftNodes, this.leftDistances, toSelf, key, best, skip, skipHex);
    return best;
  }

  private closestOnSide(
    nodes: readonly NodeInfo[],
    distances: readonly bigint[],
    position: bigint,
    key: NodeId,
    bestSoFar: NodeInfo,
    skip: ReadonlySet<string> | undefined,
    skipHex: string | undefined,
  ): NodeInfo {
    let best = bestSoFar;
    let at = 0;
    while (at < distances.length && (distances[at] as bigint) < position) at++;
    for (let i = at - 1; i >= 0; i--) {
      const node = nodes[i] as NodeInfo;
      if (isSkipped(node, skip, skipHex)) continue;
      if (isCloser(key, node.id, best.id)) best = node;
      break;
    }
    for (let i = at; i < nodes.length; i++) {
      const node = nodes[i] as NodeInfo;
      if (isSkipped(node, skip, skipHex)) continue;
      if (isCloser(key, node.id, best.id)) best = node;
      break;
    }
    return best;
  }

  /** Whether inserting `node` would make it a member (it is not one yet and is near enough). */
  wouldAccept(node: NodeInfo): boolean {
    if (node.id.equals(this.self.id) || this.byHex.has(node.id.hex)) return false;
    return this.fits(node);
  }

  /** wouldAccept for a node known to be neither self nor a member: whether it is near enough on a side. */
  fits(node: NodeInfo): boolean {
    return this.fitsSide(node, true) || this.fitsSide(node, false);
  }

  /**
   * fits() for `node` on one side (`clockwise`: the right), its exact distance worked out only when the IDs'
   * top bits cannot tell: learning a node named in gossip asks this of each side, and most are far outside.
   */
  private fitsSide(node: NodeInfo, clockwise: boolean): boolean {
    const nodes = clockwise ? this.rightNodes : this.leftNodes;
    const distances = clockwise ? this.rightDistances : this.leftDistances;
    const farthest = nodes[nodes.length - 1];
    if (nodes.length < this.half || farthest === undefined) return nodes.length < this.half;
    const selfId = this.self.id;
    const order = clockwise
      ? approxOrder(approxClockwise(selfId, node.id), approxClockwise(selfId, farthest.id))
      : approxOrder(approxClockwise(node.id, selfId), approxClockwise(farthest.id, selfId));
    if (order !== 0) return order < 0;
    const distance = clockwise ? clockwiseDistance(selfId, node.id) : clockwiseDistance(node.id, selfId);
    return fits(distances, distance, this.half);
  }

  /**
   * Adds `node` where it belongs; returns whether the leaf set changed. A known ID with a new incarnation
   * replaces the old entry in place (the distances are the same).
   */
  insert(node: NodeInfo): boolean {
    const hex = node.id.hex;
    if (node.id.equals(this.self.id)) return false;
    const known = this.byHex.get(hex);
    if (known !== undefined) {
      if (known === node || known.incarnation === node.incarnation) return false;
      replaceIn(this.leftNodes, hex, node);
      replaceIn(this.rightNodes, hex, node);
      this.byHex.set(hex, node);
      this.frozenList = undefined;
      this.changes++;
      return true;
    }
    // Most offers (candidates named in gossip) fit neither side: settled without bigint arithmetic.
    if (!this.fitsSide(node, true) && !this.fitsSide(node, false)) return false;
    const right = insertSorted(
      this.rightNodes,
      this.rightDistances,
      node,
      clockwiseDistance(this.self.id, node.id),
      this.half,
    );
    const left = insertSorted(
      this.leftNodes,
      this.leftDistances,
      node,
      clockwiseDistance(node.id, this.self.id),
      this.half,
    );
    if (!right.inserted && !left.inserted) return false;
    this.frozenList = undefined;
    this.changes++;
    this.byHex.set(hex, node);
    this.forgetIfGone(right.evicted);
    this.forgetIfGone(left.evicted);
    return true;
  }

  /** Removes the member with this ID; returns whether it was one. */
  remove(hex: string): boolean {
    // Refilling from the other side is only sound when the sides overlapped: then every known node was in
    // the leaf set. Otherwise nodes beyond the far ends are unknown and the owner must ask for them.
    const wrapped = this.wrapsAround();
    if (!this.byHex.delete(hex)) return false;
    this.frozenList = undefined;
    this.changes++;
    this.removed++;
    const fromLeft = removeFrom(this.leftNodes, this.leftDistances, hex);
    const fromRight = removeFrom(this.rightNodes, this.rightDistances, hex);
    // On a small ring the other side may hold nodes this side dropped for lack of room: take them back.
    if (!wrapped) return true;
    if (fromLeft) this.refill(this.leftNodes, this.leftDistances, this.rightNodes, false);
    if (fromRight) this.refill(this.rightNodes, this.rightDistances, this.leftNodes, true);
    return true;
  }

  private refill(
    nodes: NodeInfo[],
    distances: bigint[],
    other: readonly NodeInfo[],
    clockwise: boolean,
  ): void {
    for (const candidate of other) {
      if (nodes.length >= this.half) return;
      if (nodes.includes(candidate)) continue;
      const distance = clockwise
        ? clockwiseDistance(this.self.id, candidate.id)
        : clockwiseDistance(candidate.id, this.self.id);
      insertSorted(nodes, distances, candidate, distance, this.half);
    }
  }

  private forgetIfGone(node: NodeInfo | undefined): void {
    if (node === undefined) return;
    if (!this.leftNodes.includes(node) && !this.rightNodes.includes(node) && this.byHex.delete(node.id.hex))
      this.removed++;
  }
}

function isSkipped(
  node: NodeInfo,
  skip: ReadonlySet<string> | undefined,
  skipHex: string | undefined,
): boolean {
  return node.id.hex === skipHex || (skip !== undefined && skip.size > 0 && skip.has(node.id.hex));
}

function fits(distances: readonly bigint[], distance: bigint, capacity: number): boolean {
  const last = distances[distances.length - 1];
  return distances.length < capacity || (last !== undefined && distance < last);
}

function insertSorted(
  nodes: NodeInfo[],
  distances: bigint[],
  node: NodeInfo,
  distance: bigint,
  capacity: number,
): { inserted: boolean; evicted: NodeInfo | undefined } {
  if (!fits(distances, distance, capacity)) return { inserted: false, evicted: undefined };
  let at = distances.length;
  while (at > 0 && (distances[at - 1] as bigint) > distance) at--;
  nodes.splice(at, 0, node);
  distances.splice(at, 0, distance);
  if (nodes.length <= capacity) return { inserted: true, evicted: undefined };
  distances.pop();
  return { inserted: true, evicted: nodes.pop() };
}

function removeFrom(nodes: NodeInfo[], distances: bigint[], hex: string): boolean {
  const at = nodes.findIndex((n) => n.id.hex === hex);
  if (at < 0) return false;
  nodes.splice(at, 1);
  distances.splice(at, 1);
  return true;
}

function replaceIn(nodes: NodeInfo[], hex: string, node: NodeInfo): void {
  const at = nodes.findIndex((n) => n.id.hex === hex);
  if (at >= 0) nodes[at] = node;
}
