// CallStream: many calls on one long-lived stream, each answered by its own result. A unary Call costs an
// HTTP/2 stream opened and closed per call; here many calls and their answers share stream messages.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  CallStreamRequest,
  OverlayServiceService,
  type CallStreamItem,
  type CallStreamResponse,
  type CallStreamResult,
} from "../../gen/wendy/v1/overlay.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { CallAnswer } from "./calls.js";
import type { OverlayContext } from "./context.js";
import { maxCallPayloadBytes } from "./limits.js";
import { invalidArgument, resourceExhausted, toServiceError } from "./rpc-error.js";
import { effectiveTimeoutMs, requireKey, requirePayload, requirePurpose } from "./validate.js";

const PATH = OverlayServiceService.callStream.path;
/** Each call on the stream is counted like a unary Call with its own code, so dashboards see every call. */
const CALL_PATH = OverlayServiceService.call.path;

/** Every open CallStream of one service, so that closing the service (a node stopping) ends them. */
export class CallStreams {
  private readonly open = new Set<CallStreamSession>();

  constructor(private readonly ctx: OverlayContext) {}

  get count(): number {
    return this.open.size;
  }

  /** The gRPC handler; requests arrive as raw bytes (see decodeInHandlers) and are decoded here. */
  readonly handler = (call: ServerDuplexStream<Buffer, CallStreamResponse>): void => {
    const refused = this.ctx.token.refuse(call.metadata);
    if (refused !== undefined) {
      this.ctx.metrics?.clientRpcServed(PATH, refused.code ?? status.UNAUTHENTICATED);
      call.emit("error", refused);
      return;
    }
    const session = new CallStreamSession(this.ctx, call, () => this.open.delete(session));
    this.open.add(session);
    session.start();
  };

  /** Ends every stream: clients see UNAVAILABLE for calls still waiting. */
  closeAll(): void {
    for (const session of [...this.open]) session.fail(status.UNAVAILABLE, "the node is shutting down");
  }
}

/**
 * One open CallStream. `outstanding` counts calls received whose result has not yet been written out: it
 * bounds what a client can make the node hold, whether it calls too fast or stops reading results.
 */
