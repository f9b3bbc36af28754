// Receive: a subscriber's two-way stream. The client starts it with its purposes and group, the node
// answers `ready` once deliveries reach it, then sends deliveries and takes acknowledgements.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  ReceiveRequest,
  type Delivery,
  type ReceiveResponse,
  type ReceiveStart,
} from "../../gen/wendy/v1/overlay.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { BoundedStream } from "./bounded-stream.js";
import type { OverlayContext } from "./context.js";
import type { Subscriber } from "./deliveries.js";
import {
  DEFAULT_MAX_UNACKNOWLEDGED,
  MAX_GROUP_NAME_BYTES,
  MAX_UNACKNOWLEDGED,
  maxCallPayloadBytes,
} from "./limits.js";
import { invalidArgument, OverlayRpcError, resourceExhausted, toServiceError } from "./rpc-error.js";
import { requirePayload, requirePurposes } from "./validate.js";
import { asError } from "../../shared/as-error.js";

const PATH = OverlayServiceService.receive.path;
/** Message ids in one ack request, at most (a subscriber holds at most 1024 unacknowledged anyway). */
const MAX_ACKS_PER_REQUEST = 1024;
/** Answers in one replies request, at most (as acks: one per delivery a subscriber may hold). */
const MAX_REPLIES_PER_REQUEST = 1024;
/** Payload bytes of one delivery batch beyond its first delivery (the proto states this bound). */
const MAX_BATCH_PAYLOAD_BYTES = 1024 * 1024;

/** The gRPC handler; requests arrive as raw bytes (see decodeInHandlers) and are decoded here. */
export function receiveHandler(
  ctx: OverlayContext,
): (call: ServerDuplexStream<Buffer, ReceiveResponse>) => void {
  return (call) => {
    const refused = ctx.token.refuse(call.metadata) ?? ctx.remoteClientRefusal("Receive", call.getPeer());
    if (refused !== undefined) {
      ctx.metrics?.clientRpcServed(PATH, refused.code ?? status.UNAUTHENTICATED);
      call.emit("error", refused);
      return;
    }
    new ReceiveSession(ctx, call).start();
  };
}

class ReceiveSession {
  private stream: BoundedStream<ReceiveResponse> | undefined;
  private subscriber: Subscriber | undefined;
  private finished = false;

  constructor(
    private readonly ctx: OverlayContext,
    private readonly call: ServerDuplexStream<Buffer, ReceiveResponse>,
  ) {}

  start(): void {
    this.call.on("data", (bytes: Buffer) => this.onRequest(bytes));
    // A client that half-closes can acknowledge nothing more: its deliveries go to someone else.
    this.call.on("end", () => {
      if (this.stream !== undefined) this.stream.end();
      else if (!this.finished) {
        this.record(status.OK);
        this.call.end();
      }
    });
    this.call.on("cancelled", () => this.record(status.CANCELLED));
    this.call.on("error", () => this.record(status.CANCELLED));
  }

  private onRequest(bytes: Buffer): void {
    if (this.finished) return;
    try {
      const request = ReceiveRequest.decode(bytes);
      const kind = request.kind;
      if (kind?.$case === "start") {
        if (this.subscriber !== undefined) throw invalidArgument("start: sent twice on one Receive stream");
        this.open(kind.start);
      } else if (kind?.$case === "reply") {
        if (this.subscriber === undefined) throw invalidArgument("the first request must be a start");
        this.reply(kind.reply.callId, kind.reply.payload);
      } else if (kind?.$case === "replies") {
        if (this.subscriber === undefined) throw invalidArgument("the first request must be a start");
        const replies = kind.replies.replies;
        if (replies.length === 0 || replies.length > MAX_REPLIES_PER_REQUEST) {
          throw invalidArgument(
            `replies.replies: 1..${MAX_REPLIES_PER_REQUEST} answers, got ${replies.length}`,
          );
        }
        for (const r of replies) this.reply(r.callId, r.payload);
      } else if (kind?.$case === "ack") {
        if (this.subscriber === undefined) throw invalidArgument("the first request must be a start");
        const ids = kind.ack.messageIds;
        if (ids.length === 0 || ids.length > MAX_ACKS_PER_REQUEST) {
          throw invalidArgument(`ack.message_ids: 1..${MAX_ACKS_PER_REQUEST} ids, got ${ids.length}`);
        }
        for (const id of ids) this.ctx.deliveries.acknowledge(this.subscriber, id);
      } else {
        throw invalidArgument("request: neither start, ack, reply nor replies");
      }
    } catch (error) {
      const e =
        error instanceof OverlayRpcError
          ? error
          : invalidArgument(`malformed Receive request: ${asError(error).message}`);
      this.fail(e);
    }
  }

