// The plain types the client takes and gives: options, results, deliveries, events, ownership updates.
import type { KeyRange } from "../routing/ownership.js";
import type { NodeInfo } from "../routing/types.js";
import type { MessageContent } from "../shared/message.js";

export interface WendyClientOptions {
  /** Bearer token, when the node requires one (WENDY_CLIENT_TOKEN). */
  readonly token?: string;
  /** How long a subscription or event stream keeps trying to reopen after losing the node. Default 30 s. */
  readonly reconnectWindowMs?: number;
  /** Largest payload the node accepts (its WENDY_MAX_PAYLOAD_BYTES). Default 4 MiB. */
  readonly maxPayloadBytes?: number;
  /**
   * send() uses the node's SendStream (one long-lived stream for every send) when it has one. Default true;
   * false: a unary Send per message.
   */
  readonly sendStream?: boolean;
  /**
   * Sends waiting on the stream at most (the node's own bound is 1024 by default); sends beyond it use the
   * unary Send. Default 1024.
   */
  readonly sendStreamMaxInFlight?: number;
  /**
   * call() uses the node's CallStream (one long-lived stream for every call) when it has one, with at most
   * sendStreamMaxInFlight calls waiting on it. Default true; false: a unary Call each.
   */
  readonly callStream?: boolean;
  /**
   * kv's put, get and delete use the node's KvService.OperationStream (one long-lived stream for them all)
   * when it has one, with at most sendStreamMaxInFlight requests waiting on it. Default true; false: a
   * unary call each.
   */
  readonly kvStream?: boolean;
}

export interface RequestOptions {
  /** Gives up (DeadlineExceededError) after this long. */
  readonly deadlineMs?: number;
  /** Cancels the call (CancelledError). */
  readonly signal?: AbortSignal;
}

export interface SendRequestOptions extends RequestOptions {
  /**
   * Resolve only once an application at the key's owner acknowledged the message. When none took it
   * within the owner's delivery grace the send rejects: FailedPreconditionError (no subscriber of the
   * purpose there) or ResourceExhaustedError (its subscribers too slow, or its delivery queue full).
   */
  readonly waitForAck?: boolean;
  /** With waitForAck: how long the node waits for the acknowledgement (0 = its default, 10 s). */
  readonly timeoutMs?: number;
}

export interface SendResult {
  readonly messageId: string;
  /** With waitForAck: the node that delivered the message and the hops it took. */
  readonly deliveredBy?: NodeInfo;
  readonly hops?: number;
}

export interface CallRequestOptions extends RequestOptions {
  /** How long the owner has to answer (0 = the node's default, 10 s). */
  readonly timeoutMs?: number;
}

export interface CallResult {
  readonly payload: Uint8Array;
  readonly answeredBy: NodeInfo;
  readonly hops: number;
}

/** One message delivered to the local node. */
export interface Delivery extends MessageContent {
  readonly messageId: string;
  /** Set when the message came from a Call: answer it with `reply(callId, ...)`. */
  readonly callId?: string;
}

/** A delivery on a Receive stream: handle it, then `ack()` it (or Reply, for a call). */
export interface ReceivedDelivery extends Delivery {
  /** 1 the first time, more when the node hands it out again after a subscriber left it unacknowledged. */
  readonly attempt: number;
  /**
   * Tells the node the message was handled: the sender's acknowledgement may go. Without it, the node
   * hands the message to another subscriber (or to this one after it reconnects); drop repeats by
   * messageId. After the stream reconnected, acking a delivery of the old stream does nothing (it comes
   * again).
   */
  ack(): void;
  /**
   * For a delivery that carried a callId: answers the call on this Receive stream (no request of its own),
   * which also acknowledges it; the first answer wins. To a node that predates answers on the stream, or
   * after the stream reconnected, the answer goes as a unary Reply instead. An answer to a call that no longer waits is dropped, as `reply()` would refuse it.
   */
  reply(payload: Uint8Array | string): void;
}

export interface ReceiveOptions {
  /**
   * The subscriber group (default ""): each delivery goes to one member of each group at the node, so
   * several replicas of a service share the work.
   */
  readonly group?: string;
  /** Receive a copy of every delivery instead, outside any group and without acknowledging (at most once). */
  readonly copyAll?: boolean;
  /** Deliveries held unacknowledged at most (0 = the node's default, 64; at most 1024). */
  readonly maxUnacknowledged?: number;
}

/** The deliveries of a Receive subscription; it resumes by itself after the node restarts. */
export interface ReceiveStream extends ClientStream<ReceivedDelivery> {
  /**
   * Resolves with the node once the subscription is live (deliveries from then on reach it); rejects if the
   * stream fails first.
   */
  readonly ready: Promise<NodeInfo>;
}

/** What Status answers: the node's own view of itself and its peers. */
export interface StatusResult {
  readonly self: NodeInfo;
  readonly ready: boolean;
  readonly leafSetLeft: readonly NodeInfo[];
  readonly leafSetRight: readonly NodeInfo[];
  readonly routingTable: readonly { readonly row: number; readonly entries: readonly NodeInfo[] }[];
  readonly neighbourhood: readonly NodeInfo[];
  readonly peerCount: number;
  readonly subscriberCount: number;
  readonly undeliveredNoSubscriber: bigint;
}

export type OverlayEvent =
  | { readonly type: "nodeJoined"; readonly node: NodeInfo }
  | { readonly type: "nodeExited"; readonly node: NodeInfo; readonly graceful: boolean }
  | { readonly type: "leafSetChanged"; readonly leafSet: readonly NodeInfo[] }
  | { readonly type: "heartbeat"; readonly from: NodeInfo }
  | (MessageContent & {
      readonly type: "forwardRequest";
      readonly forwardId: string;
      readonly messageId: string;
      readonly next: NodeInfo;
    });

/**
 * The key range the node owns at one epoch and what moved since the previous one (WatchOwnership in
 * proto/wendy/v1/overlay.proto says exactly what each field promises).
 */
export interface OwnershipUpdate {
  /** 1 for the node's first range, one more with each change; starts again when the node restarts. */
  readonly epoch: bigint;
  readonly self: NodeInfo;
  /** Clockwise from first to last, both included; the whole ring (size 2^128) when the node is alone. */
  readonly range: KeyRange;
  /** The nearest nodes on either side; undefined when the node is alone. */
  readonly left?: NodeInfo;
  readonly right?: NodeInfo;
  /** Empty in the first update of a watch (and of each reconnection). */
  readonly changes: readonly OwnershipMove[];
}

/** Keys that came to the node (from `neighbour`) or went from it (to `neighbour`). */
export interface OwnershipMove {
  readonly kind: "gained" | "lost";
  readonly range: KeyRange;
  readonly neighbour: NodeInfo;
}

export type ForwardVerdict = "continue" | "veto" | { readonly modify: Uint8Array | string };

/** An async iterator over a stream; `close()` (or breaking out of `for await`) ends it. */
export interface ClientStream<T> extends AsyncIterableIterator<T> {
  close(): void;
}
