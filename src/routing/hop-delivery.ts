// Hop retry and delivery: what a node remembers about route messages once it has sent or delivered them.
// Invariants:
// - A message is delivered here at most once (bounded memory of delivered ids); a duplicate copy that wants
//   an ack is acked again (the first ack may have been lost), unless the application has not answered yet.
// - A failed hop may still have arrived, so it goes to the SAME node again before anything else; after
//   that it waits for the liveness verdict on that node (parked), and is routed around the node only if it
//   is dead or surely never got the hop (refused). A live node that is only slow is not given up on: its
//   hop is sent again (each retransmission marked, so the runtime backs off its wait as RFC 6298 does)
//   until the message's retry window has passed: the origin's own deadline for its messages, else
//   HOP_RETRY_WINDOW_MS from the first failure. Then it is dropped "unacknowledged" (it may have arrived:
//   an origin waits out its own deadline). At most MAX_REROUTES routes around a node per message; a sure
//   failure after that drops the message "undeliverable": at most once wins over rerouting around a live
//   owner.
// - A hop of a message whose end-to-end ack came is never retried; an ack is sent at most ACK_ATTEMPTS times.
// - At most MAX_PARKED_HOPS hops wait for verdicts; beyond, they are routed around at once.
// - Our own messages that want an ack are numbered per copy sent (stampCopy). A drop notice from a node on
//   the way fails such a message only once EVERY copy we sent is known gone (noticed, or surely never
//   arrived) and MAX_FRESH_COPIES fresh copies were spent: while any copy may still be on its way it may yet
//   be delivered, so a notice alone never fails a send another copy delivers. Until then a notice of the
//   last pending copy sends a fresh copy (the owner's de-duplication makes that safe).
// It returns decisions; routing the message (around a node, or on) is the node's.
import { BoundedMap } from "./bounded-map.js";
import {
  MAX_MESSAGE_COPY,
  type Millis,
  type NodeInfo,
  type Outbound,
  type Refusal,
  type RouteMessage,
} from "./types.js";

/**
 * What a drop notice for one of our messages leads to: nothing yet (acked, unknown, or another copy may
 * still be on its way), a fresh copy of `message` to route, or the message is given up (every copy gone).
 */
export type DropNoticeDecision =
  | { readonly kind: "wait" }
  | { readonly kind: "freshCopy"; readonly message: RouteMessage }
  | { readonly kind: "undelivered" };

/**
 * Why a send failed. "unreachable": it surely never arrived (the connection was refused). "broken": the
 * connection closed under the call (the peer's end went away mid-call): it may have arrived, but no timeout
 * was waited out, so nothing says the peer is slow. "unknown": a timeout; it may have arrived. A route hop
 * treats "broken" as "unknown" (it may have arrived); a probe is retried soon, on a fresh connection.
 */
export type SendFailure = "unreachable" | "broken" | "unknown";

/**
 * What to do with a route hop whose send failed: nothing (its ack came), drop it ("undeliverable": it
 * surely did not arrive, and it was routed around once already), give it up (dropped "unacknowledged": the
 * live next hop did not acknowledge it within the retry window; it may have arrived), route it around the
 * node, send the same hop again (hops.retransmission(out)), or wait for the liveness verdict on the node (it
 * is parked; the node probes it unless a probe is out).
 */
export type HopFailureDecision = "ignore" | "drop" | "giveUp" | "reroute" | "resend" | "park";

/** What a leaving node does with a failed hop: as above, "handOff" being its way of routing around. */
export type LeavingHopDecision = "ignore" | "drop" | "handOff" | "resend";

/** A route message arriving at the node that delivers it. */
export type Arrival =
  /** Seen before: dropped as a duplicate; `ackAgain`: its origin is acked again (with `refusal`, if any). */
  | { readonly duplicate: true; readonly ackAgain: boolean; readonly refusal: Refusal | undefined }
  /** Delivered now; `ackNow`: its ack leaves now (else none is wanted, or the application answers later). */
  | { readonly duplicate: false; readonly ackNow: boolean };

