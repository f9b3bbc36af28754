// A small hand-written wrapper over the generated OverlayService client, for services co-located with a
// Wendy node: plain types in and out, typed errors, and streams that resume after the node restarts.
import {
  credentials,
  Metadata,
  type CallOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  status,
  type ServiceError,
} from "@grpc/grpc-js";
import { clockwiseDistance } from "../routing/id.js";
import type { KeyRange } from "../routing/ownership.js";
import type { NodeInfo } from "../routing/types.js";
import type { NodeInfo as WireNodeInfo } from "../gen/wendy/v1/types.js";
import {
  ForwardAction,
  OverlayServiceClient,
  type CallResponse,
  type LookupResponse,
  type ReceiveRequest,
  type ReceiveResponse,
  type ReplicasResponse,
  type SendRequest,
  type SendResponse,
  type StatusResponse,
  type SubscribeResponse,
  type WatchEventsResponse,
  type WatchOwnershipResponse,
  OwnershipChangeKind,
} from "../gen/wendy/v1/overlay.js";
import { DEFAULT_WIRE_LIMITS, grpcMessageSizeLimit } from "../wire/limits.js";
import { clientErrorFrom, WendyClientError } from "./errors.js";
import { SendStreamChannel } from "./send-stream.js";
import { EndOfTurnFlush } from "../shared/end-of-turn.js";
import type { MessageContent } from "../shared/message.js";
import { fromWireNode, keyFromBytes, toBuffer, toWireKey, type KeyLike } from "./convert.js";
import { ResumingStream } from "./resuming-stream.js";

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

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

export class WendyClient {
  private readonly raw: OverlayServiceClient;
  private readonly token: string | undefined;
  private readonly reconnectWindowMs: number;
  private readonly streams = new Set<ClientStream<unknown>>();
  private readonly sendStream: SendStreamChannel | undefined;

  /** `address` is "host:port" of the node's client port (default port 7071). */
  constructor(
    readonly address: string,
    options: WendyClientOptions = {},
  ) {
    const size = grpcMessageSizeLimit({
      ...DEFAULT_WIRE_LIMITS,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_WIRE_LIMITS.maxPayloadBytes,
    });
    this.raw = new OverlayServiceClient(address, credentials.createInsecure(), {
      "grpc.max_receive_message_length": size,
      "grpc.max_send_message_length": size,
    });
    this.token = options.token;
    this.reconnectWindowMs = options.reconnectWindowMs ?? 30_000;
    this.sendStream =
      options.sendStream === false
        ? undefined
        : new SendStreamChannel(this.raw, () => this.metadata(), options.sendStreamMaxInFlight ?? 1024);
  }

  async send(
    key: KeyLike,
    purpose: number,
    payload: Uint8Array | string,
    options: SendRequestOptions = {},
  ): Promise<SendResult> {
    const request = {
      key: toWireKey(key),
      purpose,
      payload: toBuffer(payload),
      waitForAck: options.waitForAck === true,
      timeoutMs: options.timeoutMs ?? 0,
    };
    const response = await this.sendOnce(request, options);
    if (!options.waitForAck) return { messageId: response.messageId };
    return {
      messageId: response.messageId,
      deliveredBy: fromWireNode(response.deliveredBy, "delivered_by"),
      hops: response.hops,
    };
  }

  /** On the SendStream when the node has one and it has room; else (or for an older node) unary Send. */
  private async sendOnce(request: SendRequest, options: SendRequestOptions): Promise<SendResponse> {
    const streamed = this.sendStream?.send(request, options);
    if (streamed !== undefined) {
      try {
        return await streamed;
      } catch (error) {
        // The node has no SendStream: the stream was refused as a whole, so this send was never routed.
        if (!(error instanceof WendyClientError && error.code === status.UNIMPLEMENTED)) throw error;
      }
    }
    return this.unary<SendResponse>((md, o, cb) => this.raw.send(request, md, o, cb), options);
  }