class CallStreamSession {
  private outstanding = 0;
  private results: CallStreamResult[] = [];
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());
  private open = true;
  private clientDone = false;
  /** Calls waiting for their answer, by request id: cancelled with the stream. */
  private readonly waiting = new Map<bigint, string>();

  constructor(
    private readonly ctx: OverlayContext,
    private readonly call: ServerDuplexStream<Buffer, CallStreamResponse>,
    private readonly onClosed: () => void,
  ) {}

  start(): void {
    const call = this.call;
    call.on("data", (bytes: Buffer) => this.onRequest(bytes));
    call.on("end", () => {
      this.clientDone = true;
      this.endIfDone();
    });
    call.on("cancelled", () => this.closed(status.CANCELLED));
    call.on("error", () => this.closed(status.CANCELLED));
    call.on("close", () => this.closed(status.OK));
  }

  private onRequest(bytes: Buffer): void {
    if (!this.open) return;
    let request: CallStreamRequest;
    try {
      request = CallStreamRequest.decode(bytes);
    } catch (error) {
      this.fail(status.INVALID_ARGUMENT, `malformed CallStream request: ${(error as Error).message}`);
      return;
    }
    const receivedAt = Date.now();
    const limit = this.ctx.limits.maxSendStreamInFlight;
    for (const item of request.calls) {
      if (this.outstanding >= 2 * limit) {
        this.fail(status.RESOURCE_EXHAUSTED, `${this.outstanding} results unread; the stream was dropped`);
        return;
      }
      this.outstanding++;
      if (this.outstanding > limit) {
        this.answerError(
          item.requestId,
          resourceExhausted(`more than ${limit} calls in flight on this stream; wait for results`),
        );
        continue;
      }
      this.startCall(item, receivedAt);
    }
    for (const requestId of request.cancelRequestIds) {
      const callId = this.waiting.get(requestId);
      if (callId === undefined) continue;
      this.waiting.delete(requestId);
      this.ctx.calls.abandon(callId);
    }
  }

  private startCall(item: CallStreamItem, receivedAt: number): void {
    const { ctx } = this;
    const started = performance.now();
    let answer: Promise<CallAnswer>;
    try {
      const request = item.call;
      if (request === undefined) throw invalidArgument("call: required");
      const key = requireKey(request.key, "call.key");
      const purpose = requirePurpose(request.purpose, ctx.limits, "call.purpose");
      const payload = requirePayload(request.payload, maxCallPayloadBytes(ctx.limits), "call.payload");
      const timeoutMs = effectiveTimeoutMs(
        request.timeoutMs,
        ctx.limits.defaultCallTimeoutMs,
        this.deadlineOf(item, receivedAt),
      );
      const startedCall = ctx.calls.start(key, purpose, payload, timeoutMs);
      this.waiting.set(item.requestId, startedCall.callId);
      answer = startedCall.answer;
    } catch (error) {
      this.answerError(item.requestId, error);
      return;
    }
    answer.then(
      (answered) => {
        this.waiting.delete(item.requestId);
        ctx.metrics?.observeClientRpcDuration(PATH, (performance.now() - started) / 1000);
        this.queue({
          requestId: item.requestId,
          code: status.OK,
          errorMessage: "",
          response: {
            payload: Buffer.from(
              answered.payload.buffer,
              answered.payload.byteOffset,
              answered.payload.byteLength,
            ),
            answeredBy: encodeNodeInfo(answered.answeredBy),
            hops: answered.hops,
          },
        });
      },
      (error: unknown) => {
        this.waiting.delete(item.requestId);
        ctx.metrics?.observeClientRpcDuration(PATH, (performance.now() - started) / 1000);
        this.answerError(item.requestId, error);
      },
    );
  }

  /** The item's own deadline, else the stream's (Infinity when neither is set). */
  private deadlineOf(item: CallStreamItem, receivedAt: number): number {
    const stream = this.call.getDeadline();
    const streamAt = stream instanceof Date ? stream.getTime() : stream;
    const itemAt = item.deadlineMs > 0 ? receivedAt + item.deadlineMs : Number.POSITIVE_INFINITY;
    return Math.min(itemAt, Number.isFinite(streamAt) ? streamAt : Number.POSITIVE_INFINITY);
  }

  private answerError(requestId: bigint, error: unknown): void {
    const e = toServiceError(error);
    this.queue({
      requestId,
      code: e.code ?? status.UNKNOWN,
      errorMessage: e.details ?? e.message,
      response: undefined,
    });
  }

  /** Results produced in one turn of the event loop leave in one stream message. */
  private queue(result: CallStreamResult): void {
    this.ctx.metrics?.clientRpcServed(CALL_PATH, result.code);
    if (!this.open) return;
    this.results.push(result);
    this.endOfTurn.schedule();
  }

  private flush(): void {
    if (!this.open || this.results.length === 0) return;
    const results = this.results;
    this.results = [];
    this.call.write({ results }, () => {
      this.outstanding -= results.length;
      this.endIfDone();
    });
  }

  /** After the client half-closed, the stream ends once every call it made has been answered. */
  private endIfDone(): void {
    if (!this.open || !this.clientDone || this.outstanding > 0) return;
    this.closed(status.OK);
    this.call.end();
  }

  fail(code: status, details: string): void {
    if (!this.open) return;
    this.closed(code);
    this.call.emit("error", { code, details, name: "CallStreamClosed", message: details });
  }

  /** The stream is over: calls still waiting are cancelled, as a cancelled unary Call is. */
  private closed(code: status): void {
    if (!this.open) return;
    this.open = false;
    this.results = [];
    for (const callId of this.waiting.values()) this.ctx.calls.abandon(callId);
    this.waiting.clear();
    this.ctx.metrics?.clientRpcServed(PATH, code);
    this.onClosed();
  }
}
