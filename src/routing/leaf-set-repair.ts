// Leaf-set repair and gossip: the candidates being probed to join the leaf set, the deaths to push, the
// sides to repair, and anti-entropy.
// Invariants:
// - Candidates are kept to the same l/2 per side as the leaf set: a node is probed only if it is among the
//   nearest known so far, so a join or repair probes about l nodes, not every node named in every leaf set.
// - Removals (and refutations of our own death) are pushed to the leaf set at most once per tick; later
//   ones are coalesced into the next tick's push. A reinstated node is struck from what is still to push.
// - A side that lost a member asks the farthest live member there (else on the other side) for its leaf
//   set, at most once per probe timeout per peer; the request waits for a later input while held back.
// - A side still short after its request asks again, after 2, 4 and 8 probe timeouts, then no more until it
//   has been full again (its answer may have come from a member whose own side was just as cut).
// - Nodes that join the leaf set are told the deaths of the last RECENT_DEATH_WINDOW_MS (they were beyond
//   the leaf set when the death was pushed).
// - Everything batched is flushed once per input by finish(), which returns the sends in order.
import { BoundedMap } from "./bounded-map.js";
import { LeafSet, type LeafSides } from "./leaf-set.js";
import { GossipSuppression } from "./maintenance-tuning.js";
import type { PeerSend } from "./outbox.js";
import { RecentTimes } from "./recent-times.js";
import { ID_BITS, clockwiseDistance, type NodeId } from "./id.js";
import type { Millis, NodeInfo, RoutingConfig } from "./types.js";

/** leafSetRequest to the same peer at most once per this many probe timeouts. */
const LEAF_SET_REQUEST_INTERVAL_PROBES = 1;
const REQUEST_MEMORY = 512;
/**
 * A ready node sends its leaf set to one random member once per this many heartbeat intervals... (12 saved
 * only 2 % of control messages under churn: most leaf-set messages are pushes and answers, not this gossip)
 */
const LEAF_SET_GOSSIP_HEARTBEATS = 6;
/** ...when its leaf set changed since the last round; unchanged, only every this many rounds (48 s with the default heartbeat). */
const QUIET_GOSSIP_ROUNDS = 2;
/**
 * How long, and how many, recent leaf-set deaths are passed on to nodes that join our leaf set. Deaths we were
 * told of too, not only those we found: the redundancy costs 3 % of control messages under churn (a joiner
 * hears a death from many members); without it, in runs that also cut the join's rows, a crashed node stayed
 * in some leaf set for up to 106 s and 27 s (two seeds) where the join change alone left it 8-14 s
 * (2,000 simulated nodes, 30-minute sessions).
 */
const RECENT_DEATH_WINDOW_MS = 30_000;
const RECENT_DEATHS_CAPACITY = 64;
const NO_IDS: readonly NodeId[] = Object.freeze([]);
/** Half the ring: a side's true members lie within it, in its direction, unless the leaf set wraps. */
const HALF_RING = 1n << BigInt(ID_BITS - 1);
/**
 * How many probe timeouts a side filled from the far half of the ring waits before it asks for its repair.
 * The holders a finder's push left uninformed hear from the node across the gap (relayDeath), and the one
 * just past our far end then probes us: the side refills from its own half within a few round trips.
 * Asking at once repeated that work: leaf-set requests 0.00155 -> 0.00221 per node per second, control
 * +0.45 % (2,000 simulated nodes, 30-minute sessions), with every hole as long as before.
 */
const FAR_FILL_GRACE_PROBES = 2;
/**
 * A side still short after its repair request asks again this many times, after 2, 4 and 8 probe timeouts.
 * Four adjacent crashes (l = 8) can leave the member a side asks with its own side emptied: its answer names
 * nothing new, and the side stayed one short until the next gossip round (about 30 s; 4 of 3,000 seeds of
 * the adjacent-crash sweep). Bounded: a side that cannot fill (nobody left to name) costs 3 requests.
 */
