// Each held key's replica set as this node's view of the ring shows it, computed once per view rather than
// once per key per repair or anti-entropy round. The cache is keyed on what a set depends on, the nodes it
// is chosen from (this node and its leaf set, suspects left out), not on the events that report changes of
// them: a suspicion raised or cleared changes the candidates without any leaf-set event. The view is a
// function (the runtime's Cluster, the simulator's routing machine), so the same cache serves both.
import type { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import { replicaSet } from "./replica-set.js";

export interface Placed {
  readonly epoch: number;
  readonly set: readonly NodeInfo[];
  /** Identifies the set's members and their incarnations: equal signatures, equal sets. */
  readonly signature: string;
}

/**
 * The nodes this node's replica sets are chosen from (itself and its live leaf set: PastryNode's
 * replicaCandidates): the same array while they stay the same, a new array whenever they change.
 */
export type ReplicaView = () => readonly NodeInfo[];

/** Identifies one incarnation of a node: a restarted node (empty) is a different holder. */
export function holderKey(node: NodeInfo): string {
  return `${node.id.hex}:${node.incarnation}`;
}

export function setSignature(set: readonly NodeInfo[]): string {
  return set.map(holderKey).join(",");
}

export class Placement {
  private epoch = 0;
  private basis: readonly NodeInfo[] | undefined;
  private readonly cache = new Map<string, Placed>();

  constructor(
    private readonly view: ReplicaView,
    private readonly k: number,
  ) {}

  /** Grows whenever the view changed since last asked (every key's set is then computed afresh). */
  get currentEpoch(): number {
    this.candidates();
    return this.epoch;
  }

  of(key: NodeId): Placed {
    const candidates = this.candidates();
    const hit = this.cache.get(key.hex);
    if (hit !== undefined) return hit;
    const set = replicaSet(key, candidates, this.k);
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

  /** The view's candidates; a new view empties the cache. */
  private candidates(): readonly NodeInfo[] {
    const candidates = this.view();
    if (candidates !== this.basis) {
      this.basis = candidates;
      this.epoch++;
      this.cache.clear();
    }
    return candidates;
  }
}
