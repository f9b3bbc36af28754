// The join (MSPastry-style, consistent) and the re-validation after a pause, from the joiner's side, plus
// what a node on the join route sends the joiner.
// Invariants:
// - Seeds are tried round-robin from a random one, each at most twice; a join not done within
//   joinTimeoutMs moves on to the next seed, unless its final state came and only leaf-set probes are out.
// - Until ready, a node delivers and forwards nothing: messages wait here (bounded by maxPendingMessages),
//   as do joins routed to it (MAX_PENDING_JOINS) and proximity probes wanted before the final join state
//   (MAX_DEFERRED_PROBES: a probe makes its receiver route joins to us, and two joiners holding each
//   other's joins would deadlock). All of it is handed back once ready, or given up.
// - A join state whose send failed is sent again on the next tick, JOIN_STATE_ATTEMPTS sends at most.
// - A node whose input comes more than pauseThresholdMs after its last tick was paused: it re-validates
//   its leaf set like the end of a join, with no deadline and no seeds to fall back on.
// It keeps the joiner's bookkeeping and returns what to send; the lifecycle status is the node's.
import { BoundedMap } from "./bounded-map.js";
import { ID_DIGITS } from "./id.js";
import type { LeafSet } from "./leaf-set.js";
import type { NeighbourhoodSet } from "./neighbourhood-set.js";
import type { RoutingTable } from "./routing-table.js";
import type {
  Millis,
  NodeInfo,
  Outbound,
  PeerMessage,
  RandomSource,
  RouteMessage,
  RoutingConfig,
  RowEntries,
} from "./types.js";

/** Sends of one join state at most (the first and its resends). */
const JOIN_STATE_ATTEMPTS = 3;
/** Proximity probes a joiner keeps for after its final join state. */
const MAX_DEFERRED_PROBES = 256;
/** Joins held by a node that is itself still joining (beyond this, the joiners' timeouts retry them). */
const MAX_PENDING_JOINS = 64;
const RECENT_JOINERS_CAPACITY = 16;
/** A joiner is introduced to later joiners for this many probe timeouts (its own probing is done by then). */
const JOINER_INTRODUCTION_WINDOW_PROBES = 4;

/** A join routed to a node before it was ready. */
export interface HeldJoin {
  readonly joiner: NodeInfo;
  readonly hops: number;
}

export class JoinProcess {
  private seeds: readonly string[] = [];
  private seedIndex = 0;
  private attempts = 0;
  private deadline: Millis = 0;
  private finalState = false;
  /** Time of the last tick, to notice that this node itself was paused (see pauseThresholdMs). */
  private lastTickAt: Millis | undefined;
  private revalidatingLeafSet = false;
  private deferred: NodeInfo[] = [];
  private held: RouteMessage[] = [];
  private heldJoins: HeldJoin[] = [];
  private joinStatesToResend: Outbound[] = [];
  private readonly joinStateSends = new WeakMap<Outbound, number>();
  /** Nodes that sent us a joining probe lately (ID hex -> when), to introduce concurrent joiners. */
  private readonly recentJoiners = new BoundedMap<string, Millis>(RECENT_JOINERS_CAPACITY);

  constructor(
    private readonly self: NodeInfo,
    private readonly config: RoutingConfig,
  ) {}

  /** Whether the final join state has come (or the node is re-validating): leaf-set probes decide now. */
  get finalStateReceived(): boolean {
    return this.finalState;
  }

  /** Re-confirming the leaf set after a pause: like the end of a join, but without seeds to fall back on. */
  get revalidating(): boolean {
    return this.revalidatingLeafSet;
  }

  get seedCount(): number {
    return this.seeds.length;
  }

  /** Messages waiting for the node to become ready. */
  get heldMessages(): number {
    return this.held.length;
  }

  // ---- The joiner ------------------------------------------------------------------------------------

  /** Starts joining through `seeds` (non-empty) at a random one; returns the join to send. */
  start(seeds: readonly string[], now: Millis, random: RandomSource): Outbound {
    this.seeds = [...seeds];
    // Start at a random seed so that many joiners given the same list spread over it.
    this.seedIndex = Math.floor(random.next() * this.seeds.length) % this.seeds.length;
    this.attempts = 0;
    return this.joinThroughSeed(now);
  }

