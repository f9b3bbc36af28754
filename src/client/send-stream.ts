// The client's side of SendStream: send() calls share one long-lived stream, and sends made in the same turn
// of the event loop travel in one stream message. A node without SendStream (UNIMPLEMENTED) is remembered,
// and the caller falls back to the unary Send.
import { Metadata, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type {
  OverlayServiceClient,
  SendRequest,
  SendResponse,
  SendStreamItem,
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

/** Payload bytes of one stream message beyond its first send: well inside the node's headroom. */
const BATCH_PAYLOAD_BYTES = 128 * 1024;

export interface StreamedSendOptions {
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
}

interface Pending {
  readonly resolve: (response: SendResponse) => void;
  readonly reject: (error: WendyClientError) => void;
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class SendStreamChannel {
  private call: ClientDuplexStream<SendStreamRequest, SendStreamResponse> | undefined;
  private readonly pending = new Map<bigint, Pending>();
  private queued: SendStreamItem[] = [];
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());
  private nextId = 1n;
  private unsupported = false;
  private closed = false;

  /** `maxInFlight`: sends waiting on the stream at most; beyond, send() returns undefined (use unary). */
  constructor(
    private readonly raw: OverlayServiceClient,
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
  send(request: SendRequest, options: StreamedSendOptions): Promise<SendResponse> | undefined {
    if (!this.available || this.pending.size >= this.maxInFlight) return undefined;
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(new CancelledError("the send was cancelled", status.CANCELLED));
    const requestId = this.nextId++;
    const deadlineMs = options.deadlineMs === undefined ? 0 : Math.max(1, Math.ceil(options.deadlineMs));
    return new Promise<SendResponse>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
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
        pending.onAbort = () =>
          this.settleError(requestId, new CancelledError("the send was cancelled", status.CANCELLED));
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      this.pending.set(requestId, pending);
      this.queued.push({ requestId, send: request, deadlineMs });
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
    let chunk: SendStreamItem[] = [];
    let bytes = 0;
    for (const item of sends) {
      const size = item.send?.payload.byteLength ?? 0;
      if (chunk.length > 0 && bytes + size > BATCH_PAYLOAD_BYTES) {
        call.write({ sends: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push(item);
      bytes += size;
    }
    call.write({ sends: chunk });
  }

  private ensureOpen(): ClientDuplexStream<SendStreamRequest, SendStreamResponse> {
    if (this.call !== undefined) return this.call;
    const call = this.raw.sendStream(this.metadata());
    this.call = call;
    call.on("data", (response: SendStreamResponse) => this.onResults(response));
    call.on("error", (error: ServiceError) => this.onStreamError(call, error));
    call.on("end", () => {
      if (this.call === call)
        this.teardown(clientErrorFor(status.UNAVAILABLE, "the node ended the send stream"));
    });
    return call;
  }

  private onResults(response: SendStreamResponse): void {
    for (const result of response.results) {
      if (result.code === status.OK) {
        const p = this.take(result.requestId);
        p?.resolve(result.response ?? { messageId: "", deliveredBy: undefined, hops: 0 });
      } else {
        this.settleError(result.requestId, clientErrorFor(result.code, result.errorMessage));
      }
    }
  }

  private onStreamError(
    call: ClientDuplexStream<SendStreamRequest, SendStreamResponse>,
    error: ServiceError,
  ): void {
    if (this.call !== call) return;
    if (error.code === status.UNIMPLEMENTED) {
      // An older node: every send in flight was refused as a whole, so none was routed; the caller retries
      // them on the unary Send.
      this.unsupported = true;
    }
    // This side did not cancel (close() detaches the stream first): the node cut the stream, as a node
    // shutting down does, which the caller should see as the node being unavailable.
    const cut = error.code === status.CANCELLED;
    this.teardown(
      cut
        ? clientErrorFor(status.UNAVAILABLE, `the node cut the send stream: ${error.details}`)
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

  private take(requestId: bigint): Pending | undefined {
    const p = this.pending.get(requestId);
    if (p === undefined) return undefined;
    this.pending.delete(requestId);
    if (p.timer !== undefined) clearTimeout(p.timer);
    if (p.onAbort !== undefined) p.signal?.removeEventListener("abort", p.onAbort);
    return p;
  }
}
