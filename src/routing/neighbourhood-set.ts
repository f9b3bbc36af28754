// Pastry's neighbourhood set (paper section 2.1): the M known nodes nearest by the proximity metric. Not
// used for routing decisions directly; it seeds locality when another node joins through this one.
import type { NodeInfo } from "./types.js";
import type { ProximityOf } from "./routing-table.js";

export class NeighbourhoodSet {
  /** Sorted nearest first; unmeasured nodes rank last (Infinity). */
  private readonly nodes: NodeInfo[] = [];
  private readonly proximities: number[] = [];

  constructor(
    private readonly capacity: number,
    private readonly proximityOf: ProximityOf,
  ) {}

  get size(): number {
    return this.nodes.length;
  }

  members(): readonly NodeInfo[] {
    return this.nodes;
  }

  get(hex: string): NodeInfo | undefined {
    return this.nodes.find((n) => n.id.hex === hex);
  }

  /**
   * Offers `node` with its current proximity (re-offering a member re-ranks it). Returns whether the set
   * changed membership or a member was replaced by a new incarnation.
   */
  insert(node: NodeInfo): boolean {
    const proximity = this.proximityOf(node) ?? Number.POSITIVE_INFINITY;
    const at = this.indexOf(node.id.hex);
    let replaced = false;
    if (at >= 0) {
      replaced = this.nodes[at] !== node && this.nodes[at]?.incarnation !== node.incarnation;
      this.nodes.splice(at, 1);
      this.proximities.splice(at, 1);
    } else if (this.nodes.length >= this.capacity) {
      const worst = this.proximities[this.proximities.length - 1] as number;
      if (proximity >= worst) return false;
      this.nodes.pop();
      this.proximities.pop();
    }
    let i = this.proximities.length;
    while (i > 0 && (this.proximities[i - 1] as number) > proximity) i--;
    this.nodes.splice(i, 0, node);
    this.proximities.splice(i, 0, proximity);
    return at < 0 || replaced;
  }

  remove(hex: string): boolean {
    const at = this.indexOf(hex);
    if (at < 0) return false;
    this.nodes.splice(at, 1);
    this.proximities.splice(at, 1);
    return true;
  }

  private indexOf(hex: string): number {
    return this.nodes.findIndex((n) => n.id.hex === hex);
  }
}