  /** The join through the next seed, or undefined once every seed failed twice (the join has failed). */
  retry(now: Millis): Outbound | undefined {
    this.attempts++;
    if (this.attempts >= 2 * this.seeds.length) return undefined;
    this.seedIndex = (this.seedIndex + 1) % this.seeds.length;
    return this.joinThroughSeed(now);
  }

  /** When a join in progress times out (Infinity while re-validating). */
  get deadlineAt(): Millis {
    return this.deadline;
  }

  /** When the last tick came (undefined before the first). */
  get lastTick(): Millis | undefined {
    return this.lastTickAt;
  }

  /** Whether join states wait to be sent again on the next tick. */
  get resendsWaiting(): boolean {
    return this.joinStatesToResend.length > 0;
  }

  /** Whether the join deadline has passed. */
  timedOut(now: Millis): boolean {
    return now >= this.deadline;
  }

  /** The join is progressing (only leaf-set probes are out, and they end by themselves): wait longer. */
  extendDeadline(now: Millis): void {
    this.deadline = now + this.config.joinTimeoutMs;
  }

  /** The final join state came: returns the proximity probes held back until now. */
  finalStateArrived(): NodeInfo[] {
    this.finalState = true;
    const deferred = this.deferred;
    this.deferred = [];
    return deferred;
  }

  /** Holds a proximity probe until the final join state came (beyond MAX_DEFERRED_PROBES: not sent). */
  defer(node: NodeInfo): void {
    if (this.deferred.length < MAX_DEFERRED_PROBES) this.deferred.push(node);
  }

  // ---- Pauses ----------------------------------------------------------------------------------------

  ticked(now: Millis): void {
    this.lastTickAt = now;
  }

  /** Whether an input at `now` finds a ready node that was paused for longer than pauseThresholdMs. */
  pausedUntil(now: Millis, ready: boolean): boolean {
    return ready && this.lastTickAt !== undefined && now - this.lastTickAt > this.config.pauseThresholdMs;
  }

  /** Re-validation starts: no deadline, the leaf-set probes decide (as after a final join state). */
  beginRevalidation(now: Millis): void {
    this.lastTickAt = now;
    this.revalidatingLeafSet = true;
    this.finalState = true;
    this.deadline = Number.POSITIVE_INFINITY;
  }

  /** The node is ready: returns the messages and joins it held, to route and serve now (in this order). */
  ready(): { readonly messages: RouteMessage[]; readonly joins: HeldJoin[] } {
    this.revalidatingLeafSet = false;
    const messages = this.held;
    this.held = [];
    const joins = this.heldJoins;
    this.heldJoins = [];
    return { messages, joins };
  }

  // ---- Held work -------------------------------------------------------------------------------------

  /** Holds `message` until ready; false when the queue is full (the message is then dropped). */
  hold(message: RouteMessage): boolean {
    if (this.held.length >= this.config.maxPendingMessages) return false;
    this.held.push(message);
    return true;
  }

  /** Holds a join routed to this node while it is itself joining (beyond the bound the joiner retries). */
  holdJoin(joiner: NodeInfo, hops: number): void {
    if (this.heldJoins.length < MAX_PENDING_JOINS) this.heldJoins.push({ joiner, hops });
  }

  /** The join failed: returns the held messages (they are undeliverable); joins and probes are dropped. */
  giveUp(): RouteMessage[] {
    const messages = this.held;
    this.held = [];
    this.heldJoins = [];
    this.deferred = [];
    return messages;
  }

  /** The node leaves: returns the held messages (to hand on); nothing else is kept. */
  leave(): RouteMessage[] {
    const messages = this.giveUp();
    this.joinStatesToResend = [];
    return messages;
  }

  /** A join state's send failed: it is sent again on the next tick, a bounded number of times. */
  resendLater(out: Outbound): void {
    const sent = this.joinStateSends.get(out) ?? 1;
    if (sent >= JOIN_STATE_ATTEMPTS || this.joinStatesToResend.length >= MAX_PENDING_JOINS) return;
    this.joinStateSends.set(out, sent + 1);
    this.joinStatesToResend.push(out);
  }