/**
 * How long a node keeps sending a hop of a message it did not originate to a live next hop that does not
 * acknowledge it, from the hop's first failure: the runtime's default wait for an end-to-end ack. (An origin
 * uses its message's own deadline, when it gave one.)
 */
export const HOP_RETRY_WINDOW_MS = 10_000;
/**
 * Sends of one hop to one node at most, whatever the window says: a bound should failures come back at once
 * (a full queue). With the runtime's backoff (the wait doubles per retransmission from at least a second)
 * the window ends first.
 */
export const MAX_SAME_HOP_SENDS = 12;
/**
 * An end-to-end ack whose call fails is sent at most this many times in all. Each failure takes a call
 * timeout, so the attempts span several seconds: enough to outlast a bad patch of packet loss (seen with 5 %
 * loss: three quick attempts all failed) while staying within the origin's own wait.
 */
const ACK_ATTEMPTS = 8;
/** What failed hops of one message from this node led to so far. */
interface HopFailures {
  /** Failed sends to the node the hop goes to now. */
  readonly sends: number;
  /** When its hop from this node first failed. */
  readonly since: Millis;
  /** Times it was routed around a node; at MAX_REROUTES a failure that says it surely did not arrive drops it. */
  readonly reroutes: number;
}
/**
 * Fresh copies an origin sends after every copy of its message was reported dropped, before it gives the
 * message up: a node on the way may have dropped it on a view the ring is already repairing (a neighbour
 * that left, a joiner whose join failed). Each costs one route's worth of hops; a hop limit reached on a
 * stable ring is reached again, so a few.
 */
export const MAX_FRESH_COPIES = 2;
/** One of our own messages that wants an ack, as a drop notice is judged against it. */
interface OwnMessage {
  /** As first sent (0 hops): a fresh copy starts from it. */
  readonly message: RouteMessage;
  /** How long we wait for its ack (the origin's deadline), if it gave one. */
  readonly deadline: Millis | undefined;
  /** Until when it is worth remembering: its deadline, else HOP_RETRY_WINDOW_MS from the send. */
  readonly until: Millis;
  /** Copies sent so far, numbered 1..copies. */
  copies: number;
  /** Copies known gone: reported dropped by a node on the way, or refused at once (never arrived). */
  readonly gone: Set<number>;
  /** Fresh copies sent after notices. */
  freshCopies: number;
}
/** Route hops waiting for a liveness verdict on their next node (beyond: routed around at once). */
const MAX_PARKED_HOPS = 4_096;
/**
 * Times one node routes one message around a failed next hop at most; a sure failure after that drops it.
 * Two: the first detour may go to a routing-table entry (see nextHopAfterFailure), which nobody watches, so
 * it may fail in turn; the second goes to a leaf-set member.
 */
export const MAX_REROUTES = 2;
/** Memory bound for per-message bookkeeping (failed hops, acks). */
const RETRIED_MEMORY = 1_024;
/**
 * Memory bound for our own messages waiting for their acks (deadline, copies): noted at every send, not only
 * on a failure, and kept until the ack or the deadline. One forgotten falls back to HOP_RETRY_WINDOW_MS,
 * and its drop notices are ignored (the send waits out its deadline, as before notices).
 */
const OWN_MEMORY = 8_192;

export interface HopCounts {
  readonly delivered: number;
  readonly forwarded: number;
  readonly dropped: number;
  readonly rerouted: number;
  readonly hopRetries: number;
  readonly hopsParked: number;
  readonly parkedHops: number;
}

