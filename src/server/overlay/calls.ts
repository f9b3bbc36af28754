// Call/Reply across the overlay. The caller's node routes the request to the key's owner on a reserved
// purpose; the owner hands it to its subscribers with a call id, held like any delivery until answered (a
// subscriber that goes away without a Reply gives it back to its group); the first Reply travels back on
// another reserved purpose, straight to the caller's node on the RouteStream the owner holds to it, or
// routed to the caller's node ID when there is none. A call no application took within the delivery
// grace is answered with the refusal. The caller's deadline travels with the request, and a cancelled or
// expired call is forgotten on both sides.
import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import type { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import type { Message } from "../application.js";
import type { Cluster } from "../cluster.js";
import {
  CALL_ANSWER_PURPOSE,
  CALL_CANCEL_PURPOSE,
  CALL_REQUEST_PURPOSE,
  decodeCallAnswer,
  decodeCallCancel,
  decodeCallRequest,
  encodeCallAnswer,
  encodeCallCancel,
  encodeCallRequest,
  isCallId,
} from "./call-envelope.js";
import type { OverlayLimits } from "./limits.js";
import { deadlineExceeded, failedPrecondition, OverlayRpcError, resourceExhausted } from "./rpc-error.js";
import type { DeliveryHub } from "./deliveries.js";
import { asError } from "../../shared/as-error.js";

export interface CallAnswer {
  readonly payload: Uint8Array;
  readonly answeredBy: NodeInfo;
  readonly hops: number;
}

/**
 * Who waits for a call's outcome: told exactly once, in the turn the answer (or the failure) comes, so that a
 * CallStream's result joins that turn's writes instead of waiting for a promise's reaction.
 */
export interface CallWaiter {
  readonly resolve: (answer: CallAnswer) => void;
  readonly reject: (error: Error) => void;
}

interface OutgoingCall {
  readonly key: NodeId;
  readonly waiter: CallWaiter;
  readonly timer: NodeJS.Timeout;
}

interface IncomingCall {
  readonly caller: NodeInfo;
  /** The request's message id: how the delivery hub knows it. */
  readonly messageId: string;
  readonly hops: number;
  readonly timer: NodeJS.Timeout;
}

export class CallBroker {
  private readonly outgoing = new Map<string, OutgoingCall>();
  private readonly incoming = new Map<string, IncomingCall>();
  private readonly unregister: (() => void)[];

  constructor(
    private readonly cluster: Cluster,
    private readonly deliveries: DeliveryHub,
    private readonly limits: OverlayLimits,
    private readonly reportError: (error: Error) => void,
  ) {
    // A request's handler runs once the cluster's processing of the delivery is over (it may route again,
    // which must not happen inside it): on a microtask, not a turn later, so that the delivery it makes
    // joins this turn's batch to the subscriber instead of waiting a turn of the event loop for the next.
    this.unregister = [
      // A request is answered to its caller's node (a Reply or a refusal): its hop's acknowledgement may
      // wait for the answer's batch (one that is never answered, expired or cancelled, is acknowledged
      // when that wait ends).
      cluster.onReserved(
        CALL_REQUEST_PURPOSE,
        (m) => queueMicrotask(() => this.guard(() => this.onRequest(m))),
        { answersOrigin: true },
      ),
      cluster.onReserved(CALL_ANSWER_PURPOSE, (m) => this.guard(() => this.onAnswer(m))),
      cluster.onReserved(CALL_CANCEL_PURPOSE, (m) => this.guard(() => this.onCancel(m))),
    ];
  }

  /** Calls waiting here for an answer, and calls delivered here waiting for a Reply. */
  get pending(): { outgoing: number; incoming: number } {
    return { outgoing: this.outgoing.size, incoming: this.incoming.size };
  }

  /**
   * Starts a call whose outcome `waiter` is told (never within this call); returns its id, which
   * `abandon(callId)` takes to forget it (the client cancelled). Throws when refused before routing.
   */
  start(key: NodeId, purpose: number, payload: Uint8Array, timeoutMs: number, waiter: CallWaiter): string {
    if (timeoutMs <= 0) throw deadlineExceeded("the call's deadline has already passed");
    if (this.outgoing.size >= this.limits.maxPendingCalls) {
      throw resourceExhausted(`${this.outgoing.size} calls are already waiting for answers on this node`);
    }
    const callId = randomBytes(16).toString("hex");
    const timer = setTimeout(() => {
      if (!this.outgoing.delete(callId)) return;
      waiter.reject(deadlineExceeded(`no answer from the owner of key ${key.hex} within ${timeoutMs} ms`));
      this.sendCancel(key, callId);
    }, timeoutMs);
    this.outgoing.set(callId, { key, waiter, timer });
    let sent: Promise<unknown>;
    try {
      sent = this.cluster.sendReserved(
        CALL_REQUEST_PURPOSE,
        key,
        encodeCallRequest({ callId, purpose, timeoutMs, payload }),
      );
    } catch (error) {
      // Refused before routing: forget the call; the caller sees why from the throw.
      this.settle(callId);
      throw error;
    }
    sent.catch((error: unknown) => this.settle(callId)?.waiter.reject(asError(error)));
    return callId;
  }

  /** The caller went away: forget the call here and tell the owner. */
  abandon(callId: string): void {
    const call = this.settle(callId);
    if (call === undefined) return;
    call.waiter.reject(new OverlayRpcError(status.CANCELLED, "the call was cancelled by the client"));
    this.sendCancel(call.key, callId);
  }

  /** A subscriber's answer to `callId`: sent back to the caller's node. */
  async reply(callId: string, payload: Uint8Array): Promise<void> {
    const call = isCallId(callId) ? this.incoming.get(callId) : undefined;
    if (call === undefined) {
      throw failedPrecondition(
        `call ${JSON.stringify(callId.slice(0, 64))} is not waiting for an answer here: unknown, already answered, cancelled or expired`,
      );
    }
    this.incoming.delete(callId);
    clearTimeout(call.timer);
    this.deliveries.answered(call.messageId);
    await this.answer(call.caller, { callId, code: status.OK, hops: call.hops, details: "", payload });
  }

  close(): void {
    for (const off of this.unregister) off();
    for (const callId of [...this.outgoing.keys()]) {
      this.settle(callId)?.waiter.reject(
        new OverlayRpcError(status.UNAVAILABLE, "the overlay service is closing"),
      );
    }
    for (const call of this.incoming.values()) {
      clearTimeout(call.timer);
      this.deliveries.withdraw(call.messageId, CLOSING);
    }
    this.incoming.clear();
  }

  private onRequest(message: Message): void {
    const request = decodeCallRequest(message.payload);
    const caller = message.origin;
    const refuse = (code: status, details: string): void =>
      void this.answer(caller, {
        callId: request.callId,
        code,
        hops: message.hops,
        details,
        payload: new Uint8Array(0),
      }).catch((error: unknown) => this.reportError(asError(error)));
    if (this.incoming.size >= this.limits.maxPendingCalls) {
      refuse(status.RESOURCE_EXHAUSTED, `node ${this.cluster.info().id.hex} has too many calls waiting`);
      return;
    }
    const timer = setTimeout(() => this.forget(request.callId, EXPIRED), request.timeoutMs);
    this.incoming.set(request.callId, { caller, messageId: message.id, hops: message.hops, timer });
    this.deliveries
      .deliver({ ...message, purpose: request.purpose, payload: request.payload }, request.callId)
      .catch((error: unknown) => {
        // Withdrawn (answered, cancelled, expired): the caller already knows or no longer cares.
        if (!this.incoming.has(request.callId)) return;
        this.forget(request.callId, undefined);
        const e =
          error instanceof OverlayRpcError ? error : new OverlayRpcError(status.INTERNAL, String(error));
        refuse(e.code, e.message);
      });
  }

  /** Stops waiting for a Reply to `callId` here; with `reason`, the hub stops holding its delivery too. */
  private forget(callId: string, reason: OverlayRpcError | undefined): void {
    const call = this.incoming.get(callId);
    if (call === undefined) return;
    this.incoming.delete(callId);
    clearTimeout(call.timer);
    if (reason !== undefined) this.deliveries.withdraw(call.messageId, reason);
  }

  private onAnswer(message: Message): void {
    const answer = decodeCallAnswer(message.payload);
    const call = this.settle(answer.callId);
    if (call === undefined) return; // Late: the call was cancelled or timed out here.
    if (answer.code === status.OK) {
      call.waiter.resolve({ payload: answer.payload, answeredBy: message.origin, hops: answer.hops });
    } else {
      call.waiter.reject(new OverlayRpcError(answer.code, answer.details));
    }
  }

  private onCancel(message: Message): void {
    this.forget(decodeCallCancel(message.payload), CANCELLED);
  }

  private settle(callId: string): OutgoingCall | undefined {
    const call = this.outgoing.get(callId);
    if (call === undefined) return undefined;
    this.outgoing.delete(callId);
    clearTimeout(call.timer);
    return call;
  }

  /** Straight back to the caller's node when the transport can (Cluster.sendToNode), routed otherwise. */
  private async answer(caller: NodeInfo, envelope: Parameters<typeof encodeCallAnswer>[0]): Promise<void> {
    await this.cluster.sendToNode(caller, CALL_ANSWER_PURPOSE, encodeCallAnswer(envelope));
  }

  private sendCancel(key: NodeId, callId: string): void {
    this.cluster
      .sendReserved(CALL_CANCEL_PURPOSE, key, encodeCallCancel(callId))
      .catch((error: unknown) => this.reportError(asError(error)));
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.reportError(asError(error));
    }
  }
}

const CLOSING = new OverlayRpcError(status.UNAVAILABLE, "the overlay service is closing");
const EXPIRED = new OverlayRpcError(status.DEADLINE_EXCEEDED, "the call expired before a Reply");
const CANCELLED = new OverlayRpcError(status.CANCELLED, "the caller cancelled the call");
