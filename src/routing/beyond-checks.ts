// Checks past a death that its finder could not see: the dead node's neighbour, told of it, probes the
// nearest of its members beyond the finder's reach first, and the rest only if that one is silent too.
//
// Why: only the node that finds a leaf-set member dead probes the quiet members beside it (adjacent crashes
// are found together). A finder lying behind the dead node's neighbour reaches fewer members past the dead
// node than the neighbour holds, and the neighbour, told by its push, found the crashes beyond that reach one
// by one, each when it became its nearest member (three probe attempts each; four adjacent crashes, l = 8:
// 13.25 and 16.5 s). Probing all of them at once cost churn more than its budget (docs/protocol.md: in
// churn the finder is often many places behind, and those members are alive). But a run of adjacent crashes
// is contiguous: if the nearest member beyond the finder's reach is alive, the run that began at the dead
// node ended before it, and a dead member past it belongs to another run, whose live neighbour on its
// counter-clockwise side watches it (heartbeats go to the predecessor) and finds it. So that one member
// answers for the rest.
// A neighbour that was probing the dead node itself when the push came checks every member past it so, the
// finder's too: the finder checked only those quiet to it when it found the death, and a failed send finds
// one before the others have been silent long enough to seem quiet (its push then named them alive).
// Invariants:
// - At most `capacity` held checks (one per death told; the oldest gives way), each released once, and only
//   while it is fresh (`until`): a silence after that is a later matter for the members' own watchers.
import type { Millis, NodeInfo } from "./types.js";

interface HeldCheck {
  readonly rest: readonly NodeInfo[];
  readonly until: Millis;
}

export class BeyondChecks {
  /** By the member probed first; insertion order is age order. */
  private readonly held = new Map<string, HeldCheck>();

  constructor(private readonly capacity: number) {}

  /** `first` is being probed; `rest` are to be checked if an attempt to it goes unanswered before `until`. */
  hold(first: NodeInfo, rest: readonly NodeInfo[], until: Millis): void {
    if (rest.length === 0) return;
    const hex = first.id.hex;
    this.held.delete(hex);
    this.held.set(hex, { rest, until });
    if (this.held.size > this.capacity) {
      const oldest = this.held.keys().next().value as string;
      this.held.delete(oldest);
    }
  }

  /** An attempt to probe `hex` went unanswered at `now`: the members held behind it, if any (once). */
  release(hex: string, now: Millis): readonly NodeInfo[] | undefined {
    const check = this.held.get(hex);
    if (check === undefined) return undefined;
    this.held.delete(hex);
    return now <= check.until ? check.rest : undefined;
  }

  /** `hex` left our state (answered, found dead, departed): nothing is held behind it any more. */
  forget(hex: string): void {
    this.held.delete(hex);
  }

  get size(): number {
    return this.held.size;
  }
}
