// Pastry's neighbourhood set (paper section 2.1): the M known nodes nearest by the proximity metric. Not
// used for routing decisions directly; it seeds locality when another node joins through this one.
import type { NodeInfo } from "./types.js";
import type { ProximityOf } from "./routing-table.js";

export class NeighbourhoodSet {
  /** Sorted nearest first; unmeasured nodes rank last (Infinity). */
  private readonly nodes: NodeInfo[] = [];
  private readonly proximities: number[] = [];
  /**
   * Members by ID hex with the proximity they are ranked by: membership checks are O(1), and re-offering a
   * member whose proximity has not changed (most offers: every learnt node is offered here) needs no scan.
   */
  private readonly byHex = new Map<string, { readonly node: NodeInfo; readonly proximity: number }>();
  /** Changes to byHex so far (see version). */
  private changes = 0;
  /** Members that left so far, removed or pushed out by a nearer node (see removals). */
  private removed = 0;

  constructor(
    private readonly capacity: number,
    private readonly proximityOf: ProximityOf,
  ) {}

  get size(): number {
    return this.nodes.length;
  }

  /** Grows whenever a member is added, re-ranked or removed: a cache of look-ups keyed on it is never stale. */
  get version(): number {
    return this.changes;
  }

  /** Grows whenever an ID stops being a member; not when one joins or a member is re-ranked or replaced. */
  get removals(): number {
    return this.removed;
  }

  members(): readonly NodeInfo[] {
    return this.nodes;
  }

  get(hex: string): NodeInfo | undefined {
    return this.byHex.get(hex)?.node;
  }

  has(hex: string): boolean {
    return this.byHex.has(hex);
  }

  /**
   * Offers `node` with its current proximity (re-offering a member re-ranks it). Returns whether the set
   * changed membership or a member was replaced by a new incarnation.
   */
  insert(node: NodeInfo): boolean {
    if (this.capacity <= 0) return false;
    return this.insertMeasured(node, this.proximityOf(node));
  }

  /** insert() with the node's proximity already looked up by the caller (undefined: unmeasured). */
  insertMeasured(node: NodeInfo, measured: number | undefined): boolean {
    if (this.capacity <= 0) return false;
    const proximity = measured ?? Number.POSITIVE_INFINITY;
    const hex = node.id.hex;
    const member = this.byHex.get(hex);
    if (member !== undefined && member.node === node && member.proximity === proximity) return false;
    const known = member?.node;
    if (known === undefined) {
      if (this.nodes.length >= this.capacity) {
        if (proximity >= (this.proximities[this.proximities.length - 1] as number)) return false;
        const evicted = this.nodes.pop() as NodeInfo;
        this.proximities.pop();
        this.byHex.delete(evicted.id.hex);
        this.removed++;
      }
    } else {
      const at = this.nodes.indexOf(known);
      this.nodes.splice(at, 1);
      this.proximities.splice(at, 1);
    }
    let i = this.proximities.length;
    while (i > 0 && (this.proximities[i - 1] as number) > proximity) i--;
    this.nodes.splice(i, 0, node);
    this.proximities.splice(i, 0, proximity);
    this.byHex.set(hex, { node, proximity });
    this.changes++;
    return known === undefined || (known !== node && known.incarnation !== node.incarnation);
  }

  remove(hex: string): boolean {
    const known = this.byHex.get(hex)?.node;
    if (known === undefined) return false;
    this.byHex.delete(hex);
    this.changes++;
    this.removed++;
    const at = this.nodes.indexOf(known);
    this.nodes.splice(at, 1);
    this.proximities.splice(at, 1);
    return true;
  }
}