const SHORT_SIDE_RETRIES = 3;

/** The retries of one side: when the next is due (undefined: none), and how many were spent. */
class ShortSideRetry {
  private dueAt: Millis | undefined;
  private spent = 0;

  /** A request went out for the side, which is short: the next retry, if any is left, is scheduled. */
  requested(now: Millis, probeTimeoutMs: Millis): void {
    this.dueAt = this.spent < SHORT_SIDE_RETRIES ? now + probeTimeoutMs * 2 ** (this.spent + 1) : undefined;
  }

  /** Whether a retry is due now (then it is spent). */
  due(now: Millis): boolean {
    if (this.dueAt === undefined || now < this.dueAt) return false;
    this.dueAt = undefined;
    this.spent++;
    return true;
  }

  /** The side is full (or the ring is too small to fill it): a later shortage starts afresh. */
  reset(): void {
    this.dueAt = undefined;
    this.spent = 0;
  }

  get at(): Millis {
    return this.dueAt ?? Number.POSITIVE_INFINITY;
  }
}

/**
 * A side filled from the far half of the ring (see coverage): when its grace ends and it asks after all,
 * unless it is covered by then.
 */
class FarFillCheck {
  private dueAt: Millis | undefined;

  /** The side was found filled from the far half: it asks `graceMs` from now (if not already waiting). */
  start(now: Millis, graceMs: Millis): void {
    this.dueAt ??= now + graceMs;
  }

  /** Whether the grace has ended (then it is spent). */
  due(now: Millis): boolean {
    if (this.dueAt === undefined || now < this.dueAt) return false;
    this.dueAt = undefined;
    return true;
  }

  clear(): void {
    this.dueAt = undefined;
  }

  get at(): Millis {
    return this.dueAt ?? Number.POSITIVE_INFINITY;
  }
}

/** What one input's end flushes: the sends, in order, and the leaf set to announce if it changed. */
export interface LeafSetFlush {
  readonly sends: readonly PeerSend[];
  readonly changed: readonly NodeInfo[] | undefined;
}

/** The farthest member of a side (the last) that is not busy, else the farthest; undefined when empty. */
function farthestNotBusy(members: readonly NodeInfo[], busy: (hex: string) => boolean): NodeInfo | undefined {
  for (let i = members.length - 1; i >= 0; i--) {
    const node = members[i] as NodeInfo;
    if (!busy(node.id.hex)) return node;
  }
  return members[members.length - 1];
}

export class LeafSetRepair {
  /** The leaf set plus the candidates being probed to join it (see the invariants above). */
  private readonly candidates: LeafSet;
  private readonly lastLeafSetRequest = new BoundedMap<string, Millis>(REQUEST_MEMORY);
  // Per-input batching: flushed once at the end of each input.
  private removedToPush: NodeInfo[] = [];
  /** Leaf members added during this input: told about recent deaths they may have missed. */
  private newLeafMembers: NodeInfo[] = [];
  /** Leaf-set members found dead lately (their farthest neighbour on our side only hears of it later). */
  private recentLeafDeaths: { readonly id: NodeId; readonly at: Millis }[] = [];
  /** Sides whose repair request is due; kept across inputs while the rate limit holds it back. */
  private repairLeft = false;
  private repairRight = false;
  private readonly retryLeft = new ShortSideRetry();
  private readonly retryRight = new ShortSideRetry();
  private readonly farFillLeft = new FarFillCheck();
  private readonly farFillRight = new FarFillCheck();
  private leafChanged = false;
  /** Someone pushed our own death: tell our leaf set directly that we are alive (they take us back). */
  private refuteDeath = false;
  /** Leaf-set pushes are coalesced: at most one per tick; the rest wait for the next tick's flush. */
  private pushedThisTick = false;
  private nextGossipAt: Millis = 0;
  private readonly gossipSuppression = new GossipSuppression(QUIET_GOSSIP_ROUNDS);
  /** Members whose leaf set we answered with ours lately, because it lacked a live member of ours. */
  private readonly gapsAnswered: RecentTimes;

