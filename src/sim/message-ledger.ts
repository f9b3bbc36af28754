// Every application message the simulator routes, followed from send to its end (delivered, dropped, or lost
// with the node that held it), and every delivery checked against the ring's true owner of the key.
import type { NodeId } from "../routing/id.js";
import type { DropReason } from "../routing/types.js";
import type { RingMember } from "./ring-truth.js";
import type { NodeState, SimNode } from "./sim-node.js";

export type MessageStatus = "pending" | "delivered" | "dropped";

export interface TrackedMessage {
  readonly id: string;
  readonly key: NodeId;
  readonly origin: number;
  readonly sentAt: number;
  /** The node that last received the message (the origin until its first hop arrives). */
  holder: number;
  status: MessageStatus;
  dropReason: DropReason | undefined;
  deliveredBy: number | undefined;
  deliveredCorrectly: boolean | undefined;
  /** The ring's true owner of the key when it was delivered. */
  trueOwner: number | undefined;
  hops: number | undefined;
  /** Sum of the one-way latencies of the overlay hops the message took. */
  pathLatencyMs: number;
  acked: boolean;
}

export interface Misdelivery {
  readonly messageId: string;
  readonly key: string;
  readonly deliveredBy: string;
  readonly trueOwner: string | undefined;
  readonly at: number;
}

export interface Accounting {
  readonly sent: number;
  readonly delivered: number;
  readonly deliveredCorrectly: number;
  readonly misdelivered: number;
  /** Deliveries of a message id that had already been delivered (must be zero). */
  readonly duplicateDeliveries: number;
  readonly dropped: Partial<Record<DropReason, number>>;
  /** Pending messages last held by a node that crashed. */
  readonly lostToCrash: number;
  /** Pending messages last held by a node that left gracefully. */
  readonly lostToLeave: number;
  /** Pending messages still held by a live node: must be zero once the simulation has drained. */
  readonly unaccounted: number;
  readonly acked: number;
}

export interface DeliveryChecks {
  readonly misdeliveries: number;
  readonly duplicateDeliveries: number;
  readonly untrackedDeliveries: number;
  readonly examples: readonly Misdelivery[];
}

const MAX_MISDELIVERY_DETAILS = 20;

export class MessageLedger {
  private readonly tracked = new Map<string, TrackedMessage>();
  private readonly misdeliveryDetails: Misdelivery[] = [];
  private misdeliveries = 0;
  private duplicateDeliveries = 0;
  private untrackedDeliveries = 0;

  /** Starts following a message its origin has just sent. */
  track(id: string, key: NodeId, origin: number, now: number): void {
    this.tracked.set(id, {
      id,
      key,
      origin,
      sentAt: now,
      holder: origin,
      status: "pending",
      dropReason: undefined,
      deliveredBy: undefined,
      deliveredCorrectly: undefined,
      trueOwner: undefined,
      hops: undefined,
      pathLatencyMs: 0,
      acked: false,
    });
  }

  /** A route hop of message `id` reached node `to` after `latencyMs`. */
  hopArrived(id: string, to: number, latencyMs: number): void {
    const t = this.tracked.get(id);
    if (t !== undefined) {
      t.holder = to;
      t.pathLatencyMs += latencyMs;
    }
  }

  /** `node` delivered message `id`; `owner` is the ring's true owner of the key at this instant. */
  delivered(
    node: SimNode,
    id: string,
    key: NodeId,
    hops: number,
    owner: RingMember | undefined,
    now: number,
  ): void {
    const correct = owner !== undefined && owner.index === node.index;
    if (!correct) {
      this.misdeliveries++;
      if (this.misdeliveryDetails.length < MAX_MISDELIVERY_DETAILS) {
        this.misdeliveryDetails.push({
          messageId: id,
          key: key.hex,
          deliveredBy: node.info.id.hex,
          trueOwner: owner?.id.hex,
          at: now,
        });
      }
    }
    const t = this.tracked.get(id);
    if (t === undefined) {
      this.untrackedDeliveries++;
      return;
    }
    if (t.status === "delivered") {
      this.duplicateDeliveries++;
      return;
    }
    t.status = "delivered";
    t.holder = node.index;
    t.deliveredBy = node.index;
    t.deliveredCorrectly = correct;
    t.trueOwner = owner?.index;
    t.hops = hops;
  }

  /** The routing core dropped message `id` (counts only while it is still pending). */
  dropped(id: string, reason: DropReason): void {
    const t = this.tracked.get(id);
    if (t !== undefined && t.status === "pending") {
      t.status = "dropped";
      t.dropReason = reason;
    }
  }

  acked(id: string): void {
    const t = this.tracked.get(id);
    if (t !== undefined) t.acked = true;
  }

  messages(): readonly TrackedMessage[] {
    return [...this.tracked.values()];
  }

  message(id: string): TrackedMessage | undefined {
    return this.tracked.get(id);
  }

  clear(): void {
    this.tracked.clear();
  }

  /** Every tracked message, accounted for; a pending one by the state of the node that holds it. */
  account(stateOf: (index: number) => NodeState): Accounting {
    let delivered = 0;
    let deliveredCorrectly = 0;
    let lostToCrash = 0;
    let lostToLeave = 0;
    let unaccounted = 0;
    let acked = 0;
    const dropped: Partial<Record<DropReason, number>> = {};
    for (const t of this.tracked.values()) {
      if (t.acked) acked++;
      if (t.status === "delivered") {
        delivered++;
        if (t.deliveredCorrectly === true) deliveredCorrectly++;
      } else if (t.status === "dropped") {
        const r = t.dropReason as DropReason;
        dropped[r] = (dropped[r] ?? 0) + 1;
      } else {
        const holder = stateOf(t.holder);
        if (holder === "crashed") lostToCrash++;
        else if (holder === "left") lostToLeave++;
        else unaccounted++;
      }
    }
    return {
      sent: this.tracked.size,
      delivered,
      deliveredCorrectly,
      misdelivered: delivered - deliveredCorrectly,
      duplicateDeliveries: this.duplicateDeliveries,
      dropped,
      lostToCrash,
      lostToLeave,
      unaccounted,
      acked,
    };
  }

  /** Delivery checks over the whole run, including messages no longer tracked. */
  deliveryChecks(): DeliveryChecks {
    return {
      misdeliveries: this.misdeliveries,
      duplicateDeliveries: this.duplicateDeliveries,
      untrackedDeliveries: this.untrackedDeliveries,
      examples: this.misdeliveryDetails.slice(),
    };
  }
}
