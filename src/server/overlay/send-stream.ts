// SendStream: many sends on one long-lived stream, each answered by its own result. A unary Send costs an
// HTTP/2 stream opened and closed per message; here many sends and their results share stream messages.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  SendStreamRequest,
  type SendStreamItem,
  type SendStreamResponse,
  type SendStreamResult,
} from "../../gen/wendy/v1/overlay.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { SendResult } from "../cluster.js";
import type { OverlayContext } from "./context.js";
import { deadlineExceeded, invalidArgument, resourceExhausted, toServiceError } from "./rpc-error.js";
import { effectiveTimeoutMs, requireKey, requirePayload, requirePurpose } from "./validate.js";

const PATH = OverlayServiceService.sendStream.path;
/** Each send on the stream is counted like a unary Send with its own code, so dashboards see every send. */
const SEND_PATH = OverlayServiceService.send.path;

/** Every open SendStream of one service, so that closing the service (a node stopping) ends them. */
export class SendStreams {
  private readonly open = new Set<SendStreamSession>();

  constructor(private readonly ctx: OverlayContext) {}

  get count(): number {
    return this.open.size;
  }

  /** The gRPC handler; requests arrive as raw bytes (see decodeInHandlers) and are decoded here. */
  readonly handler = (call: ServerDuplexStream<Buffer, SendStreamResponse>): void => {
    const refused = this.ctx.token.refuse(call.metadata);
    if (refused !== undefined) {
      this.ctx.metrics?.clientRpcServed(PATH, refused.code ?? status.UNAUTHENTICATED);
      call.emit("error", refused);
      return;
    }
    const session = new SendStreamSession(this.ctx, call, () => this.open.delete(session));
    this.open.add(session);
    session.start();
  };

  /** Ends every stream: clients see UNAVAILABLE for sends still waiting and reopen on their next send. */
  closeAll(): void {
    for (const session of [...this.open]) session.fail(status.UNAVAILABLE, "the node is shutting down");
  }
}

/**
 * One open SendStream. `outstanding` counts sends received whose result has not yet been written out: it
 * bounds what a client can make the node hold, whether it sends too fast or stops reading results.
 */
class SendStreamSession {
  private outstanding = 0;
  private results: SendStreamResult[] = [];
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());
  private open = true;
  private clientDone = false;

  constructor(
    private readonly ctx: OverlayContext,
    private readonly call: ServerDuplexStream<Buffer, SendStreamResponse>,
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
    let request: SendStreamRequest;
    try {
      request = SendStreamRequest.decode(bytes);
    } catch (error) {
      // Without a readable request id nothing can be answered per send: the client is broken.
      this.fail(status.INVALID_ARGUMENT, `malformed SendStream request: ${(error as Error).message}`);
      return;
    }
    const receivedAt = Date.now();
    const limit = this.ctx.limits.maxSendStreamInFlight;
    for (const item of request.sends) {
      if (this.outstanding >= 2 * limit) {
        // Refusals pile up too: a client that neither slows down nor reads its results is cut off.
        this.fail(status.RESOURCE_EXHAUSTED, `${this.outstanding} results unread; the stream was dropped`);
        return;
      }
      this.outstanding++;
      if (this.outstanding > limit) {
        this.answerError(
          item.requestId,
          resourceExhausted(`more than ${limit} sends in flight on this stream; wait for results`),
        );
        continue;
      }
      this.startSend(item, receivedAt);
    }
  }

  private startSend(item: SendStreamItem, receivedAt: number): void {
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
      this.answerError(item.requestId, error);
      return;
    }
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

  /** The item's own deadline, else the stream's (Infinity when neither is set). */
  private deadlineOf(item: SendStreamItem, receivedAt: number): number {
    const stream = this.call.getDeadline();
    const streamAt = stream instanceof Date ? stream.getTime() : stream;
    const itemAt = item.deadlineMs > 0 ? receivedAt + item.deadlineMs : Number.POSITIVE_INFINITY;
    return Math.min(itemAt, Number.isFinite(streamAt) ? streamAt : Number.POSITIVE_INFINITY);
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
  private queue(result: SendStreamResult): void {
    this.ctx.metrics?.clientRpcServed(SEND_PATH, result.code);
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

  /** After the client half-closed, the stream ends once every send it made has been answered. */
  private endIfDone(): void {
    if (!this.open || !this.clientDone || this.outstanding > 0) return;
    this.closed(status.OK);
    this.call.end();
  }

  fail(code: status, details: string): void {
    if (!this.open) return;
    this.closed(code);
    this.call.emit("error", { code, details, name: "SendStreamClosed", message: details });
  }

  private closed(code: status): void {
    if (!this.open) return;
    this.open = false;
    this.results = [];
    this.ctx.metrics?.clientRpcServed(PATH, code);
    this.onClosed();
  }
}
