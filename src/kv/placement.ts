// Each held key's replica set as this node's view of the ring shows it, computed once per view change (an
// epoch) rather than once per key per repair or anti-entropy round. The view is a function (the runtime's
// Cluster, the simulator's routing machine), so the same cache serves both.
import type { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";

export interface Placed {
  readonly epoch: number;
  readonly set: readonly NodeInfo[];
  /** Identifies the set's members and their incarnations: equal signatures, equal sets. */
  readonly signature: string;
}

/** The k live nodes closest to a key in this node's view (itself included), closest first. */
export type ReplicaView = (key: NodeId, k: number) => readonly NodeInfo[];

/** Identifies one incarnation of a node: a restarted node (empty) is a different holder. */
export function holderKey(node: NodeInfo): string {
  return `${node.id.hex}:${node.incarnation}`;
}

export function setSignature(set: readonly NodeInfo[]): string {
  return set.map(holderKey).join(",");
}

export class Placement {
  private epoch = 0;
  private readonly cache = new Map<string, Placed>();

  constructor(
    private readonly view: ReplicaView,
    private readonly k: number,
  ) {}

  /** The view changed: every key's replica set is computed afresh when next asked. */
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
    const set = this.view(key, this.k);
    const placed = { epoch: this.epoch, set, signature: setSignature(set) };
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
