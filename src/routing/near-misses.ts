// Near misses: per side of the leaf set, the nearest nodes heard from first-hand lately that did not fit
// because both sides were full (they lie just beyond a far end). Why: a side that holds an undetected dead
// member turns away the live node beyond it; once the dead one is removed, the side may be refilled with
// nodes named to us that lie farther out, and nothing names the node turned away again until gossip comes
// round (about 30 s; 5 of 3,000 seeds of four adjacent crashes, l = 8). A near miss that the leaf set, both
// sides FULL again, would now take in (it is nearer than a far end) is handed back, to be probed like a
// candidate. While a side is short its repair requests are in charge: no near miss is offered then, so
// steady churn, whose sides refill with their nearest nodes, pays nothing for this.
// Invariants:
// - At most l/2 nodes per side (nearMissesPerSide), the nearest heard within the window. The nearest heard
//   are often nodes that crashed with the member they lie behind (their deaths are found later): after l/2
//   adjacent crashes up to l/2 - 1 of them lie between the far end and the live node that matters. Two
//   were kept before: four adjacent crashes (l = 8) filled both with crashed nodes, the live node beyond was
//   not kept, and the side refilled from farther out held a hole until gossip (2 of seeds 3,001-6,000:
//   18.75 s and 30 s).
// - A node forgotten (found dead, left, restarted) is struck off; only nodes heard within `windowMs` are
//   handed back, each once (it is struck off when handed back, and when it becomes a member), unless the
//   leaf-set candidates had no room for it then (refused: it is kept, heard when it was).
import { approxClockwise, approxOrder, clockwiseDistance } from "./id.js";
import type { LeafSet } from "./leaf-set.js";
import type { Millis, NodeInfo } from "./types.js";

/** Near misses kept per side for a leaf set of `leafSetSize` (l/2: see the invariants above). */
export function nearMissesPerSide(leafSetSize: number): number {
  return Math.max(1, Math.floor(leafSetSize / 2));
}

interface NearMiss {
  readonly node: NodeInfo;
  readonly at: Millis;
}

export class NearMisses {
  /** Per side, nearest first. */
  private left: NearMiss[] = [];
  private right: NearMiss[] = [];

  private readonly perSide: number;
  /** When each node the last due() handed back was heard from (see refused). */
  private readonly handedBack = new Map<string, Millis>();

  /** `windowMs`: how long a first-hand contact counts as evidence of life (the failure timeout). */
  constructor(
    private readonly self: NodeInfo,
    private readonly windowMs: Millis,
    leafSetSize: number,
  ) {
    this.perSide = nearMissesPerSide(leafSetSize);
  }

  /** Whether any near miss is remembered (most inputs need not look further). */
  get any(): boolean {
    return this.left.length > 0 || this.right.length > 0;
  }

  /**
   * `node` talked to us at `now` and fitted neither side of the leaf set (both full): kept on each side where it
   * is among the nearest in that side's direction. A side is the nearest l/2 clockwise (or counter-clockwise),
   * whichever half of the ring they lie in: on a sparse stretch the live node just beyond the right end can lie
   * nearer counter-clockwise, and sorted onto the nearer side only, it was not kept for the right.
   */
  record(node: NodeInfo, now: Millis): void {
    if (node.id.equals(this.self.id)) return;
    this.recordOn(node, now, true);
    this.recordOn(node, now, false);
  }

  private recordOn(node: NodeInfo, now: Millis, clockwise: boolean): void {
    const side = clockwise ? this.right : this.left;
    // Most contacts beyond the far ends (route hops from afar) are farther than a full side's last near miss.
    const last = side[side.length - 1];
    if (
      side.length >= this.perSide &&
      last !== undefined &&
      now - last.at < this.windowMs &&
      !side.some((e) => e.node.id.equals(node.id)) &&
      !this.nearer(node, last.node, clockwise)
    ) {
      return;
    }
    const kept = side.filter((e) => now - e.at < this.windowMs && !e.node.id.equals(node.id));
    let at = kept.length;
    while (at > 0 && this.nearer(node, (kept[at - 1] as NearMiss).node, clockwise)) at--;
    if (at < this.perSide) kept.splice(at, 0, { node, at: now });
    if (kept.length > this.perSide) kept.pop();
    if (clockwise) this.right = kept;
    else this.left = kept;
  }

  /**
   * The near misses heard within the window, each once. They lie just past our far ends and talked to us
   * lately: those that hold us (their side reaches one node farther than ours) are among them, and only
   * they can tell us apart from the nodes that do not.
   */
  heardLately(now: Millis): NodeInfo[] {
    const nodes: NodeInfo[] = [];
    for (const e of [...this.left, ...this.right]) {
      if (now - e.at < this.windowMs && !nodes.some((n) => n.id.equals(e.node.id))) nodes.push(e.node);
    }
    return nodes;
  }

  /** `hex` was found dead, left or restarted: it is no near miss any more. */
  forget(hex: string): void {
    if (this.left.some((e) => e.node.id.hex === hex))
      this.left = this.left.filter((e) => e.node.id.hex !== hex);
    if (this.right.some((e) => e.node.id.hex === hex))
      this.right = this.right.filter((e) => e.node.id.hex !== hex);
  }

  /**
   * The near misses that `leaf`, both sides full, would now take in (nearer than a far end), heard within the
   * window; each is struck off once returned. Members, and those heard too long ago, are struck off too.
   */
  due(leaf: LeafSet, now: Millis): NodeInfo[] | undefined {
    const full = leaf.left().length >= leaf.half && leaf.right().length >= leaf.half;
    let due: NodeInfo[] | undefined;
    this.handedBack.clear();
    const sift = (side: NearMiss[]): NearMiss[] =>
      side.filter((e) => {
        if (now - e.at >= this.windowMs || leaf.has(e.node.id.hex)) return false;
        if (!full || !leaf.fits(e.node)) return true;
        if (!due?.some((n) => n.id.equals(e.node.id))) (due ??= []).push(e.node);
        this.handedBack.set(e.node.id.hex, e.at);
        return false;
      });
    this.left = sift(this.left);
    this.right = sift(this.right);
    return due;
  }

  /**
   * `node`, handed back by the last due(), found no room among the leaf-set candidates (they held nodes still
   * being checked, such as crashed members and candidates whose probes had not yet ended): it stays a near
   * miss, heard when it was, to be offered again at a later change. Struck off, it was named to us by
   * nobody again until gossip (adjacent crashes, l = 8, seed 96,780: a hole for 30 s).
   */
  refused(node: NodeInfo): void {
    const at = this.handedBack.get(node.id.hex);
    if (at === undefined) return;
    this.recordOn(node, at, true);
    this.recordOn(node, at, false);
  }

  /** Whether `a` is nearer than `b` on the side `clockwise` names. */
  private nearer(a: NodeInfo, b: NodeInfo, clockwise: boolean): boolean {
    const self = this.self.id;
    const da = clockwise ? approxClockwise(self, a.id) : approxClockwise(a.id, self);
    const db = clockwise ? approxClockwise(self, b.id) : approxClockwise(b.id, self);
    const order = approxOrder(da, db);
    if (order !== 0) return order < 0;
    return clockwise
      ? clockwiseDistance(self, a.id) < clockwiseDistance(self, b.id)
      : clockwiseDistance(a.id, self) < clockwiseDistance(b.id, self);
  }
}