  /**
   * Deliveries to the local node for `purposes`, each to be acknowledged with `ack()`; see ReceiveOptions
   * for groups. Resumes by itself after the node restarts (unacknowledged deliveries come again).
   */
  receive(purposes: readonly number[], options: ReceiveOptions = {}): ReceiveStream {
    const start = {
      purposes: [...purposes],
      group: options.group ?? "",
      copyAll: options.copyAll === true,
      maxUnacknowledged: options.maxUnacknowledged ?? 0,
    };
    let live: ClientDuplexStream<ReceiveRequest, ReceiveResponse> | undefined;
    const acks = new AckBatcher();
    let markReady: (node: NodeInfo) => void = () => undefined;
    let failReady: (error: Error) => void = () => undefined;
    const ready = new Promise<NodeInfo>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => undefined); // A caller who never looks at `ready` sees the failure on iteration.
    const stream = new ResumingStream<ReceiveResponse, ReceivedDelivery>(
      () => {
        const call = this.raw.receive(this.metadata());
        call.write({ kind: { $case: "start", start } });
        live = call;
        return call;
      },
      (response) => {
        const kind = response.kind;
        if (kind?.$case === "ready") {
          markReady(fromWireNode(kind.ready.node, "ready.node"));
          return undefined;
        }
        if (kind?.$case !== "delivery")
          throw new Error("the node sent a Receive response of an unknown kind");
        const via = live;
        const d = kind.delivery;
        return {
          ...toDelivery(d),
          attempt: d.attempt,
          ack: () => {
            if (via !== undefined) acks.add(via, d.messageId);
          },
        };
      },
      { reconnectWindowMs: this.reconnectWindowMs, onFailure: (error) => failReady(error) },
    );
    const close = stream.close.bind(stream);
    stream.close = () => {
      failReady(new Error("the subscription was closed before it was live"));
      close();
    };
    return this.track(Object.assign(stream, { ready }));
  }

  /**
   * Deprecated: use `receive`, which acknowledges each delivery. Deliveries to the local node for
   * `purposes` (a copy of each, never acknowledged); resumes by itself after the node restarts.
   */
  subscribe(purposes: readonly number[]): ClientStream<Delivery> {
    return this.track(
      new ResumingStream<SubscribeResponse, Delivery>(
        () => this.raw.subscribe({ purposes: [...purposes] }, this.metadata()),
        toDelivery,
        { reconnectWindowMs: this.reconnectWindowMs },
      ),
    );
  }

  /** Sends a request to `key`'s owner and waits for a subscriber there to answer. */
  async call(
    key: KeyLike,
    purpose: number,
    payload: Uint8Array | string,
    options: CallRequestOptions = {},
  ): Promise<CallResult> {
    const request = {
      key: toWireKey(key),
      purpose,
      payload: toBuffer(payload),
      timeoutMs: options.timeoutMs ?? 0,
    };
    const response = await this.unary<CallResponse>(
      (md, o, cb) => this.raw.call(request, md, o, cb),
      options,
    );
    return {
      payload: new Uint8Array(response.payload),
      answeredBy: fromWireNode(response.answeredBy, "answered_by"),
      hops: response.hops,
    };
  }

  /** Answers a delivery that carried a call id. */
  async reply(callId: string, payload: Uint8Array | string, options: RequestOptions = {}): Promise<void> {
    const request = { callId, payload: toBuffer(payload) };
    await this.unary((md, o, cb) => this.raw.reply(request, md, o, cb), options);
  }

  /** The live node that owns `key` now. */
  async lookup(key: KeyLike, options: RequestOptions = {}): Promise<NodeInfo> {
    const request = { key: toWireKey(key) };
    const response = await this.unary<LookupResponse>(
      (md, o, cb) => this.raw.lookup(request, md, o, cb),
      options,
    );
    return fromWireNode(response.owner, "owner");
  }

  /** `count` nodes closest to `key`, closest first. */
  async replicas(key: KeyLike, count: number, options: RequestOptions = {}): Promise<NodeInfo[]> {
    const request = { key: toWireKey(key), count };
    const response = await this.unary<ReplicasResponse>(
      (md, o, cb) => this.raw.replicas(request, md, o, cb),
      options,
    );
    return response.nodes.map((n, i) => fromWireNode(n, `nodes[${i}]`));
  }

  async status(options: RequestOptions = {}): Promise<StatusResult> {
    const response = await this.unary<StatusResponse>((md, o, cb) => this.raw.status({}, md, o, cb), options);
    return toStatus(response);
  }

  /**
   * Overlay events. With `interceptPurposes`, forwards of those purposes through this node wait for
   * `decideForward` (or continue unchanged after the node's timeout).
   */
  watchEvents(options: { readonly interceptPurposes?: readonly number[] } = {}): ClientStream<OverlayEvent> {
    const request = { interceptPurposes: [...(options.interceptPurposes ?? [])] };
    return this.track(
      new ResumingStream<WatchEventsResponse, OverlayEvent>(
        () => this.raw.watchEvents(request, this.metadata()),
        toEvent,
        { reconnectWindowMs: this.reconnectWindowMs },
      ),
    );
  }

  /**
   * The key range the node owns now, then every change to it. After the node restarts the stream resumes
   * with the new incarnation's range (epochs start again at 1).
   */
  watchOwnership(): ClientStream<OwnershipUpdate> {
    return this.track(
      new ResumingStream<WatchOwnershipResponse, OwnershipUpdate>(
        () => this.raw.watchOwnership({}, this.metadata()),
        toOwnershipUpdate,
        { reconnectWindowMs: this.reconnectWindowMs },
      ),
    );
  }

  async decideForward(
    forwardId: string,
    verdict: ForwardVerdict,
    options: RequestOptions = {},
  ): Promise<void> {
    const request =
      verdict === "continue"
        ? { forwardId, action: ForwardAction.FORWARD_ACTION_CONTINUE, payload: Buffer.alloc(0) }
        : verdict === "veto"
          ? { forwardId, action: ForwardAction.FORWARD_ACTION_VETO, payload: Buffer.alloc(0) }
          : { forwardId, action: ForwardAction.FORWARD_ACTION_MODIFY, payload: toBuffer(verdict.modify) };
    await this.unary((md, o, cb) => this.raw.decideForward(request, md, o, cb), options);
  }

  /** Ends open streams and the connection. */
  close(): void {
    this.sendStream?.close();
    for (const s of this.streams) s.close();
    this.streams.clear();
    this.raw.close();
  }

  private track<S extends ClientStream<unknown>>(stream: S): S {
    this.streams.add(stream);
    return stream;
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.token !== undefined) md.set("authorization", `Bearer ${this.token}`);
    return md;
  }

  private unary<Res>(
    start: (metadata: Metadata, options: Partial<CallOptions>, callback: Callback<Res>) => ClientUnaryCall,
    options: RequestOptions,
  ): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const callOptions: Partial<CallOptions> =
        options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
      const signal = options.signal;
      const onAbort = (): void => call.cancel();
      const call = start(this.metadata(), callOptions, (error, response) => {
        signal?.removeEventListener("abort", onAbort);
        if (error) reject(clientErrorFrom(error));
        else resolve(response);
      });
      if (signal?.aborted) call.cancel();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** Acknowledgements made in one turn of the event loop leave in one request per stream. */
