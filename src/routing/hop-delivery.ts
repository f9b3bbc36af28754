// Hop retry and delivery: what a node remembers about route messages once it has sent or delivered them.
// Invariants:
// - A message is delivered here at most once (bounded memory of delivered ids); a duplicate copy that wants
//   an ack is acked again (the first ack may have been lost), unless the application has not answered yet.
// - A failed hop may still have arrived, so it goes to the SAME node again before anything else; after
//   that it waits for the liveness verdict on that node (parked), and is routed around the node only if it
//   is dead or surely never got the hop (refused). At most SAME_HOP_ATTEMPTS sends to one node; a failure
//   after routing around drops the message: at most once wins over rerouting around a live owner.
// - A hop of a message whose end-to-end ack came is never retried; an ack is sent at most ACK_ATTEMPTS times.
// - At most MAX_PARKED_HOPS hops wait for verdicts; beyond, they are routed around at once.
// It returns decisions; routing the message (around a node, or on) is the node's.
import { BoundedMap } from "./bounded-map.js";
import type { NodeInfo, Outbound, Refusal, RouteMessage } from "./types.js";

/**
 * Why a send failed. "unreachable": it surely never arrived (the connection was refused). "broken": the
 * connection closed under the call (the peer's end went away mid-call): it may have arrived, but no timeout
 * was waited out, so nothing says the peer is slow. "unknown": a timeout; it may have arrived. A route hop
 * treats "broken" as "unknown" (it may have arrived); a probe is retried soon, on a fresh connection.
 */
export type SendFailure = "unreachable" | "broken" | "unknown";

/**
 * What to do with a route hop whose send failed: nothing (its ack came), drop it ("undeliverable"), route it
 * around the node, send the same hop again, or wait for the liveness verdict on the node (it is parked;
 * the node probes it unless a probe is out).
 */
export type HopFailureDecision = "ignore" | "drop" | "reroute" | "resend" | "park";

/** What a leaving node does with a failed hop: as above, "handOff" being its way of routing around. */
export type LeavingHopDecision = "ignore" | "drop" | "handOff" | "resend";

/** A route message arriving at the node that delivers it. */
export type Arrival =
  /** Seen before: dropped as a duplicate; `ackAgain`: its origin is acked again (with `refusal`, if any). */
  | { readonly duplicate: true; readonly ackAgain: boolean; readonly refusal: Refusal | undefined }
  /** Delivered now; `ackNow`: its ack leaves now (else none is wanted, or the application answers later). */
  | { readonly duplicate: false; readonly ackNow: boolean };

/** A failed route hop is sent to the same node at most this often before it is routed around. */
const SAME_HOP_ATTEMPTS = 4;
/**
 * An end-to-end ack whose call fails is sent at most this many times in all. Each failure takes a call
 * timeout, so the attempts span several seconds: enough to outlast a bad patch of packet loss (seen with 5 %
 * loss: three quick attempts all failed) while staying within the origin's own wait.
 */
const ACK_ATTEMPTS = 8;
/** hopFailures state of a message routed around a failed node (a further failure drops it). */
const HOP_REROUTED = "rerouted";
/** What failed hops of one message from this node led to: sends to the same node so far, or a re-route. */
type HopFailures = number | typeof HOP_REROUTED;
/** Route hops waiting for a liveness verdict on their next node (beyond: routed around at once). */
const MAX_PARKED_HOPS = 4_096;
/** Memory bound for per-message bookkeeping (failed hops, acks). */
const RETRIED_MEMORY = 1_024;

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
  /** Message id -> how many times its hop from this node failed to the same node, or HOP_REROUTED. */
  private readonly hopFailures = new BoundedMap<string, HopFailures>(RETRIED_MEMORY);
  /** Next-hop ID hex -> failed route hops waiting for the liveness probe's verdict on that node. */
  private readonly parked = new Map<string, Outbound[]>();
  private parkedCount = 0;
  /** Ids of our own messages whose end-to-end ack came: a hop of theirs that failed needs no retry. */
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
  }

  // ---- Failed hops -----------------------------------------------------------------------------------

  /**
   * The hop of `message` sent as `out` failed. `ready`: this node can route; `confirmedDead`: we found the
   * next node dead ourselves. A "resend" is counted as a hop retry; a "park" has parked `out` already.
   */
  hopFailed(
    out: Outbound,
    message: RouteMessage,
    cause: SendFailure,
    ready: boolean,
    confirmedDead: boolean,
  ): HopFailureDecision {
    if (this.acked.has(message.id)) return "ignore";
    if (cause === "unreachable" && ready && this.hopFailures.get(message.id) !== HOP_REROUTED) {
      // The hop surely never arrived: going around the node cannot deliver it twice.
      this.hopFailures.set(message.id, HOP_REROUTED);
      return "reroute";
    }
    const sent = this.hopFailures.get(message.id) ?? 0;
    if (sent === HOP_REROUTED) return "drop";
    // The node keeps proving alive yet never acknowledges the hop: each copy may have arrived, and routing
    // around a live node could deliver at a second one. At most once wins: the origin's ack times out.
    if (sent + 1 >= SAME_HOP_ATTEMPTS) return "drop";
    if (confirmedDead || !ready) {
      this.hopFailures.set(message.id, HOP_REROUTED);
      return "reroute";
    }
    this.hopFailures.set(message.id, sent + 1);
    if (sent === 0) {
      // The very message that failed (an application's forward hook may have changed it): a retransmission.
      this.hopRetryCount++;
      return "resend";
    }
    // The hop may have arrived though its acknowledgement did not: a copy routed around the node could be
    // delivered somewhere else than the first (views differ under load; the rerouting node may even take
    // itself for the owner). So the hop waits for the verdict on the node, whoever it is: resent if alive,
    // routed around only if dead. Only when too many hops already wait is it routed around at once.
    if (this.parkedCount >= MAX_PARKED_HOPS) {
      this.hopFailures.set(message.id, HOP_REROUTED);
      return "reroute";
    }
    const hex = (out.to as NodeInfo).id.hex;
    const waiting = this.parked.get(hex);
    this.parkedCount++;
    this.hopsParkedCount++;
    if (waiting === undefined) this.parked.set(hex, [out]);
    else waiting.push(out);
    return "park";
  }

  /**
   * The verdict on node `hex` that parked hops wait for. Returns the hops still wanted (their acks have not
   * come), in the order they failed: to be sent to it again when `resend` (counted as retries), else routed
   * around it (marked so: a further failure drops them).
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
      else this.hopFailures.set(out.message.message.id, HOP_REROUTED);
      wanted.push(out);
    }
    return wanted;
  }

  /** Leaving: every parked hop still wanted, to be handed on without this node; nothing stays parked. */
  releaseAllForLeaving(): RouteMessage[] {
    const wanted: RouteMessage[] = [];
    for (const waiting of this.parked.values()) {
      for (const out of waiting) {
        if (out.message.type !== "route" || this.acked.has(out.message.message.id)) continue;
        this.hopFailures.set(out.message.message.id, HOP_REROUTED);
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
    const sent = this.hopFailures.get(id) ?? 0;
    if (sent === HOP_REROUTED) return "drop";
    if (cause === "unreachable" || sent > 0) {
      this.hopFailures.set(id, HOP_REROUTED);
      return "handOff";
    }
    this.hopFailures.set(id, sent + 1);
    return "resend";
  }
}
