// A Receive subscription: the stream's start request, the node's ready answer, deliveries (one or a batch)
// each with its ack and reply, acks batched per turn of the event loop, and resumption after the node
// restarts (ResumingStream).
import type { ClientDuplexStream, Metadata } from "@grpc/grpc-js";
import type { NodeInfo } from "../routing/types.js";
import type {
  Delivery as WireDelivery,
  OverlayServiceClient,
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
  let live: ClientDuplexStream<ReceiveRequest, ReceiveResponse> | undefined;
  let repliesOn: ClientDuplexStream<ReceiveRequest, ReceiveResponse> | undefined;
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
        markReady(fromWireNode(kind.ready.node, "ready.node"));
        return [];
      }
      const via = live;
      const replyVia = repliesOn;
      const received = (d: WireDelivery): ReceivedDelivery => ({
        ...toDelivery(d),
        attempt: d.attempt,
        ack: () => {
          if (via !== undefined) acks.add(via, d.messageId);
        },
        reply: (payload) => {
          if (d.callId === "") throw new Error("this delivery carries no call to answer");
          if (replyVia?.writable === true) {
            replyVia.write({
              kind: { $case: "reply", reply: { callId: d.callId, payload: toBuffer(payload) } },
            });
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
