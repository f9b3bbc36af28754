// Global truth the overlay cannot see: the live, ready nodes sorted by ID, so the key's true owner (the
// numerically closest live node, ties to the lower ID) is found by binary search.
import { type NodeId, isCloser } from "../routing/id.js";

export interface RingMember {
  readonly id: NodeId;
  readonly index: number;
}

export class RingTruth {
  private readonly members: RingMember[] = [];

  get size(): number {
    return this.members.length;
  }

  has(id: NodeId): boolean {
    const i = this.lowerBound(id.value);
    return this.members[i]?.id.value === id.value;
  }

  add(member: RingMember): void {
    const i = this.lowerBound(member.id.value);
    if (this.members[i]?.id.value === member.id.value) return;
    this.members.splice(i, 0, member);
  }

  remove(id: NodeId): boolean {
    const i = this.lowerBound(id.value);
    if (this.members[i]?.id.value !== id.value) return false;
    this.members.splice(i, 1);
    return true;
  }

  /** The live ready node closest to `key`, or undefined when none is ready. */
  owner(key: NodeId): RingMember | undefined {
    const n = this.members.length;
    if (n === 0) return undefined;
    const i = this.lowerBound(key.value);
    // Only the first member at or above the key and the last one below it (both wrapping) can be closest.
    const above = this.members[i % n] as RingMember;
    const below = this.members[(i - 1 + n) % n] as RingMember;
    return isCloser(key, below.id, above.id) ? below : above;
  }

  /** The member at position i in ring order. */
  at(i: number): RingMember {
    const m = this.members[i];
    if (m === undefined) throw new RangeError(`no ring member at ${i} (size ${this.members.length})`);
    return m;
  }

  /** A snapshot in ring order. */
  all(): readonly RingMember[] {
    return this.members.slice();
  }

  /** Position in ring order of the first member whose ID is >= value (size when there is none). */
  lowerBound(value: bigint): number {
    let lo = 0;
    let hi = this.members.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.members[mid] as RingMember).id.value < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