export class HopDelivery {
  private readonly delivered: BoundedMap<string, true>;
  /** Message id -> what its failed hops from this node led to so far. */
  private readonly hopFailures = new BoundedMap<string, HopFailures>(RETRIED_MEMORY);
  /** Our own messages waiting for their acks, by id: their deadlines (how long hops are retried), copies. */
  private readonly own = new BoundedMap<string, OwnMessage>(OWN_MEMORY);
  /** Next-hop ID hex -> failed route hops waiting for the liveness probe's verdict on that node. */
  private readonly parked = new Map<string, Outbound[]>();
  private parkedCount = 0;
  /**
   * Ids of our own messages whose end-to-end ack came (or that were given up on drop notices): a hop of
   * theirs that failed needs no retry.
   */
  private readonly acked = new BoundedMap<string, true>(RETRIED_MEMORY);
  /** Message id -> how many times we sent its ack (as the delivering node). */
  private readonly ackAttempts = new BoundedMap<string, number>(RETRIED_MEMORY);
  /** Delivered messages whose ack waits for the application (config.applicationAcks): id -> ack target. */
  private readonly awaitingApplication: BoundedMap<
    string,
    { readonly origin: NodeInfo; readonly hops: number }
  >;
  /** Messages our application refused lately: a duplicate copy is answered with the same refusal. */
  private readonly refused = new BoundedMap<string, Refusal>(RETRIED_MEMORY);
  private deliveredCount = 0;
  private forwardedCount = 0;
  private droppedCount = 0;
  private reroutedCount = 0;
  private hopRetryCount = 0;
  private hopsParkedCount = 0;

  constructor(
    dedupCapacity: number,
    private readonly applicationAcks: boolean,
  ) {
    this.delivered = new BoundedMap(dedupCapacity);
    this.awaitingApplication = new BoundedMap(dedupCapacity);
  }

  get parkedHops(): number {
    return this.parkedCount;
  }

  counts(): HopCounts {
    return {
      delivered: this.deliveredCount,
      forwarded: this.forwardedCount,
      dropped: this.droppedCount,
      rerouted: this.reroutedCount,
      hopRetries: this.hopRetryCount,
      hopsParked: this.hopsParkedCount,
      parkedHops: this.parkedCount,
    };
  }

  countForwarded(): void {
    this.forwardedCount++;
  }

  countDropped(): void {
    this.droppedCount++;
  }

  countRerouted(): void {
    this.reroutedCount++;
  }

  // ---- Delivery and acks -----------------------------------------------------------------------------

  /** `message` reached the node that delivers it (`fromSelf`: this node is its origin). */
  arrive(message: RouteMessage, fromSelf: boolean): Arrival {
    if (this.delivered.has(message.id)) {
      // A copy comes again when a hop towards us timed out: our first ack may have been lost as well. One
      // still waiting for the application is answered when the application answers.
      const ackAgain = message.wantAck && !fromSelf && !this.awaitingApplication.has(message.id);
      return { duplicate: true, ackAgain, refusal: ackAgain ? this.refused.get(message.id) : undefined };
    }
    this.delivered.set(message.id, true);
    this.deliveredCount++;
    if (!message.wantAck) return { duplicate: false, ackNow: false };
    if (this.applicationAcks) {
      this.awaitingApplication.set(message.id, { origin: message.origin, hops: message.hops });
      return { duplicate: false, ackNow: false };
    }
    return { duplicate: false, ackNow: true };
  }

  /**
   * The application answered for `messageId` (acknowledged, or refused with `refusal`): whom its ack goes
   * to, or undefined when nothing waits for that answer (never delivered here, answered, or forgotten).
   */
  answer(
    messageId: string,
    refusal: Refusal | undefined,
  ): { readonly origin: NodeInfo; readonly hops: number } | undefined {
    const waiting = this.awaitingApplication.get(messageId);
    if (waiting === undefined) return undefined;
    this.awaitingApplication.delete(messageId);
    if (refusal !== undefined) this.refused.set(messageId, refusal);
    return waiting;
  }

  /** An ack we sent failed: whether to send it again (ACK_ATTEMPTS sends at most). */
  retryAck(messageId: string): boolean {
    const sent = this.ackAttempts.get(messageId) ?? 1;
    if (sent >= ACK_ATTEMPTS) return false;
    this.ackAttempts.set(messageId, sent + 1);
    return true;
  }

  /** The end-to-end ack of one of our messages came: its failed hops need no retry. */
  noteAcked(messageId: string): void {
    this.acked.set(messageId, true);
    this.own.delete(messageId);
  }

  // ---- Our own messages: copies and drop notices -------------------------------------------------------