  constructor(
    private readonly self: NodeInfo,
    private readonly config: RoutingConfig,
  ) {
    this.candidates = new LeafSet(self, config.leafSetSize);
    this.gapsAnswered = new RecentTimes(config.failureTimeoutMs, 2 * config.leafSetSize);
  }

  // ---- Candidates ------------------------------------------------------------------------------------

  /** Offers `node` as a candidate; returns whether it is among the nearest (then it is to be probed). */
  offerCandidate(node: NodeInfo): boolean {
    this.candidates.insert(node);
    return this.candidates.has(node.id.hex);
  }

  isCandidate(hex: string): boolean {
    return this.candidates.has(hex);
  }

  /** Grows whenever an ID leaves the candidate set (LeafSet.removals). */
  get candidatesRemovals(): number {
    return this.candidates.removals;
  }

  /**
   * `hex` is no candidate any more (it did not answer, or left our state). It may have pushed nearer nodes
   * out of the candidate set: unless it is a leaf-set member, its sides ask for leaf sets again.
   */
  dropCandidate(hex: string, leafMember: boolean): void {
    const sides = this.candidates.sidesOf(hex);
    if (!this.candidates.remove(hex) || leafMember) return;
    // Even a full side may hold a farther node taken in while this candidate kept nearer ones out.
    this.scheduleRepair(sides);
  }

  // ---- Changes to the leaf set -------------------------------------------------------------------------

  /** `node` entered the leaf set (`ready`: this node routes; a new member then hears of recent deaths). */
  memberAdded(node: NodeInfo, ready: boolean): void {
    this.candidates.insert(node);
    this.leafChanged = true;
    if (ready && this.recentLeafDeaths.length > 0) this.newLeafMembers.push(node);
  }

  /**
   * The recent deaths to tell `prober`, which we are answering, if it joined our leaf set during this input:
   * they go in our probe reply instead of a leaf-set message of their own (a message per new member
   * fewer); none otherwise.
   */
  deathsToTell(prober: NodeInfo): readonly NodeId[] {
    const i = this.newLeafMembers.findIndex((node) => node.id.hex === prober.id.hex);
    if (i < 0) return NO_IDS;
    this.newLeafMembers.splice(i, 1);
    return this.recentLeafDeaths.map((d) => d.id);
  }

  /**
   * A member left the leaf set from `sides`: those sides are repaired, by asking a member there for its leaf
   * set unless `named` (a leaver's notice carries its own leaf set, whose l/2 on each side reach past ours).
   */
  memberLost(sides: LeafSides, named = false): void {
    this.leafChanged = true;
    if (!named) this.scheduleRepair(sides);
  }

  /** A leaf-set member was found dead: its death is pushed (if we found it) and told to later members. */
  memberDied(node: NodeInfo, firstHand: boolean, now: Millis): void {
    if (firstHand) this.removedToPush.push(node);
    this.recentLeafDeaths.push({ id: node.id, at: now });
    const keepFrom = now - RECENT_DEATH_WINDOW_MS;
    while (
      this.recentLeafDeaths.length > RECENT_DEATHS_CAPACITY ||
      (this.recentLeafDeaths[0]?.at ?? now) < keepFrom
    ) {
      this.recentLeafDeaths.shift();
    }
  }

  /** New evidence wins over an earlier verdict: `hex`, found dead, talked to us directly. */
  reinstate(hex: string): void {
    // Nodes that join our leaf set later must not be told of this death; a push not yet sent drops it.
    this.recentLeafDeaths = this.recentLeafDeaths.filter((d) => d.id.hex !== hex);
    this.removedToPush = this.removedToPush.filter((n) => n.id.hex !== hex);
  }

