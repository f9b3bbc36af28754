// Re-replication decisions, shared by the runtime (src/server/kv/replicator.ts) and the simulator: which
// held keys to check in a paced step, whom to send each key to, and what follows once the members answered
// (placed, try again, or handed over and dropped). Pure bookkeeping: the caller does the sending.
import type { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import { isMember } from "./replica-set.js";
import type { Placement } from "./placement.js";
import { supersedes, type KvRecord } from "./record.js";

/** One held key under check: its record and replica set as this node saw them when the step began. */
export interface KeyCheck {
  readonly record: KvRecord;
  /** This node belongs to the key's replica set (otherwise it hands the key over and drops it). */
  readonly member: boolean;
  readonly signature: string;
}

/** One step's sends: to each other member of the checked keys' sets, the records it should hold. */
export interface ReplicationPlan {
  readonly checks: ReadonlyMap<string, KeyCheck>;
  readonly targets: readonly { readonly node: NodeInfo; readonly records: readonly KvRecord[] }[];
}

/** The records of `records` that a member holding `theirs` (by key hex) lacks or holds older. */
export function lacking(records: readonly KvRecord[], theirs: ReadonlyMap<string, KvRecord>): KvRecord[] {
  return records.filter((r) => supersedes(r, theirs.get(r.key.hex)));
}

/**
 * The state of one node's re-replication: keys known placed (every member of the set with this signature
 * holds the current version), keys to check first (a write that missed a member, a failed send), and the
 * full pass in progress (every held key, after a view change or every fullPassMs).
 */
export class ReplicationTracker {
  private readonly placed = new Map<string, string>();
  private readonly urgent = new Set<string>();
  private pass: string[] = [];
  private lastPassAt = Number.NEGATIVE_INFINITY;
  /** The placement's epoch the last pass began in: a newer one (the view changed) starts a new pass. */
  private passEpoch: number | undefined;

  constructor(
    private readonly placement: Placement,
    private readonly fullPassMs: number,
  ) {}

  /** A coordinator's write reached every member of `set` (placed, if that is still the set) or not. */
  written(key: NodeId, set: readonly NodeInfo[], everywhere: boolean): void {
    const hex = key.hex;
    const placed = this.placement.of(key);
    if (everywhere && sameMembers(placed.set, set)) {
      this.placed.set(hex, placed.signature);
    } else {
      this.placed.delete(hex);
      this.urgent.add(hex);
    }
  }

  /** A record arrived from elsewhere (a write, a repair): whether the set holds it is unknown. */
  received(hex: string): void {
    this.placed.delete(hex);
  }

  /** Keys waiting to be checked: the replication lag, in keys. */
  get backlog(): number {
    return this.urgent.size + this.pass.length;
  }

  /**
   * The keys a step checks: urgent ones first, then the pass, `budget` at most. A pass begins (once the
   * last one is over) when the view changed since the last began, or fullPassMs after it.
   */
  nextKeys(now: number, heldKeys: () => readonly string[], budget: number): string[] {
    const epoch = this.placement.currentEpoch;
    if (this.pass.length === 0 && (epoch !== this.passEpoch || now - this.lastPassAt >= this.fullPassMs)) {
      this.passEpoch = epoch;
      this.lastPassAt = now;
      this.pass = [...heldKeys()]; // consumed from the end: a copy, never the caller's array
    }
    const keys: string[] = [];
    for (const hex of this.urgent) {
      if (keys.length >= budget) break;
      this.urgent.delete(hex);
      keys.push(hex);
    }
    while (keys.length < budget && this.pass.length > 0) keys.push(this.pass.pop() as string);
    return keys;
  }

  /**
   * What to send for `keys`: each key not known placed goes to every other member of its set. A key no
   * longer held is forgotten.
   */
  plan(self: NodeId, keys: readonly string[], held: (hex: string) => KvRecord | undefined): ReplicationPlan {
    const checks = new Map<string, KeyCheck>();
    const byTarget = new Map<string, { node: NodeInfo; records: KvRecord[] }>();
    for (const hex of keys) {
      const record = held(hex);
      if (record === undefined) {
        this.placement.forget(hex);
        this.placed.delete(hex);
        continue;
      }
      const { set, signature } = this.placement.of(record.key);
      const member = isMember(self, set);
      if (member && this.placed.get(hex) === signature) continue;
      checks.set(hex, { record, member, signature });
      for (const node of set) {
        if (node.id.equals(self)) continue;
        let entry = byTarget.get(node.id.hex);
        if (entry === undefined) byTarget.set(node.id.hex, (entry = { node, records: [] }));
        entry.records.push(record);
      }
    }
    return { checks, targets: [...byTarget.values()] };
  }

  /**
   * The members answered: keys with a failed send are checked again soon; the others are placed, or, where
   * this node is no longer a member, handed over (every member holds this version or newer): returned, for
   * the caller to drop.
   */
  settle(plan: ReplicationPlan, failed: ReadonlySet<string>): KvRecord[] {
    const handedOver: KvRecord[] = [];
    for (const [hex, check] of plan.checks) {
      if (failed.has(hex)) {
        this.urgent.add(hex);
      } else if (check.member) {
        this.placed.set(hex, check.signature);
      } else {
        this.placement.forget(hex);
        this.placed.delete(hex);
        handedOver.push(check.record);
      }
    }
    return handedOver;
  }
}

function sameMembers(a: readonly NodeInfo[], b: readonly NodeInfo[]): boolean {
  return (
    a.length === b.length &&
    a.every((n, i) => n.id.equals((b[i] as NodeInfo).id) && n.incarnation === (b[i] as NodeInfo).incarnation)
  );
}
