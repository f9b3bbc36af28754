// Each held key's replica set as this node's leaf set shows it, computed once per leaf-set change (an
// epoch) rather than once per key per repair or anti-entropy round.
import type { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import { holderKey, type KvOverlay } from "./overlay.js";

interface Placed {
  readonly epoch: number;
  readonly set: readonly NodeInfo[];
  readonly signature: string;
}

export class Placement {
  private epoch = 0;
  private readonly cache = new Map<string, Placed>();

  constructor(
    private readonly overlay: KvOverlay,
    private readonly k: number,
  ) {}

  /** The leaf set changed: every key's replica set is computed afresh when next asked. */
  membershipChanged(): void {
    this.epoch++;
    this.cache.clear();
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  of(key: NodeId): Placed {
    const hit = this.cache.get(key.hex);
    if (hit !== undefined && hit.epoch === this.epoch) return hit;
    const set = this.overlay.replicas(key, this.k);
    const placed = { epoch: this.epoch, set, signature: set.map(holderKey).join(",") };
    this.cache.set(key.hex, placed);
    return placed;
  }

  /** A key no longer held: its entry goes too, so the cache stays within the store's bound. */
  forget(hex: string): void {
    this.cache.delete(hex);
  }

  includes(key: NodeId, node: NodeInfo): boolean {
    return this.of(key).set.some((n) => n.id.equals(node.id));
  }
}