  /** Someone found us dead: the next flush tells our leaf set directly that we are alive. */
  refute(): void {
    this.refuteDeath = true;
  }

  /** The leaf set is to be announced at the end of this input (e.g. on becoming ready). */
  markChanged(): void {
    this.leafChanged = true;
  }

  // ---- Requests and gossip ---------------------------------------------------------------------------

  /** Whether a leafSetRequest may go to `node` now (at most once per probe timeout); records it if so. */
  mayRequestLeafSet(node: NodeInfo, now: Millis): boolean {
    const last = this.lastLeafSetRequest.get(node.id.hex);
    if (last !== undefined && now - last < LEAF_SET_REQUEST_INTERVAL_PROBES * this.config.probeTimeoutMs) {
      return false;
    }
    this.lastLeafSetRequest.set(node.id.hex, now);
    return true;
  }

  /** Starts the anti-entropy clock (on becoming ready). */
  startGossip(now: Millis): void {
    this.nextGossipAt = now + LEAF_SET_GOSSIP_HEARTBEATS * this.config.heartbeatIntervalMs;
  }

  /** When anti-entropy is due next. */
  get gossipAt(): Millis {
    return this.nextGossipAt;
  }

  /** When a short side's next repair request is due (infinity: none). */
  get retryAt(): Millis {
    return Math.min(this.retryLeft.at, this.retryRight.at, this.farFillLeft.at, this.farFillRight.at);
  }

  /**
   * Whether pushes or repair requests were held back (the one push of this tick went out, or the rate limit
   * said wait): the next input or tick flushes them.
   */
  get holdsBackWork(): boolean {
    return this.removedToPush.length > 0 || this.refuteDeath || this.repairLeft || this.repairRight;
  }

  /**
   * Anti-entropy, once per LEAF_SET_GOSSIP_HEARTBEATS heartbeats: whether it is due (then the clock moves
   * on). A node dropped on hearsay while alive (its refutation lost) comes back: the receiver hears from us
   * directly and probes members it lacks.
   */
  gossipDue(now: Millis): boolean {
    if (now < this.nextGossipAt) return false;
    this.nextGossipAt = now + LEAF_SET_GOSSIP_HEARTBEATS * this.config.heartbeatIntervalMs;
    return true;
  }

  /**
   * The round's gossip, to the predecessor: it goes out in place of a heartbeat (any message to the
   * predecessor stands in for one), so anti-entropy costs no message of its own. A random member was told
   * before: 0.034 of 0.612 control messages per node per second at 10,000 simulated nodes. The predecessor
   * holds all but one of our members, so it checks its own against nearly all of them (checkListedBy).
   */
  gossip(leaf: LeafSet): PeerSend | undefined {
    const target = leaf.left()[0] ?? leaf.right()[0];
    if (target === undefined || !this.gossipSuppression.shouldGossip()) return undefined;
    return { to: target, message: { type: "leafSet", leafSet: leaf.list(), removed: [] } };
  }

  /**
   * `from`, a member, sent its whole leaf set, and it lacks a member of ours that it should hold and that we
   * heard from lately: ours goes back, naming that node. Gossip goes only to the predecessor, so a node
   * whose first word from a new or refuting neighbour was lost heard of it from nobody: three leaf sets of
   * the overload property stayed one short for good, each gossiping to a node that held the one missing.
   * Once per failure timeout per member: two leaf sets that each lack a node the other holds (a death one
   * of them still believes) do not answer each other back and forth.
   */
  answerGap(from: NodeInfo, leaf: LeafSet, now: Millis): PeerSend | undefined {
    if (this.gapsAnswered.recent(from.id.hex, now) !== undefined) return undefined;
    this.gapsAnswered.record(from.id.hex, now);
    return { to: from, message: { type: "leafSet", leafSet: leaf.list(), removed: [] } };
  }

  // ---- Flushing ------------------------------------------------------------------------------------------

