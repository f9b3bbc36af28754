// Notices sent again when they did not get through. Some messages tell a node that another is gone, and
// nothing else tells it soon: a holder that misses every push of a member's death keeps the dead member
// until its own checks come round (3 % of messages lost, 2,000 simulated nodes, 5-minute sessions, seed 3:
// 26 (holder, dead member) pairs lasted over 15 s in 20 minutes, the worst 36 s), and one that misses a
// leaver's notice keeps the departed node the same way (299 pairs over 15 s, the worst 54 s). So a notice
// whose send failed goes again, at most NOTICE_RESENDS times, to a receiver still in our leaf set (the
// nodes that hold us, or the dead node, in theirs):
// - a death push (a leaf-set message naming deaths) while it still says something: naming the deaths we
//   still believe; not to the dead node itself (death-rechecks.ts tells it), and never as evidence against
//   the receiver, since a lost push says little about liveness under load;
// - a leave notice, by the leaver while it drains its calls (a stopping daemon's grace); a table entry
//   that holds the leaver finds it gone when it next uses it (a refused call).
// Never after a refused connection: the receiver's process is gone, and a restarted one holds nothing.
// Pure: the node sends what these return.
import type { NodeId } from "./id.js";
import type { SendFailure } from "./hop-delivery.js";
import type { NodeInfo, Outbound } from "./types.js";

/** How many times one notice goes again, each after the previous send failed. */
export const NOTICE_RESENDS = 2;

/** What a death push's resend needs to know of the node's state now. */
export interface DeathPushState {
  /** Whether this incarnation of `node` is in our leaf set. */
  isMember(node: NodeInfo): boolean;
  /** Whether we still believe `id` dead (not refuted since, nor forgotten). */
  believesDead(id: NodeId): boolean;
  /** Our leaf set now. */
  leafSet(): readonly NodeInfo[];
}

/**
 * The push to send again after `failed`'s send failed, or undefined. It names the deaths still believed,
 * with our leaf set as it is now (a notice sent with no leaf set stays without one: its receiver probes the
 * node rather than take our word).
 */
export function deathPushResend(
  failed: Outbound,
  cause: SendFailure,
  state: DeathPushState,
): Outbound | undefined {
  const message = failed.message;
  const to = failed.to;
  if (message.type !== "leafSet" || to === undefined || !mayResend(failed, cause)) return undefined;
  if (!state.isMember(to)) return undefined;
  const removed = message.removed.filter((id) => !id.equals(to.id) && state.believesDead(id));
  if (removed.length === 0) return undefined;
  const leafSet = message.leafSet.length === 0 ? message.leafSet : state.leafSet();
  return {
    to,
    address: failed.address,
    message: { type: "leafSet", leafSet, removed },
    attempt: next(failed),
  };
}

/**
 * The leave notice to send again after `failed`'s send failed (the same notice), or undefined. `isMember`:
 * whether this incarnation of a node is in the leaver's leaf set.
 */
export function leaveResend(
  failed: Outbound,
  cause: SendFailure,
  isMember: (node: NodeInfo) => boolean,
): Outbound | undefined {
  const to = failed.to;
  if (failed.message.type !== "leave" || to === undefined || !mayResend(failed, cause)) return undefined;
  return isMember(to) ? { ...failed, attempt: next(failed) } : undefined;
}

function mayResend(failed: Outbound, cause: SendFailure): boolean {
  return cause !== "unreachable" && (failed.attempt ?? 0) < NOTICE_RESENDS;
}

function next(failed: Outbound): number {
  return (failed.attempt ?? 0) + 1;
}
