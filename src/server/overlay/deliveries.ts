// Deliveries to the applications attached at this node, held until one acknowledges them.
//
// Each message delivered here (the node owns its key) goes to one member of every subscriber group of its
// purpose (competing consumers), and as a copy to every copy_all Receive and deprecated Subscribe stream.
// It is acknowledged (the promise deliver() returns resolves, and the cluster acks it to the sender) once
// every group it was handed to acknowledged it. A member that goes away without acknowledging gives its
// deliveries back to its group: another member takes them, or they wait for one within the grace. A
// delivery that waits longer than the grace is refused, and the whole message with it: FAILED_PRECONDITION
// when no subscriber was there, RESOURCE_EXHAUSTED when they were too slow. Held deliveries are bounded in
// number and bytes; beyond, a message is refused at once.
import { status } from "@grpc/grpc-js";
import type { Delivery, SubscribeResponse } from "../../gen/wendy/v1/overlay.js";
import type { Application, Message } from "../application.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { OverlayLimits } from "./limits.js";
import { OverlayRpcError } from "./rpc-error.js";

/** One attached subscriber stream, as the hub sees it. */
export interface Subscriber {
  readonly purposes: ReadonlySet<number>;
  /**
   * "member": a Receive stream in group `group`, acknowledging each delivery. "copy": a copy_all Receive
   * stream. "legacy": a deprecated Subscribe stream (a copy; taking one counts as acknowledged when no
   * group of the purpose is attached).
   */
  readonly kind: "member" | "copy" | "legacy";
  readonly group: string;
  /** For members: deliveries handed out and not yet acknowledged, at most. */
  readonly maxUnacknowledged: number;
  /** Writes one delivery to the stream; false when the stream is closed or was just cut off. */
  readonly write: (delivery: Delivery) => boolean;
  /** Ends the stream normally (the service is closing); it then detaches. */
  readonly end: () => void;
}

interface Attached {
  readonly subscriber: Subscriber;
  /** Message id -> the handout this member holds unacknowledged. */
  readonly inFlight: Map<string, Handout>;
  open: boolean;
}

/** A message held here until its groups acknowledged it. */
interface Held {
  readonly message: Message;
  readonly callId: string;
  readonly bytes: number;
  readonly handouts: Set<Handout>;
  readonly resolve: () => void;
  readonly reject: (error: OverlayRpcError) => void;
  /** Later deliver() calls for the same id: they share its outcome. */
  readonly followers: { resolve: () => void; reject: (error: OverlayRpcError) => void }[];
  /** Set while it waits for the first group of its purpose to attach. */
  unassignedTimer: NodeJS.Timeout | undefined;
}

/** A held message's delivery to one group. */
interface Handout {
  readonly held: Held;
  readonly group: Group;
  attempt: number;
  holder: Attached | undefined;
  /** Runs while the handout waits in its group's queue. */
  timer: NodeJS.Timeout | undefined;
}

interface Group {
  readonly purpose: number;
  readonly name: string;
  readonly members: Set<Attached>;
  readonly queue: Handout[];
}

export class DeliveryHub {
  private readonly attached = new Map<Subscriber, Attached>();
  /** Purpose -> group name -> group; a group lives while it has members or queued handouts. */
  private readonly groups = new Map<number, Map<string, Group>>();
  private readonly held = new Map<string, Held>();
  /** Purpose -> messages waiting for a first group of that purpose. */
  private readonly unassigned = new Map<number, Held[]>();
  private heldBytes = 0;
  private undelivered = 0n;
  /** Set once the node leaves: a delivery no live member holds is refused at once, not after the grace. */
  private leaving = false;

  constructor(
    private readonly limits: OverlayLimits,
    private readonly nodeId: () => string,
    private readonly metrics?: WendyMetrics,
  ) {}

  /** Attached subscriber streams of every kind. */
  get count(): number {
    return this.attached.size;
  }

  /** Messages that no subscriber took within the grace, since start. */
  get undeliveredCount(): bigint {
    return this.undelivered;
  }

  /** Messages held here, not yet acknowledged. */
  get heldCount(): number {
    return this.held.size;
  }

  /** The application the cluster calls on every delivery: its promise settles the end-to-end ack. */
  application(): Application {
    return { onDeliver: (message) => this.deliver(message, "") };
  }