  /** A new tick: one more leaf-set push may go out. */
  newTick(): void {
    this.pushedThisTick = false;
  }

  /**
   * The end of an input: leaf-set pushes (at most one fan-out per tick), repair requests (held back while
   * the rate limit says so; `busy` peers, suspect or probed, are asked last) and whether to announce the
   * leaf set. A node that is not ready (`ready` false) drops what it batched, except the change.
   */
  finish(
    ready: boolean,
    leaf: LeafSet,
    now: Millis,
    busy: (hex: string) => boolean,
    probing: (hex: string) => boolean = () => false,
  ): LeafSetFlush {
    const sends: PeerSend[] = [];
    if (ready) {
      this.flushPushes(leaf, sends);
      const wraps = leaf.wrapsAround();
      this.repairLeft = this.repairDue(this.repairLeft, this.retryLeft, leaf.left(), leaf, wraps, now);
      this.repairRight = this.repairDue(this.repairRight, this.retryRight, leaf.right(), leaf, wraps, now);
      this.repairLeft = this.stillToAsk(this.repairLeft, this.farFillLeft, false, leaf, wraps, now, probing);
      this.repairRight = this.stillToAsk(
        this.repairRight,
        this.farFillRight,
        true,
        leaf,
        wraps,
        now,
        probing,
      );
      if (this.repairLeft && this.requestFor(leaf.left(), leaf.right(), now, busy, sends)) {
        this.repairLeft = false;
        this.afterRequest(this.retryLeft, leaf.left(), leaf, now);
      }
      if (this.repairRight && this.requestFor(leaf.right(), leaf.left(), now, busy, sends)) {
        this.repairRight = false;
        this.afterRequest(this.retryRight, leaf.right(), leaf, now);
      }
    } else {
      this.removedToPush = [];
      this.refuteDeath = false;
      this.repairLeft = false;
      this.repairRight = false;
      this.retryLeft.reset();
      this.retryRight.reset();
      this.farFillLeft.clear();
      this.farFillRight.clear();
    }
    this.newLeafMembers = [];
    const changed = this.leafChanged && ready ? leaf.list() : undefined;
    if (changed !== undefined) this.gossipSuppression.leafSetChanged();
    if (ready) this.leafChanged = false;
    return { sends, changed };
  }

  /**
   * Whether a side whose repair was scheduled (`scheduled`) asks now. Not when it is covered: its l/2 nearest
   * known nodes are members or being probed (the leaf set that named them, typically a death's push, named
   * the nodes beyond too; a candidate that does not answer is dropped, and its side asks then,
   * dropCandidate). Asking anyway after every push was 0.0058 requests per node per second, and as many
   * answers, at 10,000 simulated nodes. A side filled from the far half of the ring is not covered, but
   * waits FAR_FILL_GRACE_PROBES probe timeouts (`farFill`) before it asks, in case it is filled from its
   * own half meanwhile (see FAR_FILL_GRACE_PROBES).
   */
  private stillToAsk(
    scheduled: boolean,
    farFill: FarFillCheck,
    clockwise: boolean,
    leaf: LeafSet,
    wraps: boolean,
    now: Millis,
    probing: (hex: string) => boolean,
  ): boolean {
    const graceOver = farFill.due(now) && !wraps;
    if (!scheduled && !graceOver) return false;
    const side = clockwise ? this.candidates.right() : this.candidates.left();
    const coverage = this.coverage(side, clockwise, leaf, probing);
    if (coverage === "covered") {
      farFill.clear();
      return false;
    }
    if (coverage === "farFilled" && !graceOver) {
      farFill.start(now, FAR_FILL_GRACE_PROBES * this.config.probeTimeoutMs);
      return false;
    }
    farFill.clear();
    return true;
  }

