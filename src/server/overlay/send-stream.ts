// SendStream: many sends on one long-lived stream, each answered by its own result. A unary Send costs an
// HTTP/2 stream opened and closed per message; here many sends and their results share stream messages.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  SendStreamRequest,
  type SendResponse,
  type SendStreamItem,
  type SendStreamResponse,
} from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { SendResult } from "../cluster.js";
import type { OverlayContext } from "./context.js";
import { deadlineExceeded, invalidArgument, resourceExhausted } from "./rpc-error.js";
import { OpenStreams, StreamSession, type StreamKind } from "./stream-session.js";
import { effectiveTimeoutMs, requireKey, requirePayload, requirePurpose } from "./validate.js";
import { asError } from "../../shared/as-error.js";

const PATH = OverlayServiceService.sendStream.path;
const KIND: StreamKind = {
  path: PATH,
  itemPath: OverlayServiceService.send.path,
  closedName: "SendStreamClosed",
  items: "sends",
};

/** Every open SendStream of one service, so that closing the service (a node stopping) ends them. */
export class SendStreams extends OpenStreams<SendStreamResponse> {
  constructor(ctx: OverlayContext) {
    super(ctx, PATH, (call, onClosed) => new SendStreamSession(ctx, call, onClosed));
  }
}

/** One open SendStream (stream-session.ts bounds, batches and ends it). */
class SendStreamSession extends StreamSession<SendResponse> {
  constructor(
    ctx: OverlayContext,
    call: ServerDuplexStream<Buffer, SendStreamResponse>,
    onClosed: () => void,
  ) {
    super(ctx, call, KIND, onClosed);
  }

  protected onRequest(bytes: Buffer): void {
    if (!this.open) return;
    let request: SendStreamRequest;
    try {
      request = SendStreamRequest.decode(bytes);
    } catch (error) {
      // Without a readable request id nothing can be answered per send: the client is broken.
      this.fail(status.INVALID_ARGUMENT, `malformed SendStream request: ${asError(error).message}`);
      return;
    }
    const receivedAt = Date.now();
    for (const item of request.sends) {
      const admission = this.admit(item.requestId);
      if (admission === "dropped") return;
      if (admission === "refused") continue;
      // The payload is held until the send is answered: it counts against the client port's byte budget.
      const held = item.send?.payload.byteLength ?? 0;
      if (!this.ctx.queuedBytes.take(held)) {
        this.answerError(
          item.requestId,
          resourceExhausted(
            `the client port holds ${this.ctx.queuedBytes.bytes} bytes for its clients, its limit; send again later`,
          ),
        );
        continue;
      }
      this.startSend(item, receivedAt, () => this.ctx.queuedBytes.release(held));
    }
  }

  /** `done` runs once the send has an outcome (or never started): its payload is no longer held. */
  private startSend(item: SendStreamItem, receivedAt: number, done: () => void): void {
    const { ctx } = this;
    const started = performance.now();
    let sending: Promise<SendResult>;
    try {
      const request = item.send;
      if (request === undefined) throw invalidArgument("send: required");
      const key = requireKey(request.key, "send.key");
      const purpose = requirePurpose(request.purpose, ctx.limits, "send.purpose");
      const payload = requirePayload(request.payload, ctx.limits.maxPayloadBytes, "send.payload");
      const message = ctx.cluster.newMessage(purpose, key, payload);
      const deadline = this.deadlineOf(item, receivedAt);
      if (deadline <= Date.now()) throw deadlineExceeded("the send's deadline has already passed");
      if (!request.waitForAck) {
        sending = ctx.cluster.send(message);
      } else {
        const timeoutMs = effectiveTimeoutMs(request.timeoutMs, ctx.limits.defaultAckTimeoutMs, deadline);
        sending = ctx.cluster.send(message, { waitForAck: true, timeoutMs });
      }
    } catch (error) {
      done();
      this.answerError(item.requestId, error);
      return;
    }
    void sending.then(done, done);
    const waitForAck = item.send?.waitForAck === true;
    // Each send on the stream is timed under the stream's method, from its start to its result.
    const took = (): void =>
      ctx.metrics?.observeClientRpcDuration(PATH, (performance.now() - started) / 1000);
    sending.then(
      (sent) => {
        took();
        this.answer(item.requestId, sent, waitForAck);
      },
      (error: unknown) => {
        took();
        this.answerError(item.requestId, error);
      },
    );
  }

  private answer(requestId: bigint, sent: SendResult, waitForAck: boolean): void {
    this.queue({
      requestId,
      code: status.OK,
      errorMessage: "",
      response: {
        messageId: sent.messageId,
        deliveredBy:
          waitForAck && sent.deliveredBy !== undefined ? encodeNodeInfo(sent.deliveredBy) : undefined,
        hops: waitForAck ? (sent.hops ?? 0) : 0,
      },
    });
  }
}