  /**
   * Hands `message` to the subscribers of its purpose (with `callId` for a Call). Resolves once every group
   * it went to acknowledged it; rejects with the refusal otherwise.
   */
  deliver(message: Message, callId: string): Promise<void> {
    const already = this.held.get(message.id);
    if (already !== undefined) {
      // The cluster delivers an id once; should it come again, it shares the first one's outcome.
      return new Promise<void>((resolve, reject) => already.followers.push({ resolve, reject }));
    }
    const bytes = message.payload.byteLength;
    if (
      this.held.size >= this.limits.maxHeldDeliveries ||
      (this.held.size > 0 && this.heldBytes + bytes > this.limits.maxHeldDeliveryBytes)
    ) {
      return Promise.reject(
        new OverlayRpcError(
          status.RESOURCE_EXHAUSTED,
          `node ${this.nodeId()} (the key's owner) already holds ${this.held.size} deliveries (${this.heldBytes} bytes) that its applications have not acknowledged; purpose ${message.purpose} refused`,
        ),
      );
    }
    let legacyTook = false;
    for (const a of this.attached.values()) {
      const s = a.subscriber;
      if (s.kind === "member" || !s.purposes.has(message.purpose)) continue;
      const written = s.write(toDelivery(message, callId, 1));
      if (written && s.kind === "legacy") legacyTook = true;
    }
    const groups = this.liveGroups(message.purpose);
    if (groups.length === 0 && legacyTook) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const held: Held = {
        message,
        callId,
        bytes,
        handouts: new Set(),
        resolve,
        reject,
        followers: [],
        unassignedTimer: undefined,
      };
      this.held.set(message.id, held);
      this.heldBytes += bytes;
      if (groups.length === 0) {
        this.waitForGroup(held);
        return;
      }
      for (const group of groups) this.handOut(held, group);
      for (const group of groups) this.dispatch(group);
      this.graceForWaiting(held.handouts);
    });
  }

  /** Attaches a subscriber; it starts receiving at once (and takes deliveries waiting for its groups). */
  attach(subscriber: Subscriber): void {
    const a: Attached = { subscriber, inFlight: new Map(), open: true };
    this.attached.set(subscriber, a);
    if (subscriber.kind !== "member") return;
    const touched: Group[] = [];
    for (const purpose of subscriber.purposes) {
      const group = this.groupFor(purpose, subscriber.group);
      group.members.add(a);
      touched.push(group);
      const waiting = this.unassigned.get(purpose);
      if (waiting === undefined) continue;
      this.unassigned.delete(purpose);
      const groups = this.liveGroups(purpose);
      for (const held of waiting) {
        clearTimeout(held.unassignedTimer);
        held.unassignedTimer = undefined;
        for (const g of groups) this.handOut(held, g);
      }
      touched.push(...groups);
    }
    for (const group of new Set(touched)) {
      this.dispatch(group);
      this.graceForWaiting(group.queue);
    }
  }

  /** The subscriber's stream ended: what it held unacknowledged goes back to its groups. */
  detach(subscriber: Subscriber): void {
    const a = this.attached.get(subscriber);
    if (a === undefined) return;
    this.attached.delete(subscriber);
    a.open = false;
    if (subscriber.kind !== "member") return;
    const returned = [...a.inFlight.values()].reverse();
    a.inFlight.clear();
    const touched = new Set<Group>();
    for (const purpose of subscriber.purposes) {
      const group = this.groups.get(purpose)?.get(subscriber.group);
      if (group === undefined) continue;
      group.members.delete(a);
      touched.add(group);
    }
    for (const handout of returned) {
      handout.holder = undefined;
      handout.attempt++;
      handout.group.queue.unshift(handout);
      touched.add(handout.group);
    }
    for (const group of touched) this.dispatch(group);
    this.graceForWaiting(returned);
    for (const group of touched) this.forgetIfEmpty(group);
  }

  /** A member acknowledged `messageId`; ids it does not hold are ignored (late, or answered by Reply). */
  acknowledge(subscriber: Subscriber, messageId: string): void {
    const a = this.attached.get(subscriber);
    const handout = a?.inFlight.get(messageId);
    if (a === undefined || handout === undefined) return;
    a.inFlight.delete(messageId);
    handout.holder = undefined;
    const held = handout.held;
    held.handouts.delete(handout);
    if (held.handouts.size === 0) this.settle(held, undefined);
    this.dispatch(handout.group);
  }

  /** The message was answered (a Reply to its call): acknowledged wherever it is. */
  answered(messageId: string): void {
    const held = this.held.get(messageId);
    if (held !== undefined) this.settle(held, undefined);
  }

  /** Stop holding the message (its call was cancelled or expired); its promise rejects with `error`. */
  withdraw(messageId: string, error: OverlayRpcError): void {
    const held = this.held.get(messageId);
    if (held !== undefined) this.settle(held, error);
  }

  /** The service is closing: everything held is refused, every stream ended. */
  /**
   * The node is leaving: what no attached member holds now (queued, waiting for a first group) is refused
   * with UNAVAILABLE at once, and so is whatever a member gives back from now on, instead of waiting out the
   * grace for an application that cannot come (the node stops listening). Deliveries members hold may still
   * be acknowledged, within the node's shutdown grace.
   */
  drain(): void {
    this.leaving = true;
    for (const held of [...this.held.values()]) {
      if (![...held.handouts].some((h) => h.holder !== undefined)) this.settle(held, this.leavingError());
    }
  }

  private leavingError(): OverlayRpcError {
    return new OverlayRpcError(
      status.UNAVAILABLE,
      `node ${this.nodeId()}, the key's owner, is leaving: no application took the message before it stopped`,
    );
  }

  close(): void {
    const error = new OverlayRpcError(status.UNAVAILABLE, `node ${this.nodeId()} is shutting down`);
    for (const held of [...this.held.values()]) this.settle(held, error);
    for (const subscriber of [...this.attached.keys()]) subscriber.end();
  }

  // ------------------------------------------------------------------------------------------ internals

  private groupFor(purpose: number, name: string): Group {
    let byName = this.groups.get(purpose);
    if (byName === undefined) {
      byName = new Map();
      this.groups.set(purpose, byName);
    }
    let group = byName.get(name);
    if (group === undefined) {
      group = { purpose, name, members: new Set(), queue: [] };
      byName.set(name, group);
    }
    return group;
  }

  /** Groups of `purpose` that have members now: the ones a new message goes to. */
  private liveGroups(purpose: number): Group[] {
    const byName = this.groups.get(purpose);
    if (byName === undefined) return [];
    return [...byName.values()].filter((g) => g.members.size > 0);
  }

  private forgetIfEmpty(group: Group): void {
    if (group.members.size > 0 || group.queue.length > 0) return;
    const byName = this.groups.get(group.purpose);
    byName?.delete(group.name);
    if (byName?.size === 0) this.groups.delete(group.purpose);
  }

  /** Queues `held` for `group`; the caller dispatches, then starts the grace of what is still waiting. */
  private handOut(held: Held, group: Group): void {
    const handout: Handout = { held, group, attempt: 1, holder: undefined, timer: undefined };
    held.handouts.add(handout);
    group.queue.push(handout);
  }

  /** The grace starts for handouts that no member took (a handout taken at once costs no timer). */
  private graceForWaiting(handouts: Iterable<Handout>): void {
    // A copy: while leaving, a handout is refused at once, which takes it out of the queue being read.
    for (const handout of [...handouts]) {
      if (handout.holder === undefined && this.held.get(handout.held.message.id) === handout.held) {
        this.startGrace(handout);
      }
    }
  }

  /** Hands queued deliveries to the members with room, fewest unacknowledged first. */
  private dispatch(group: Group): void {
    while (group.queue.length > 0) {
      let best: Attached | undefined;
      for (const m of group.members) {
        if (!m.open || m.inFlight.size >= m.subscriber.maxUnacknowledged) continue;
        if (best === undefined || m.inFlight.size < best.inFlight.size) best = m;
      }
      if (best === undefined) return;
      const handout = group.queue.shift() as Handout;
      clearTimeout(handout.timer);
      handout.timer = undefined;
      handout.holder = best;
      const { message, callId } = handout.held;
      best.inFlight.set(message.id, handout);
      // A stream cut off by this write detaches at once, which puts the handout back in the queue.
      best.subscriber.write(toDelivery(message, callId, handout.attempt));
    }
  }

  private startGrace(handout: Handout): void {
    if (handout.timer !== undefined) return;
    if (this.leaving) {
      this.settle(handout.held, this.leavingError());
      return;
    }
    handout.timer = setTimeout(() => {
      handout.timer = undefined;
      const { group, held } = handout;
      const nobody = group.members.size === 0;
      const label = `purpose ${group.purpose}${group.name === "" ? "" : ` (group ${JSON.stringify(group.name)})`}`;
      const waited = `within the delivery grace of ${this.limits.deliveryGraceMs} ms`;
      this.settle(
        held,
        nobody
          ? new OverlayRpcError(
              status.FAILED_PRECONDITION,
              `no application subscribed to ${label} at node ${this.nodeId()}, the key's owner, took the message ${waited}`,
            )
          : new OverlayRpcError(
              status.RESOURCE_EXHAUSTED,
              `the subscribers of ${label} at node ${this.nodeId()}, the key's owner, are too slow: none took the message ${waited}`,
            ),
      );
    }, this.limits.deliveryGraceMs);
  }

  private waitForGroup(held: Held): void {
    if (this.leaving) {
      this.settle(held, this.leavingError());
      return;
    }
    const purpose = held.message.purpose;
    const waiting = this.unassigned.get(purpose) ?? [];
    waiting.push(held);
    this.unassigned.set(purpose, waiting);
    held.unassignedTimer = setTimeout(() => {
      held.unassignedTimer = undefined;
      this.settle(
        held,
        new OverlayRpcError(
          status.FAILED_PRECONDITION,
          `no application subscribed to purpose ${purpose} at node ${this.nodeId()}, the key's owner, within the delivery grace of ${this.limits.deliveryGraceMs} ms`,
        ),
      );
    }, this.limits.deliveryGraceMs);
  }

  /** Done with `held`: acknowledged (no error) or refused; every trace of it goes. */
  private settle(held: Held, error: OverlayRpcError | undefined): void {
    const id = held.message.id;
    if (this.held.get(id) !== held) return;
    this.held.delete(id);
    this.heldBytes -= held.bytes;
    // Whether its grace ran out (the timer is gone then) or not, a message waiting for a first group leaves
    // that list: a group attaching later must not be handed a message already refused.
    clearTimeout(held.unassignedTimer);
    held.unassignedTimer = undefined;
    const waiting = this.unassigned.get(held.message.purpose);
    if (waiting !== undefined) {
      const rest = waiting.filter((h) => h !== held);
      if (rest.length === 0) this.unassigned.delete(held.message.purpose);
      else this.unassigned.set(held.message.purpose, rest);
    }
    const touched = new Set<Group>();
    for (const handout of held.handouts) {
      clearTimeout(handout.timer);
      const queue = handout.group.queue;
      const at = queue.indexOf(handout);
      if (at >= 0) queue.splice(at, 1);
      handout.holder?.inFlight.delete(id);
      touched.add(handout.group);
    }
    held.handouts.clear();
    if (error === undefined) {
      held.resolve();
      for (const f of held.followers) f.resolve();
    } else {
      if (error.code === status.FAILED_PRECONDITION) {
        this.undelivered++;
        this.metrics?.undeliveredNoSubscriber();
      }
      held.reject(error);
      for (const f of held.followers) f.reject(error);
    }
    for (const group of touched) {
      this.dispatch(group);
      this.forgetIfEmpty(group);
    }
  }
}

function toDelivery(message: Message, callId: string, attempt: number): Delivery {
  return {
    key: Buffer.from(message.key.hex, "hex"),
    purpose: message.purpose,
    payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
    messageId: message.id,
    origin: encodeNodeInfo(message.origin),
    hops: message.hops,
    callId,
    attempt,
  };
}

/** A delivery as the deprecated Subscribe stream carries it. */
export function toSubscribeResponse(d: Delivery): SubscribeResponse {
  return {
    key: d.key,
    purpose: d.purpose,
    payload: d.payload,
    messageId: d.messageId,
    origin: d.origin,
    hops: d.hops,
    callId: d.callId,
  };
}
