// A Receive subscription: the stream's start request, the node's ready answer, deliveries (one or a batch)
// each with its ack and reply, acks batched per turn of the event loop, and resumption after the node
// restarts (ResumingStream).
import type { ClientDuplexStream, Metadata } from "@grpc/grpc-js";
import type { NodeInfo } from "../routing/types.js";
import type {
  Delivery as WireDelivery,
  OverlayServiceClient,
  ReceiveReply,
  ReceiveRequest,
  ReceiveResponse,
} from "../gen/wendy/v1/overlay.js";
import { EndOfTurnFlush } from "../shared/end-of-turn.js";
import type { ReceivedDelivery, ReceiveOptions, ReceiveStream } from "./client-types.js";
import { fromWireNode, toBuffer } from "./convert.js";
import { toDelivery } from "./from-wire.js";
import { ResumingStream } from "./resuming-stream.js";

export interface ReceiveStreamDeps {
  readonly raw: OverlayServiceClient;
  readonly metadata: () => Metadata;
  readonly reconnectWindowMs: number;
  /** The unary Reply, for an answer the stream cannot carry. */
  readonly replyUnary: (callId: string, payload: Uint8Array | string) => Promise<void>;
}

/** Opens a Receive subscription for `purposes` (see WendyClient.receive). */
export function openReceiveStream(
  { raw, metadata, reconnectWindowMs, replyUnary }: ReceiveStreamDeps,
  purposes: readonly number[],
  options: ReceiveOptions,
): ReceiveStream {
  const start = {
    purposes: [...purposes],
    group: options.group ?? "",
    copyAll: options.copyAll === true,
    maxUnacknowledged: options.maxUnacknowledged ?? 0,
    batchDeliveries: true,
  };
  let live: Stream | undefined;
  let repliesOn: Stream | undefined;
  /** Whether the node takes several answers in one request (ready says so). */
  let batchReplies = false;
  const acks = new TurnBatcher<string>(writeAcks);
  const replies = new TurnBatcher<ReceiveReply>((via, batch) => writeReplies(via, batch, replyUnary));
  let markReady: (node: NodeInfo) => void = () => undefined;
  let failReady: (error: Error) => void = () => undefined;
  const ready = new Promise<NodeInfo>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined); // A caller who never looks at `ready` sees the failure on iteration.
  const stream = new ResumingStream<ReceiveResponse, ReceivedDelivery>(
    () => {
      const call = raw.receive(metadata());
      call.write({ kind: { $case: "start", start } });
      live = call;
      return call;
    },
    (response) => {
      const kind = response.kind;
      if (kind?.$case === "ready") {
        // Replies go on the stream only to a node that takes them there (ready says so).
        repliesOn = kind.ready.acceptsReplies ? live : undefined;
        batchReplies = kind.ready.acceptsReplyBatches;
        markReady(fromWireNode(kind.ready.node, "ready.node"));
        return [];
      }
      const via = live;
      const replyVia = repliesOn;
      const replyBatches = batchReplies;
      const received = (d: WireDelivery): ReceivedDelivery => ({
        ...toDelivery(d),
        attempt: d.attempt,
        ack: () => {
          if (via !== undefined) acks.add(via, d.messageId);
        },
        reply: (payload) => {
          if (d.callId === "") throw new Error("this delivery carries no call to answer");
          if (replyVia?.writable === true) {
            const reply = { callId: d.callId, payload: toBuffer(payload) };
            if (replyBatches) replies.add(replyVia, reply);
            else replyVia.write({ kind: { $case: "reply", reply } });
            return;
          }
          replyUnary(d.callId, payload).catch(() => undefined);
        },
      });
      if (kind?.$case === "deliveries") return kind.deliveries.deliveries.map(received);
      if (kind?.$case === "delivery") return [received(kind.delivery)];
      throw new Error("the node sent a Receive response of an unknown kind");
    },
    { reconnectWindowMs, onFailure: (error) => failReady(error) },
  );
  const close = stream.close.bind(stream);
  stream.close = () => {
    failReady(new Error("the subscription was closed before it was live"));
    close();
  };
  return Object.assign(stream, { ready });
}

type Stream = ClientDuplexStream<ReceiveRequest, ReceiveResponse>;

/** Acknowledgements or answers made in one turn of the event loop leave together, per stream. */
class TurnBatcher<T> {
  private readonly waiting = new Map<Stream, T[]>();
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());

  /** `write` sends one stream's items of a turn (in as few requests as the node's bounds allow). */
  constructor(private readonly write: (via: Stream, items: readonly T[]) => void) {}

  add(via: Stream, item: T): void {
    const items = this.waiting.get(via);
    if (items === undefined) this.waiting.set(via, [item]);
    else items.push(item);
    this.endOfTurn.schedule();
  }

  private flush(): void {
    for (const [via, items] of this.waiting) this.write(via, items);
    this.waiting.clear();
  }
}

function writeAcks(via: Stream, ids: readonly string[]): void {
  // A stream that has ended takes no acks: its deliveries come again on the next one.
  if (!via.writable) return;
  for (let i = 0; i < ids.length; i += MAX_ACKS_PER_REQUEST) {
    via.write({ kind: { $case: "ack", ack: { messageIds: ids.slice(i, i + MAX_ACKS_PER_REQUEST) } } });
  }
}

/**
 * Answers of one turn in ReceiveRequest.replies: at most MAX_REPLIES_PER_REQUEST per request, and payloads
 * of at most BATCH_PAYLOAD_BYTES beyond the first, so a request stays within the node's message limit. A
 * stream that ended meanwhile cannot carry them: they go as unary Replies.
 */
function writeReplies(
  via: Stream,
  replies: readonly ReceiveReply[],
  replyUnary: ReceiveStreamDeps["replyUnary"],
): void {
  if (!via.writable) {
    for (const r of replies) replyUnary(r.callId, r.payload).catch(() => undefined);
    return;
  }
  let batch: ReceiveReply[] = [];
  let bytes = 0;
  const send = (): void => {
    if (batch.length === 1) via.write({ kind: { $case: "reply", reply: batch[0]! } });
    else if (batch.length > 1) via.write({ kind: { $case: "replies", replies: { replies: batch } } });
    batch = [];
    bytes = 0;
  };
  for (const reply of replies) {
    const size = reply.payload.byteLength;
    if (batch.length === MAX_REPLIES_PER_REQUEST || (batch.length > 0 && bytes + size > BATCH_PAYLOAD_BYTES))
      send();
    batch.push(reply);
    bytes += size;
  }
  send();
}

/** The node's bound on ids in one ack request. */
const MAX_ACKS_PER_REQUEST = 1024;
/** The node's bound on answers in one replies request. */
const MAX_REPLIES_PER_REQUEST = 1024;
/** Payload bytes of one replies request beyond its first answer: well inside the node's headroom. */
const BATCH_PAYLOAD_BYTES = 128 * 1024;