class AckBatcher {
  private readonly waiting = new Map<ClientDuplexStream<ReceiveRequest, ReceiveResponse>, string[]>();
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());

  add(via: ClientDuplexStream<ReceiveRequest, ReceiveResponse>, messageId: string): void {
    const ids = this.waiting.get(via);
    if (ids === undefined) this.waiting.set(via, [messageId]);
    else ids.push(messageId);
    this.endOfTurn.schedule();
  }

  private flush(): void {
    for (const [via, ids] of this.waiting) {
      // A stream that has ended takes no acks: its deliveries come again on the next one.
      if (!via.writable) continue;
      for (let i = 0; i < ids.length; i += MAX_ACKS_PER_REQUEST) {
        via.write({ kind: { $case: "ack", ack: { messageIds: ids.slice(i, i + MAX_ACKS_PER_REQUEST) } } });
      }
    }
    this.waiting.clear();
  }
}

/** The node's bound on ids in one ack request. */
const MAX_ACKS_PER_REQUEST = 1024;

function toDelivery(r: SubscribeResponse): Delivery {
  const delivery = {
    key: keyFromBytes(r.key),
    purpose: r.purpose,
    payload: new Uint8Array(r.payload),
    messageId: r.messageId,
    origin: fromWireNode(r.origin, "origin"),
    hops: r.hops,
  };
  return r.callId === "" ? delivery : { ...delivery, callId: r.callId };
}