  /**
   * We send `message` (0 hops) and wait for its end-to-end ack, until `deadline` when given: its hops are
   * retried until then, and its copies are numbered so that drop notices can be judged.
   */
  noteOwn(message: RouteMessage, deadline: Millis | undefined, now: Millis): void {
    // Entries past their time go first (oldest first, until one is still wanted): a payload is kept no
    // longer than its sender waits.
    for (const [id, entry] of this.own.entries()) {
      if (entry.until > now) break;
      this.own.delete(id);
    }
    const until = deadline ?? now + HOP_RETRY_WINDOW_MS;
    this.own.set(message.id, { message, deadline, until, copies: 0, gone: new Set(), freshCopies: 0 });
  }

  /** `message` about to be sent as a hop: numbered as a new copy when it is one of our own that waits. */
  stampCopy(message: RouteMessage): RouteMessage {
    const own = this.own.get(message.id);
    if (own === undefined || own.copies >= MAX_MESSAGE_COPY) return message;
    own.copies++;
    return { ...message, copy: own.copies };
  }

  /**
   * A node on the way dropped copy `copy` of our message `messageId` (a drop notice). Gone copies are
   * counted; only when no copy we sent can still be on its way does the message get a fresh copy, or, once
   * those are spent, is it given up.
   */
  dropNoticed(messageId: string, copy: number): DropNoticeDecision {
    const own = this.own.get(messageId);
    if (own === undefined || this.acked.has(messageId) || copy < 1 || copy > own.copies) return WAIT;
    own.gone.add(copy);
    if (own.gone.size < own.copies) return WAIT;
    if (own.freshCopies >= MAX_FRESH_COPIES) {
      this.own.delete(messageId);
      // Settled, as by an ack: a late failure of one of its hops sends nothing more.
      this.acked.set(messageId, true);
      return UNDELIVERED;
    }
    own.freshCopies++;
    // A fresh start from this node's current view: what earlier copies' failed hops led to does not bind it.
    this.hopFailures.delete(messageId);
    return { kind: "freshCopy", message: own.message };
  }

  /** A copy of ours that surely never arrived where it was sent (refused): it cannot be delivered. */
  private copyGone(message: RouteMessage): void {
    if (message.copy === undefined) return;
    this.own.get(message.id)?.gone.add(message.copy);
  }

  // ---- Failed hops -----------------------------------------------------------------------------------

  /**
   * The hop of `message` sent as `out` failed at `now`. `ready`: this node can route; `confirmedDead`: we
   * found the next node dead ourselves. A "resend" is counted as a hop retry; a "park" has parked `out`
   * already.
   */
  hopFailed(
    out: Outbound,
    message: RouteMessage,
    cause: SendFailure,
    ready: boolean,
    confirmedDead: boolean,
    now: Millis,
  ): HopFailureDecision {
    const id = message.id;
    if (this.acked.has(id)) return "ignore";
    const failures = this.hopFailures.get(id) ?? { sends: 0, since: now, reroutes: 0 };
    if (cause === "unreachable") this.copyGone(message);
    // The hop surely never arrived, or the node is gone: going around it cannot deliver the message twice.
    if (cause === "unreachable" || confirmedDead || !ready) {
      if (failures.reroutes >= MAX_REROUTES) return "drop";
      this.hopFailures.set(id, { sends: 0, since: failures.since, reroutes: failures.reroutes + 1 });
      return "reroute";
    }
    // The node may have got the hop and only be slow to acknowledge it: routing around a live node could
    // deliver the message at a second one, so it is sent to the same node again, until the window ends.
    const sends = failures.sends + 1;
    const until = this.own.get(id)?.deadline ?? failures.since + HOP_RETRY_WINDOW_MS;
    if (now >= until || sends >= MAX_SAME_HOP_SENDS) return "giveUp";
    this.hopFailures.set(id, { sends, since: failures.since, reroutes: failures.reroutes });
    if (failures.sends === 0) {
      // The very message that failed (an application's forward hook may have changed it): a retransmission.
      this.hopRetryCount++;
      return "resend";
    }
    // The hop may have arrived though its acknowledgement did not: a copy routed around the node could be
    // delivered somewhere else than the first (views differ under load; the rerouting node may even take
    // itself for the owner). So the hop waits for the verdict on the node, whoever it is: resent if alive,
    // routed around only if dead. Only when too many hops already wait is it routed around at once.
    if (this.parkedCount >= MAX_PARKED_HOPS) {
      if (failures.reroutes >= MAX_REROUTES) return "giveUp";
      this.hopFailures.set(id, { sends: 0, since: failures.since, reroutes: failures.reroutes + 1 });
      return "reroute";
    }
    const hex = (out.to as NodeInfo).id.hex;
    const waiting = this.parked.get(hex);
    const parked = this.retransmission(out);
    this.parkedCount++;
    this.hopsParkedCount++;
    if (waiting === undefined) this.parked.set(hex, [parked]);
    else waiting.push(parked);
    return "park";
  }