  /** The join states to send again now (on a tick). */
  takeResends(): Outbound[] {
    const resends = this.joinStatesToResend;
    if (resends.length > 0) this.joinStatesToResend = [];
    return resends;
  }

  // ---- Concurrent joiners ----------------------------------------------------------------------------

  /**
   * Two nodes joining side by side at the same time can each be told a leaf set that predates the other.
   * A member that gets a joining probe therefore tells the other recent joiners in its leaf set about the
   * new one. Returns those recent joiners (members within half a leaf set of `joiner`) and records it.
   */
  joinersToIntroduce(joiner: NodeInfo, leaf: LeafSet, now: Millis): NodeInfo[] {
    const introduce: NodeInfo[] = [];
    for (const [hex, at] of this.recentJoiners.entries()) {
      if (now - at > JOINER_INTRODUCTION_WINDOW_PROBES * this.config.probeTimeoutMs) continue;
      const member = leaf.get(hex);
      if (member === undefined || hex === joiner.id.hex || !withinHalfOfEachOther(leaf, member, joiner))
        continue;
      introduce.push(member);
    }
    this.recentJoiners.set(joiner.id.hex, now);
    return introduce;
  }

  private joinThroughSeed(now: Millis): Outbound {
    const address = this.seeds[this.seedIndex % this.seeds.length] as string;
    this.deadline = now + this.config.joinTimeoutMs;
    this.finalState = false;
    return { to: undefined, address, message: { type: "join", joiner: this.self, hops: 0 } };
  }
}

/**
 * What a ready node on the join route sends the joiner: its table rows `hops` .. prefix(joiner), row i from
 * the i-th hop as in the Pastry paper (a hop that shares more digits than its place on the route also covers
 * the rows the route skipped); the first hop adds its neighbourhood set; the last (`final`: no next hop) adds
 * its leaf set. Never the joiner itself. Every hop once sent its rows from 0, for more candidates per slot,
 * all measured by the joiner; but a later hop's first rows hold nodes near that hop, not near the joiner
 * (the seed is), and the join's second phase asks the joiner's nearest nodes for those rows anyway. Rows from
 * `hops` cost 4.5 % fewer control messages under churn at 10,000 simulated nodes with 30-minute sessions
 * (0.790 -> 0.754 per node per second), stretch 1.71 either way; 3 % fewer at 2,000 nodes (3 seeds), for
 * stretch 0.00-0.02 higher.
 */
export function joinStateFor(
  self: NodeInfo,
  state: { readonly table: RoutingTable; readonly neighbours: NeighbourhoodSet; readonly leaf: LeafSet },
  joiner: NodeInfo,
  hops: number,
  final: boolean,
): PeerMessage {
  const shared = Math.min(self.id.commonPrefixLength(joiner.id), ID_DIGITS - 1);
  const rows: RowEntries[] = [];
  for (let r = Math.min(hops, shared); r <= shared; r++) {
    const entries = state.table.rowEntries(r).filter((n) => !n.id.equals(joiner.id));
    if (entries.length > 0) rows.push({ row: r, entries });
  }
  return {
    type: "joinState",
    rows,
    neighbours: hops === 0 ? state.neighbours.members().filter((n) => !n.id.equals(joiner.id)) : [],
    leafSet: final ? [...state.leaf.members()].filter((n) => !n.id.equals(joiner.id)) : [],
    final,
  };
}

/** Whether fewer than l/2 of the leaf set (self included) lie between two members: each is in the other's. */
export function withinHalfOfEachOther(leaf: LeafSet, a: NodeInfo, b: NodeInfo): boolean {
  const left = leaf.left();
  const right = leaf.right();
  const leftA = left.indexOf(a);
  const leftB = left.indexOf(b);
  const rightA = right.indexOf(a);
  const rightB = right.indexOf(b);
  if ((leftA >= 0 && leftB >= 0) || (rightA >= 0 && rightB >= 0)) return true;
  const across = leftA >= 0 && rightB >= 0 ? leftA + rightB : rightA >= 0 && leftB >= 0 ? rightA + leftB : -1;
  return across >= 0 && across + 1 < leaf.half;
}
