// Second looks at leaf-set members we found dead ourselves. Such a death is pushed to the member too, so that
// a live one refutes it (it was slow, not gone). When every message between two ring neighbours is lost for a
// while (a starved process, a link dropping packets both ways), that push is lost as well and each may find
// the other dead: each then ignores gossip naming the other for the death's memory (a minute, see
// FailureDetector.believedDead), neither talks to the other first-hand again, and the ring stays split
// between them after the link heals (overlay harness, 8 s cuts: 6 s to 150 s; test/routing/death-rechecks).
// So the death is pushed to the node again a few times, spaced out after the verdict (a dead node costs one
// message each): a live one refutes it to its whole leaf set, which is first-hand contact for each member.
// And when a node whose death we pushed talks to us first (it was only cut off from us), the members we told
// may still believe it dead, and it does not know: it is told, so that it refutes the death to them too.
// Pure bookkeeping: the node sends the messages.
import { BoundedMap } from "./bounded-map.js";
import type { Millis, NodeInfo } from "./types.js";

/** When the probes go: these many failure timeouts after the verdict. */
export const RECHECK_AFTER_TIMEOUTS: readonly number[] = [1, 3, 9];
/** Deaths re-checked at once at most (the oldest is dropped first): a burst of crashes needs no more. */
const CAPACITY = 64;

interface Pending {
  readonly node: NodeInfo;
  readonly verdictAt: Millis;
  /** Index into RECHECK_AFTER_TIMEOUTS of the next probe. */
  next: number;
  at: Millis;
}

export class DeathRechecks {
  private readonly pending = new BoundedMap<string, Pending>(CAPACITY);
  /** The earliest `at` of pending (Infinity when none); recomputed when an entry moves or goes. */
  private earliest = Number.POSITIVE_INFINITY;

  constructor(private readonly failureTimeoutMs: Millis) {}

  /** We found `node` dead at `now` and pushed its death: probe it later, in case it was only cut off. */
  schedule(node: NodeInfo, now: Millis): void {
    const at = now + RECHECK_AFTER_TIMEOUTS[0]! * this.failureTimeoutMs;
    this.pending.set(node.id.hex, { node, verdictAt: now, next: 0, at });
    this.earliest = Math.min(this.earliest, at);
  }

  /**
   * `hex`, found dead, talked to us: its re-checks end. True when we had pushed its death (within the
   * re-checks' span), so that the node is told and refutes it to the members we told. (Told already by a
   * re-check, it may be its refutation that reached us: it is then told twice. Nothing tells whether the
   * re-check's message arrived, and a lost one would leave those members believing it dead.)
   */
  settle(hex: string): boolean {
    return this.pending.size > 0 && this.pending.delete(hex);
  }

  /** When due() next has a node to give (Infinity when none is pending). */
  nextAt(): Millis {
    return this.earliest;
  }

  /**
   * The nodes whose probe is due at `now`, each moved on to its next probe or forgotten after its last. The
   * caller probes those it still believes dead (a node reinstated, restarted or departed since is skipped).
   */
  due(now: Millis): NodeInfo[] {
    if (now < this.earliest) return [];
    const due: NodeInfo[] = [];
    let earliest = Number.POSITIVE_INFINITY;
    for (const [hex, entry] of [...this.pending.entries()]) {
      if (entry.at <= now) {
        due.push(entry.node);
        entry.next++;
        const after = RECHECK_AFTER_TIMEOUTS[entry.next];
        if (after === undefined) {
          this.pending.delete(hex);
          continue;
        }
        entry.at = entry.verdictAt + after * this.failureTimeoutMs;
      }
      earliest = Math.min(earliest, entry.at);
    }
    this.earliest = earliest;
    return due;
  }

  get size(): number {
    return this.pending.size;
  }
}
