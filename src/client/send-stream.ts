// The client's side of SendStream and CallStream (and, with kv-stream.ts, KvService.OperationStream): sends
// (or calls) share one long-lived stream, and those made in the same turn of the event loop travel in one
// stream message. A node without the stream (UNIMPLEMENTED) is remembered, and the caller falls back to the
// unary Send (or Call).
import { Metadata, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type {
  CallRequest,
  CallResponse,
  CallStreamRequest,
  CallStreamResponse,
  OverlayServiceClient,
  SendRequest,
  SendResponse,
  SendStreamRequest,
  SendStreamResponse,
} from "../gen/wendy/v1/overlay.js";
import {
  CancelledError,
  clientErrorFor,
  clientErrorFrom,
  DeadlineExceededError,
  WendyClientError,
} from "./errors.js";
import { EndOfTurnFlush } from "../shared/end-of-turn.js";

/** Payload bytes of one stream message beyond its first request: well inside the node's headroom. */
const BATCH_PAYLOAD_BYTES = 128 * 1024;

export interface StreamedSendOptions {
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
}

interface Pending<Res> {
  readonly resolve: (response: Res) => void;
  readonly reject: (error: WendyClientError) => void;
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** One request as queued for the stream. */
interface Queued<Req> {
  readonly requestId: bigint;
  readonly request: Req;
  readonly deadlineMs: number;
}

/** A result as the stream reports it. */
interface StreamedResult<Res> {
  readonly requestId: bigint;
  readonly code: number;
  readonly errorMessage: string;
  readonly response?: Res;
}

/** What differs between SendStream, CallStream and OperationStream. */
export interface StreamKind<Raw, Req, Res, StreamReq, StreamRes> {
  /** "send" or "call", for messages. */
  readonly what: string;
  open(raw: Raw, metadata: Metadata): ClientDuplexStream<StreamReq, StreamRes>;
  message(items: readonly Queued<Req>[]): StreamReq;
  results(response: StreamRes): readonly StreamedResult<Res>[];
  payloadBytes(request: Req): number;
  /** Tells the node the client gave up on these requests; absent where the node has nothing to undo. */
  cancel?(requestIds: readonly bigint[]): StreamReq;
  /** The response of an OK result that carried none. */
  readonly empty: Res;
}

const SEND: StreamKind<
  OverlayServiceClient,
  SendRequest,
  SendResponse,
  SendStreamRequest,
  SendStreamResponse
> = {
  what: "send",
  open: (raw, metadata) => raw.sendStream(metadata),
  message: (items) => ({
    sends: items.map((i) => ({ requestId: i.requestId, send: i.request, deadlineMs: i.deadlineMs })),
  }),
  results: (response) => response.results,
  payloadBytes: (request) => request.payload.byteLength,
  empty: { messageId: "", deliveredBy: undefined, hops: 0 },
};

const CALL: StreamKind<
  OverlayServiceClient,
  CallRequest,
  CallResponse,
  CallStreamRequest,
  CallStreamResponse
> = {
  what: "call",
  open: (raw, metadata) => raw.callStream(metadata),
  message: (items) => ({
    calls: items.map((i) => ({ requestId: i.requestId, call: i.request, deadlineMs: i.deadlineMs })),
    cancelRequestIds: [],
  }),
  // A cancelled call reaches the key's owner, as cancelling a unary Call does.
  cancel: (requestIds) => ({ calls: [], cancelRequestIds: [...requestIds] }),
  results: (response) => response.results,
  payloadBytes: (request) => request.payload.byteLength,
  empty: { payload: Buffer.alloc(0), answeredBy: undefined, hops: 0 },
};

export class RequestStreamChannel<Raw, Req, Res, StreamReq, StreamRes> {
  private call: ClientDuplexStream<StreamReq, StreamRes> | undefined;
  private readonly pending = new Map<bigint, Pending<Res>>();
  private queued: Queued<Req>[] = [];
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());
  private nextId = 1n;
  private unsupported = false;
  private closed = false;

  /** `maxInFlight`: requests waiting on the stream at most; beyond, send() returns undefined (use unary). */
  constructor(
    private readonly kind: StreamKind<Raw, Req, Res, StreamReq, StreamRes>,
    private readonly raw: Raw,
    private readonly metadata: () => Metadata,
    private readonly maxInFlight: number,
  ) {}

  /** False once the node said it has no SendStream, or the channel was closed. */
  get available(): boolean {
    return !this.unsupported && !this.closed;
  }

  /**
   * Sends on the stream, or returns undefined when the caller should use the unary Send instead (no
   * SendStream on this node, or the stream is full).
   */
  send(request: Req, options: StreamedSendOptions): Promise<Res> | undefined {
    if (!this.available || this.pending.size >= this.maxInFlight) return undefined;
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(new CancelledError(`the ${this.kind.what} was cancelled`, status.CANCELLED));
    const requestId = this.nextId++;
    const deadlineMs = options.deadlineMs === undefined ? 0 : Math.max(1, Math.ceil(options.deadlineMs));
    return new Promise<Res>((resolve, reject) => {
      const pending: Pending<Res> = { resolve, reject };
      if (options.deadlineMs !== undefined) {
        // The node answers DEADLINE_EXCEEDED itself; this covers a node that never answers at all.
        pending.timer = setTimeout(
          () =>
            this.settleError(
              requestId,
              new DeadlineExceededError("deadline exceeded", status.DEADLINE_EXCEEDED),
            ),
          options.deadlineMs,
        );
      }
      if (signal !== undefined) {
        pending.signal = signal;
        pending.onAbort = () => {
          this.settleError(
            requestId,
            new CancelledError(`the ${this.kind.what} was cancelled`, status.CANCELLED),
          );
          // Still queued, it is never written; written, the node hears of the cancel where that matters.
          if (this.kind.cancel !== undefined && this.call?.writable === true)
            this.call.write(this.kind.cancel([requestId]));
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.pending.set(requestId, pending);
      this.queued.push({ requestId, request, deadlineMs });
      this.endOfTurn.schedule();
    });
  }

  /** Ends the stream; sends still waiting fail with CancelledError. */
  close(): void {
    this.closed = true;
    this.teardown(new CancelledError("the client was closed", status.CANCELLED));
  }

  private flush(): void {
    const sends = this.queued.filter((item) => this.pending.has(item.requestId));
    this.queued = [];
    if (sends.length === 0 || this.closed) return;
    const call = this.ensureOpen();
    // Several sends per stream message, but within the node's message limit (sized for one payload).
    let chunk: Queued<Req>[] = [];
    let bytes = 0;
    for (const item of sends) {
      const size = this.kind.payloadBytes(item.request);
      if (chunk.length > 0 && bytes + size > BATCH_PAYLOAD_BYTES) {
        call.write(this.kind.message(chunk));
        chunk = [];
        bytes = 0;
      }
      chunk.push(item);
      bytes += size;
    }
    call.write(this.kind.message(chunk));
  }

  private ensureOpen(): ClientDuplexStream<StreamReq, StreamRes> {
    if (this.call !== undefined) return this.call;
    const call = this.kind.open(this.raw, this.metadata());
    this.call = call;
    call.on("data", (response: StreamRes) => this.onResults(response));
    call.on("error", (error: ServiceError) => this.onStreamError(call, error));
    call.on("end", () => {
      if (this.call === call)
        this.teardown(clientErrorFor(status.UNAVAILABLE, `the node ended the ${this.kind.what} stream`));
    });
    return call;
  }

  private onResults(response: StreamRes): void {
    for (const result of this.kind.results(response)) {
      if (result.code === status.OK) {
        const p = this.take(result.requestId);
        p?.resolve(result.response ?? this.kind.empty);
      } else {
        this.settleError(result.requestId, clientErrorFor(result.code, result.errorMessage));
      }
    }
  }

  private onStreamError(call: ClientDuplexStream<StreamReq, StreamRes>, error: ServiceError): void {
    if (this.call !== call) return;
    if (error.code === status.UNIMPLEMENTED) {
      // An older node: every request in flight was refused as a whole, so none was routed; the caller
      // retries them on the unary Send (or Call).
      this.unsupported = true;
    }
    // This side did not cancel (close() detaches the stream first): the node cut the stream, as a node
    // shutting down does, which the caller should see as the node being unavailable.
    const cut = error.code === status.CANCELLED;
    this.teardown(
      cut
        ? clientErrorFor(status.UNAVAILABLE, `the node cut the ${this.kind.what} stream: ${error.details}`)
        : clientErrorFrom(error),
    );
  }

  /** Fails every waiting send with `error` (the stream broke: the node restarted, or refused the stream). */
  private teardown(error: WendyClientError): void {
    const call = this.call;
    this.call = undefined;
    if (call !== undefined) {
      call.removeAllListeners("data");
      call.on("error", () => undefined);
      call.cancel();
    }
    this.queued = [];
    for (const id of [...this.pending.keys()]) this.settleError(id, error);
  }

  private settleError(requestId: bigint, error: WendyClientError): void {
    this.take(requestId)?.reject(error);
  }

  private take(requestId: bigint): Pending<Res> | undefined {
    const p = this.pending.get(requestId);
    if (p === undefined) return undefined;
    this.pending.delete(requestId);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.onAbort !== undefined) p.signal?.removeEventListener("abort", p.onAbort);
    return p;
  }
}

/** Sends on one SendStream. */
export class SendStreamChannel extends RequestStreamChannel<
  OverlayServiceClient,
  SendRequest,
  SendResponse,
  SendStreamRequest,
  SendStreamResponse
> {
  constructor(raw: OverlayServiceClient, metadata: () => Metadata, maxInFlight: number) {
    super(SEND, raw, metadata, maxInFlight);
  }
}

/** Calls on one CallStream. */
export class CallStreamChannel extends RequestStreamChannel<
  OverlayServiceClient,
  CallRequest,
  CallResponse,
  CallStreamRequest,
  CallStreamResponse
> {
  constructor(raw: OverlayServiceClient, metadata: () => Metadata, maxInFlight: number) {
    super(CALL, raw, metadata, maxInFlight);
  }
}
