// CallStream: many calls on one long-lived stream, each answered by its own result. A unary Call costs an
// HTTP/2 stream opened and closed per call; here many calls and their answers share stream messages.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  CallStreamRequest,
  OverlayServiceService,
  type CallResponse,
  type CallStreamItem,
  type CallStreamResponse,
} from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { CallAnswer } from "./calls.js";
import type { OverlayContext } from "./context.js";
import { maxCallPayloadBytes } from "./limits.js";
import { invalidArgument } from "./rpc-error.js";
import { OpenStreams, StreamSession, type StreamKind } from "./stream-session.js";
import { effectiveTimeoutMs, requireKey, requirePayload, requirePurpose } from "./validate.js";
import { asError } from "../../shared/as-error.js";

const PATH = OverlayServiceService.callStream.path;
const KIND: StreamKind = {
  path: PATH,
  itemPath: OverlayServiceService.call.path,
  closedName: "CallStreamClosed",
  items: "calls",
};

/** Every open CallStream of one service, so that closing the service (a node stopping) ends them. */
export class CallStreams extends OpenStreams<CallStreamResponse> {
  constructor(ctx: OverlayContext) {
    super(ctx, PATH, (call, onClosed) => new CallStreamSession(ctx, call, onClosed));
  }
}

/** One open CallStream (stream-session.ts bounds, batches and ends it). */
class CallStreamSession extends StreamSession<CallResponse> {
  /** Calls waiting for their answer, by request id: cancelled with the stream. */
  private readonly waiting = new Map<bigint, string>();

  constructor(
    ctx: OverlayContext,
    call: ServerDuplexStream<Buffer, CallStreamResponse>,
    onClosed: () => void,
  ) {
    super(ctx, call, KIND, onClosed);
  }

  protected onRequest(bytes: Buffer): void {
    if (!this.open) return;
    let request: CallStreamRequest;
    try {
      request = CallStreamRequest.decode(bytes);
    } catch (error) {
      this.fail(status.INVALID_ARGUMENT, `malformed CallStream request: ${asError(error).message}`);
      return;
    }
    const receivedAt = Date.now();
    for (const item of request.calls) {
      const admission = this.admit(item.requestId);
      if (admission === "dropped") return;
      if (admission === "refused") continue;
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
    const { requestId } = item;
    const done = (): void => {
      this.waiting.delete(requestId);
      ctx.metrics?.observeClientRpcDuration(PATH, (performance.now() - started) / 1000);
    };
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
      // Told in the turn the answer comes (the origin's RouteStream batch): its result is queued there.
      const callId = ctx.calls.start(key, purpose, payload, timeoutMs, {
        resolve: (answered: CallAnswer) => {
          done();
          this.queueAnswer({
            requestId,
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
        reject: (error: Error) => {
          done();
          this.answerError(requestId, error);
        },
      });
      this.waiting.set(requestId, callId);
    } catch (error) {
      this.answerError(requestId, error);
    }
  }

  /** The stream is over: calls still waiting are cancelled, as a cancelled unary Call is. */
  protected override onEnd(): void {
    for (const callId of this.waiting.values()) this.ctx.calls.abandon(callId);
    this.waiting.clear();
  }
}