  private open(start: ReceiveStart): void {
    const { ctx } = this;
    const purposes = requirePurposes(start.purposes, ctx.limits, "start.purposes", false);
    if (Buffer.byteLength(start.group, "utf8") > MAX_GROUP_NAME_BYTES) {
      throw invalidArgument(`start.group: longer than ${MAX_GROUP_NAME_BYTES} bytes`);
    }
    if (start.copyAll && start.group !== "") {
      throw invalidArgument("start.group: must be empty with copy_all (a copy belongs to no group)");
    }
    if (start.maxUnacknowledged > MAX_UNACKNOWLEDGED) {
      throw invalidArgument(
        `start.max_unacknowledged: at most ${MAX_UNACKNOWLEDGED}, got ${start.maxUnacknowledged}`,
      );
    }
    if (ctx.deliveries.count >= ctx.limits.maxSubscribers) {
      throw resourceExhausted(`this node already has ${ctx.deliveries.count} subscribers`);
    }
    const stream = new BoundedStream<ReceiveResponse>(
      this.call,
      { ...ctx.limits, queuedBytes: ctx.queuedBytes },
      "subscriber",
      (code) => {
        if (this.subscriber !== undefined) ctx.deliveries.detach(this.subscriber);
        this.record(code);
      },
    );
    this.stream = stream;
    // Ready goes out before any delivery: the client may rely on the subscription from then on.
    stream.push(
      {
        kind: {
          $case: "ready",
          ready: {
            node: encodeNodeInfo(ctx.cluster.info()),
            acceptsReplies: true,
            acceptsReplyBatches: true,
          },
        },
      },
      0,
    );
    const maxUnacknowledged =
      start.maxUnacknowledged > 0 ? start.maxUnacknowledged : DEFAULT_MAX_UNACKNOWLEDGED;
    const batches = start.batchDeliveries ? new DeliveryBatcher(stream, maxUnacknowledged) : undefined;
    const subscriber: Subscriber = {
      purposes,
      kind: start.copyAll ? "copy" : "member",
      group: start.group,
      maxUnacknowledged,
      write:
        batches === undefined
          ? (delivery) => stream.push({ kind: { $case: "delivery", delivery } }, delivery.payload.byteLength)
          : (delivery) => batches.add(delivery),
      end: () => {
        batches?.flush();
        stream.end();
      },
    };
    this.subscriber = subscriber;
    ctx.deliveries.attach(subscriber);
  }

  /** An answer on the stream: as a unary Reply, but one for a call no longer waiting is ignored. */
  private reply(callId: string, payload: Uint8Array): void {
    if (callId === "") throw invalidArgument("reply.call_id: required (copy it from the delivery)");
    const answer = requirePayload(payload, maxCallPayloadBytes(this.ctx.limits), "reply.payload");
    this.ctx.calls.reply(callId, answer).catch(() => undefined);
  }

  private fail(error: OverlayRpcError): void {
    if (this.stream !== undefined) {
      this.stream.fail(error.code, error.message);
      return;
    }
    const e = toServiceError(error);
    this.record(e.code ?? status.UNKNOWN);
    this.call.emit("error", e);
  }

  private record(code: status): void {
    if (this.finished) return;
    this.finished = true;
    if (this.subscriber !== undefined) this.ctx.deliveries.detach(this.subscriber);
    this.ctx.metrics?.clientRpcServed(PATH, code);
  }
}

/**
 * Deliveries of one turn of the event loop, written as one DeliveryBatch at the end of that turn: a busy
 * subscriber reads many per stream message, an idle one gets each alone, a turn later at most. Each counts
 * against the stream's bounds as it is queued, exactly as an unbatched write would.
 */
class DeliveryBatcher {
  private pending: Delivery[] = [];
  private pendingBytes = 0;
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());

  constructor(
    private readonly stream: BoundedStream<ReceiveResponse>,
    private readonly maxPerBatch: number,
  ) {}

  add(delivery: Delivery): boolean {
    const bytes = delivery.payload.byteLength;
    if (!this.stream.admit(bytes)) return false;
    if (this.pending.length > 0 && this.pendingBytes + bytes > MAX_BATCH_PAYLOAD_BYTES) this.flush();
    this.pending.push(delivery);
    this.pendingBytes += bytes;
    if (this.pending.length >= this.maxPerBatch) this.flush();
    else this.endOfTurn.schedule();
    return true;
  }

  flush(): void {
    this.endOfTurn.cancel();
    if (this.pending.length === 0) return;
    const deliveries = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(
      { kind: { $case: "deliveries", deliveries: { deliveries } } },
      deliveries.length,
      bytes,
    );
  }
}
