// A small hand-written wrapper over the generated OverlayService client, for services co-located with a
// Wendy node: plain types in and out, typed errors, and streams that resume after the node restarts.
import {
  credentials,
  Metadata,
  type CallOptions,
  type ClientUnaryCall,
  status,
  type ServiceError,
} from "@grpc/grpc-js";
import type { NodeInfo } from "../routing/types.js";
import {
  ForwardAction,
  type OverlayServiceClient,
  type CallRequest,
  type CallResponse,
  type LookupResponse,
  type ReplicasResponse,
  type SendRequest,
  type SendResponse,
  type StatusResponse,
  type SubscribeResponse,
  type WatchEventsResponse,
  type WatchOwnershipResponse,
} from "../gen/wendy/v1/overlay.js";
import { KvRawClient, OverlayRawClient } from "../wire/client-port-streams.js";
import { DEFAULT_WIRE_LIMITS, grpcMessageSizeLimit } from "../wire/limits.js";
import { CHANNEL_OPTIONS } from "../wire/channel-options.js";
import type {
  CallRequestOptions,
  CallResult,
  ClientStream,
  Delivery,
  ForwardVerdict,
  OverlayEvent,
  OwnershipUpdate,
  ReceiveOptions,
  ReceiveStream,
  RequestOptions,
  SendRequestOptions,
  SendResult,
  StatusResult,
  WendyClientOptions,
} from "./client-types.js";
import { fromWireNode, toBuffer, toWireKey, type KeyLike } from "./convert.js";
import { clientErrorFrom, WendyClientError } from "./errors.js";
import { toDelivery, toEvent, toOwnershipUpdate, toStatus } from "./from-wire.js";
import { KvClient } from "./kv-client.js";
import { KvStreamChannel } from "./kv-stream.js";
import { openReceiveStream } from "./receive-stream.js";
import { ResumingStream } from "./resuming-stream.js";
import { CallStreamChannel, SendStreamChannel } from "./send-stream.js";

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

export class WendyClient {
  private readonly raw: OverlayServiceClient;
  private readonly token: string | undefined;
  private readonly reconnectWindowMs: number;
  private readonly streams = new Set<ClientStream<unknown>>();
  private readonly sendStream: SendStreamChannel | undefined;
  /** The node's replicated key-value store (wendy.v1.KvService): put, get, delete, compare and set. */
  readonly kv: KvClient;
  private readonly callStream: CallStreamChannel | undefined;

  /**
   * `address` is "host:port" of the node's client port (default port 7071), or "unix:///path" of its Unix
   * socket (WENDY_CLIENT_SOCKET).
   */
  constructor(
    readonly address: string,
    options: WendyClientOptions = {},
  ) {
    const size = grpcMessageSizeLimit({
      ...DEFAULT_WIRE_LIMITS,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_WIRE_LIMITS.maxPayloadBytes,
    });
    this.raw = new OverlayRawClient(address, credentials.createInsecure(), {
      ...CHANNEL_OPTIONS,
      "grpc.max_receive_message_length": size,
      "grpc.max_send_message_length": size,
    });
    const kvRaw = new KvRawClient(address, credentials.createInsecure(), {
      ...CHANNEL_OPTIONS,
      "grpc.max_receive_message_length": size,
      "grpc.max_send_message_length": size,
    });
    this.kv = new KvClient(
      kvRaw,
      (start, o) => this.unary(start, o),
      options.kvStream === false
        ? undefined
        : new KvStreamChannel(kvRaw, () => this.metadata(), options.sendStreamMaxInFlight ?? 1024),
    );
    this.token = options.token;
    this.reconnectWindowMs = options.reconnectWindowMs ?? 30_000;
    this.sendStream =
      options.sendStream === false
        ? undefined
        : new SendStreamChannel(this.raw, () => this.metadata(), options.sendStreamMaxInFlight ?? 1024);
    this.callStream =
      options.callStream === false
        ? undefined
        : new CallStreamChannel(this.raw, () => this.metadata(), options.sendStreamMaxInFlight ?? 1024);
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
    const deps = {
      raw: this.raw,
      metadata: () => this.metadata(),
      reconnectWindowMs: this.reconnectWindowMs,
      replyUnary: (callId: string, payload: Uint8Array | string) => this.reply(callId, payload),
    };
    return this.track(openReceiveStream(deps, purposes, options));
  }

  /**
   * Deprecated: use `receive`, which acknowledges each delivery. Deliveries to the local node for
   * `purposes` (a copy of each, never acknowledged); resumes by itself after the node restarts.
   */
  subscribe(purposes: readonly number[]): ClientStream<Delivery> {
    return this.track(
      new ResumingStream<SubscribeResponse, Delivery>(
        () => this.raw.subscribe({ purposes: [...purposes] }, this.metadata()),
        (r) => [toDelivery(r)],
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
    const response = await this.callOnce(request, options);
    return {
      payload: new Uint8Array(response.payload),
      answeredBy: fromWireNode(response.answeredBy, "answered_by"),
      hops: response.hops,
    };
  }

  /** On the CallStream when the node has one and it has room; else (or for an older node) unary Call. */
  private async callOnce(request: CallRequest, options: CallRequestOptions): Promise<CallResponse> {
    const streamed = this.callStream?.send(request, options);
    if (streamed !== undefined) {
      try {
        return await streamed;
      } catch (error) {
        // The node has no CallStream: the stream was refused as a whole, so this call was never routed.
        if (!(error instanceof WendyClientError && error.code === status.UNIMPLEMENTED)) throw error;
      }
    }
    return this.unary<CallResponse>((md, o, cb) => this.raw.call(request, md, o, cb), options);
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
        (r) => [toEvent(r)],
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
        (r) => [toOwnershipUpdate(r)],
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
    this.callStream?.close();
    for (const s of this.streams) s.close();
    this.streams.clear();
    this.raw.close();
    this.kv.close();
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
