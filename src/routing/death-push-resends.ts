// Death pushes sent again when they did not arrive. A leaf-set member's death reaches the other holders by
// pushes (the finder's to its leaf set, the relay across the gap, a notice to a member holding a ghost), and
// a holder whose pushes were all lost keeps the dead member until its own checks come round: with 3 % of
// messages lost (2,000 simulated nodes, 5-minute sessions) 41 (holder, dead member) pairs lasted over 15 s in
// 25 minutes, the worst 43 s with both pushes meant for the holder lost. So a push whose send failed goes
// again, at most DEATH_PUSH_RESENDS times, while it still says something: to a receiver still in our leaf
// set, naming the deaths we still believe. Not to the dead node itself (death-rechecks.ts tells it), and
// never as evidence against the receiver: a lost push says little about liveness under load.
// Pure: the node sends what this returns.
import type { NodeId } from "./id.js";
import type { NodeInfo, Outbound } from "./types.js";

/** How many times one push goes again, each after the previous send failed. */
export const DEATH_PUSH_RESENDS = 2;

/** What the resend needs to know of the node's state now. */
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
export function deathPushResend(failed: Outbound, state: DeathPushState): Outbound | undefined {
  const message = failed.message;
  const to = failed.to;
  const attempt = failed.attempt ?? 0;
  if (message.type !== "leafSet" || to === undefined || attempt >= DEATH_PUSH_RESENDS) return undefined;
  if (!state.isMember(to)) return undefined;
  const removed = message.removed.filter((id) => !id.equals(to.id) && state.believesDead(id));
  if (removed.length === 0) return undefined;
  const leafSet = message.leafSet.length === 0 ? message.leafSet : state.leafSet();
  return {
    to,
    address: failed.address,
    message: { type: "leafSet", leafSet, removed },
    attempt: attempt + 1,
  };
}