  /**
   * `out` marked as the retransmission it is now (how many sends of it to that node failed so far), so that
   * the runtime waits longer for its acknowledgement (RFC 6298's backoff).
   */
  retransmission(out: Outbound): Outbound {
    if (out.message.type !== "route") return out;
    const sends = this.hopFailures.get(out.message.message.id)?.sends ?? 0;
    return sends === 0 ? out : { ...out, attempt: sends };
  }

  /**
   * The verdict on node `hex` that parked hops wait for. Returns the hops still wanted (their acks have not
   * come), in the order they failed: to be sent to it again when `resend` (counted as retries), else routed
   * around it (marked so: a sure failure after that drops them).
   */
  releaseParked(hex: string, resend: boolean): Outbound[] {
    const waiting = this.parked.get(hex);
    if (waiting === undefined) return [];
    this.parked.delete(hex);
    this.parkedCount -= waiting.length;
    const wanted: Outbound[] = [];
    for (const out of waiting) {
      if (out.message.type !== "route" || this.acked.has(out.message.message.id)) continue;
      if (resend) this.hopRetryCount++;
      else this.markRerouted(out.message.message.id);
      wanted.push(out);
    }
    return wanted;
  }

  /** How many times message `id` was routed around a node from here (0 when none, or forgotten). */
  reroutesOf(id: string): number {
    return this.hopFailures.get(id)?.reroutes ?? 0;
  }

  private markRerouted(id: string): void {
    const failures = this.hopFailures.get(id);
    this.hopFailures.set(id, {
      sends: 0,
      since: failures?.since ?? 0,
      reroutes: (failures?.reroutes ?? 0) + 1,
    });
  }

  /** Leaving: every parked hop still wanted, to be handed on without this node; nothing stays parked. */
  releaseAllForLeaving(): RouteMessage[] {
    const wanted: RouteMessage[] = [];
    for (const waiting of this.parked.values()) {
      for (const out of waiting) {
        if (out.message.type !== "route" || this.acked.has(out.message.message.id)) continue;
        this.markRerouted(out.message.message.id);
        wanted.push(out.message.message);
      }
    }
    this.parked.clear();
    this.parkedCount = 0;
    return wanted;
  }

  /**
   * After leave, a hop this node forwarded failed. Refused or unreachable, it surely did not arrive: handed
   * on without that node. Otherwise it is sent once more to the same node; a failure after going around
   * drops it.
   */
  hopFailedWhileLeaving(message: RouteMessage, cause: SendFailure): LeavingHopDecision {
    const id = message.id;
    if (this.acked.has(id)) return "ignore";
    const failures = this.hopFailures.get(id);
    if (failures !== undefined && failures.reroutes > 0) return "drop";
    if (cause === "unreachable" || failures !== undefined) {
      this.markRerouted(id);
      return "handOff";
    }
    this.hopFailures.set(id, { sends: 1, since: 0, reroutes: 0 });
    return "resend";
  }
}

const WAIT: DropNoticeDecision = { kind: "wait" };
const UNDELIVERED: DropNoticeDecision = { kind: "undelivered" };