function toStatus(r: StatusResponse): StatusResult {
  const nodes = (list: readonly WireNodeInfo[], field: string) =>
    list.map((n, i) => fromWireNode(n, `${field}[${i}]`));
  return {
    self: fromWireNode(r.self, "self"),
    ready: r.ready,
    leafSetLeft: nodes(r.leafSetLeft, "leaf_set_left"),
    leafSetRight: nodes(r.leafSetRight, "leaf_set_right"),
    routingTable: r.routingTable.map((row) => ({
      row: row.row,
      entries: nodes(row.entries, "routing_table"),
    })),
    neighbourhood: nodes(r.neighbourhood, "neighbourhood"),
    peerCount: r.peerCount,
    subscriberCount: r.subscriberCount,
    undeliveredNoSubscriber: r.undeliveredNoSubscriber,
  };
}

function toRange(first: Uint8Array, last: Uint8Array): KeyRange {
  const [from, to] = [keyFromBytes(first), keyFromBytes(last)];
  // first = last + 1 is the whole ring: 2^128 - 1 steps apart, 2^128 keys.
  return { first: from, last: to, size: clockwiseDistance(from, to) + 1n };
}

function toOwnershipUpdate(r: WatchOwnershipResponse): OwnershipUpdate {
  return {
    epoch: r.epoch,
    self: fromWireNode(r.self, "self"),
    range: toRange(r.first, r.last),
    ...(r.left === undefined ? {} : { left: fromWireNode(r.left, "left") }),
    ...(r.right === undefined ? {} : { right: fromWireNode(r.right, "right") }),
    changes: r.changes.map((c, i) => {
      if (
        c.kind !== OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_GAINED &&
        c.kind !== OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_LOST
      ) {
        throw new WendyClientError(
          `the node sent changes[${i}] of an unknown kind ${c.kind}`,
          status.INTERNAL,
        );
      }
      return {
        kind: c.kind === OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_GAINED ? "gained" : "lost",
        range: toRange(c.first, c.last),
        neighbour: fromWireNode(c.neighbour, `changes[${i}].neighbour`),
      };
    }),
  };
}

function toEvent(r: WatchEventsResponse): OverlayEvent {
  const e = r.event;
  switch (e?.$case) {
    case "nodeJoined":
      return { type: "nodeJoined", node: fromWireNode(e.nodeJoined.node, "node") };
    case "nodeExited":
      return {
        type: "nodeExited",
        node: fromWireNode(e.nodeExited.node, "node"),
        graceful: e.nodeExited.graceful,
      };
    case "leafSetChanged":
      return {
        type: "leafSetChanged",
        leafSet: e.leafSetChanged.leafSet.map((n, i) => fromWireNode(n, `leaf_set[${i}]`)),
      };
    case "heartbeat":
      return { type: "heartbeat", from: fromWireNode(e.heartbeat.from, "from") };
    case "forwardRequest": {
      const f = e.forwardRequest;
      return {
        type: "forwardRequest",
        forwardId: f.forwardId,
        messageId: f.messageId,
        key: keyFromBytes(f.key),
        purpose: f.purpose,
        payload: new Uint8Array(f.payload),
        origin: fromWireNode(f.origin, "origin"),
        hops: f.hops,
        next: fromWireNode(f.next, "next"),
      };
    }
    case undefined:
      throw new Error("the node sent an event of a kind this client does not know");
  }
}