  /**
   * How a side's candidates stand: "covered" (all members or being probed, on this side's half of the
   * ring), "farFilled" (so, but one or more lie on the far half: `clockwise` names the right side, whose
   * half is the clockwise one) or "open" (short, or a candidate is neither). A short side takes any node,
   * so a push naming nodes past our other far end fills it from the wrong direction, and nothing named the
   * nodes between. Counted as covered, such a node held the request back for good: the node across the gap
   * from a crash, told by a finder on its far side, took ever nearer nodes from round the ring for 15 s,
   * while its true neighbour, a holder of the crashed node never named to it, kept the dead member 19.6 s
   * (2,000 simulated nodes, 5-minute sessions, seed 1: the longest any crashed node stayed).
   */
  private coverage(
    side: readonly NodeInfo[],
    clockwise: boolean,
    leaf: LeafSet,
    probing: (hex: string) => boolean,
  ): "covered" | "farFilled" | "open" {
    if (side.length < leaf.half) return "open";
    const self = this.self.id;
    let far = false;
    for (let i = 0; i < side.length; i++) {
      const node = side[i] as NodeInfo;
      const hex = node.id.hex;
      if (!leaf.has(hex) && !probing(hex)) return "open";
      const distance = clockwise ? clockwiseDistance(self, node.id) : clockwiseDistance(node.id, self);
      if (distance > HALF_RING) far = true;
    }
    return far ? "farFilled" : "covered";
  }

  /**
   * Whether a side's repair request is due: it was scheduled, or a retry of a side still short came due. A
   * full side, or a ring too small to fill one, forgets its retries.
   */
  private repairDue(
    scheduled: boolean,
    retry: ShortSideRetry,
    side: readonly NodeInfo[],
    leaf: LeafSet,
    wraps: boolean,
    now: Millis,
  ): boolean {
    if (wraps || side.length >= leaf.half) {
      retry.reset();
      return scheduled && !wraps;
    }
    return retry.due(now) || scheduled;
  }

  /** A request went out for a side: if the side is short, its retry is scheduled. */
  private afterRequest(retry: ShortSideRetry, side: readonly NodeInfo[], leaf: LeafSet, now: Millis): void {
    if (side.length < leaf.half) retry.requested(now, this.config.probeTimeoutMs);
  }

  private scheduleRepair(sides: LeafSides): void {
    if (sides.left) this.repairLeft = true;
    if (sides.right) this.repairRight = true;
  }

  private flushPushes(leaf: LeafSet, sends: PeerSend[]): void {
    if ((this.removedToPush.length > 0 || this.refuteDeath) && !this.pushedThisTick) {
      this.pushedThisTick = true;
      const leafSet = leaf.list();
      const removed = this.removedToPush.map((n) => n.id);
      for (const node of leafSet) sends.push({ to: node, message: { type: "leafSet", leafSet, removed } });
      // The node found dead is told too: if it is alive after all, it refutes by talking to its leaf set.
      for (const node of this.removedToPush) {
        if (!leaf.has(node.id.hex)) sends.push({ to: node, message: { type: "leafSet", leafSet, removed } });
      }
      this.removedToPush = [];
      this.refuteDeath = false;
    } else if (this.newLeafMembers.length > 0) {
      const leafSet = leaf.list();
      const removed = this.recentLeafDeaths.map((d) => d.id);
      for (const node of this.newLeafMembers) {
        if (leaf.has(node.id.hex)) sends.push({ to: node, message: { type: "leafSet", leafSet, removed } });
      }
    }
  }

  /** Asks the farthest member of a side that lost members for its leaf set: it knows the nodes beyond. */
  private requestFor(
    side: readonly NodeInfo[],
    other: readonly NodeInfo[],
    now: Millis,
    busy: (hex: string) => boolean,
    sends: PeerSend[],
  ): boolean {
    const target = farthestNotBusy(side, busy) ?? farthestNotBusy(other, busy);
    if (target === undefined) return true;
    if (!this.mayRequestLeafSet(target, now)) return false;
    sends.push({ to: target, message: { type: "leafSetRequest" } });
    return true;
  }
}
