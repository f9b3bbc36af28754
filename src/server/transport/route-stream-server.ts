// The callee's side of RouteStream (the caller's is route-stream.ts): verifies the stream, then each batch
// (session sequence number and MAC over the exact batch bytes), hands each hop to the node and acknowledges
// it, coalescing the acknowledgements of a turn into one response, or carrying them on this node's own
// stream back to the peer when it writes a batch in the same turn.
import { Metadata, status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { NodeInfo, RouteMessage } from "../../routing/types.js";
import {
  RouteBatch,
  RouteRejection,
  RouteStreamRequest,
  RouteStreamResponse,
} from "../../gen/wendy/v1/peer.js";
import { METADATA_AUTH_FAILURE, METADATA_SEQ, METADATA_SESSION_ID } from "../auth/session-protocol.js";
import {
  MAX_STREAM_TOKEN_LENGTH,
  decodeRouteBatch,
  type BatchedAck,
  type DirectMessage,
  type ReverseAcks,
} from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import type { WireLimits } from "../../wire/limits.js";
import type { CallVerifier } from "./call-auth.js";
import type { PeerServerHooks, SenderCheck } from "./peer-service-hooks.js";
import { WendyError } from "../errors.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import {
  ackKey,
  asBuffer,
  directKey,
  EMPTY,
  featuresOf,
  FEATURE_DIRECT,
  FEATURE_HEARTBEAT,
  FEATURE_REVERSE_ACKS,
  heartbeatKey,
  METADATA_ROUTE_FEATURES,
  METADATA_ROUTE_STREAM,
  NO_MAC,
  ROUTE_STREAM_PATH,
  type RouteStreamLinks,
  type RouteStreamSender,
} from "./route-stream.js";
import { asError } from "../../shared/as-error.js";

export interface RouteStreamServerOptions {
  readonly verifier: CallVerifier;
  /** Per-node identities: each batch's sender must be the node the stream's certificate names. */
  readonly checkSender?: SenderCheck;
  readonly limits: WireLimits;
  /** Accepts one hop; throws a WendyError to refuse it. */
  readonly accept: (sender: NodeInfo, message: RouteMessage) => void;
  /** Accepts one end-to-end acknowledgement. */
  readonly acceptAck: (sender: NodeInfo, ack: BatchedAck) => void;
  /** Accepts one direct message (RouteBatch.direct); absent: the feature is not offered to peers. */
  readonly acceptDirect?: (sender: NodeInfo, direct: DirectMessage) => void;
  /** Accepts one heartbeat (RouteBatch.heartbeats); absent: the feature is not offered to peers. */
  readonly acceptHeartbeat?: (sender: NodeInfo) => void;
  /**
   * This node's open RouteStream to `sender`, if any: acknowledgements for a stream from `sender` that takes
   * them ride on its batches (RouteBatch.reverse_acks) instead of going alone.
   */
  readonly reverseSender?: (sender: NodeInfo) => RouteStreamSender | undefined;
  /** Where reverse acknowledgements arriving in batches find the outgoing stream they answer. */
  readonly links?: RouteStreamLinks;
  readonly hooks?: PeerServerHooks;
}

/** The callee's side of every incoming RouteStream, so a stopping node can end them. */
export class RouteStreamReceivers {
  /** Each open stream with the acknowledgements it has yet to send. */
  private readonly open = new Map<ServerDuplexStream<Buffer, Buffer>, CoalescedAnswers>();

  constructor(private readonly options: RouteStreamServerOptions) {}

  /** The gRPC handler: verifies the stream, then each batch, and acknowledges each hop it accepted. */
  readonly handler = (call: ServerDuplexStream<Buffer, Buffer>): void => {
    const answers = new CoalescedAnswers(call);
    this.open.set(call, answers);
    const forget = (): void => {
      this.open.delete(call);
      answers.detach();
    };
    call.on("close", forget);
    call.on("finish", forget);
    call.on("cancelled", forget);
    serveRouteStream(call, answers, this.options);
  };

  get size(): number {
    return this.open.size;
  }

  /**
   * Ends every incoming stream. Peers keep their streams open for as long as they live, so a graceful
   * shutdown (which waits for open calls) would otherwise always run out its grace period.
   */
  endAll(): void {
    for (const [call, answers] of this.open) {
      // What was accepted is acknowledged first, so the peer does not route it again elsewhere.
      answers.flush();
      call.end();
    }
    this.open.clear();
  }
}

function serveRouteStream(
  call: ServerDuplexStream<Buffer, Buffer>,
  answers: CoalescedAnswers,
  options: RouteStreamServerOptions,
): void {
  const refuse = (code: status, details: string, metadata?: Metadata): void => {
    // Hops accepted before the refusal keep their acknowledgement: they were delivered or forwarded.
    answers.flush();
    options.hooks?.onServed?.(ROUTE_STREAM_PATH, code);
    call.emit("error", { code, details, metadata });
  };
  const opened = options.verifier.verify(ROUTE_STREAM_PATH, EMPTY, call.metadata);
  if (!opened.ok) {
    options.hooks?.onAuthFailure?.(opened.reason);
    const metadata = new Metadata();
    metadata.set(METADATA_AUTH_FAILURE, opened.reason);
    return refuse(status.UNAUTHENTICATED, `authentication failed: ${opened.reason}`, metadata);
  }
  const sessionId = String(call.metadata.get(METADATA_SESSION_ID)[0] ?? "");
  const streamAnswer = { [METADATA_SESSION_ID]: sessionId, [METADATA_SEQ]: "0" };
  answers.sign = (response) => options.verifier.answerMac(streamAnswer, ROUTE_STREAM_PATH, response);
  const token = call.metadata.get(METADATA_ROUTE_STREAM)[0];
  // The opener takes its acknowledgements on this node's own stream back: they may ride there.
  const reverseToken =
    options.reverseSender !== undefined &&
    featuresOf(call.metadata).has(FEATURE_REVERSE_ACKS) &&
    typeof token === "string" &&
    token !== "" &&
    token.length <= MAX_STREAM_TOKEN_LENGTH
      ? token
      : undefined;
  const features = [
    ...(options.acceptDirect === undefined ? [] : [FEATURE_DIRECT]),
    ...(options.acceptHeartbeat === undefined ? [] : [FEATURE_HEARTBEAT]),
  ];
  if (features.length > 0) {
    const headers = new Metadata();
    headers.set(METADATA_ROUTE_FEATURES, features.join(","));
    call.sendMetadata(headers);
  }
  // The connection's remote end, for the liveness signal its end is (InboundPeers).
  const remote = call.getPeer();
  call.on("data", (bytes: Buffer) => {
    let request: RouteStreamRequest;
    try {
      request = RouteStreamRequest.decode(bytes);
    } catch (error) {
      return refuse(status.INVALID_ARGUMENT, `malformed RouteStream request: ${asError(error).message}`);
    }
    const verdict = options.verifier.verifyBatch(
      ROUTE_STREAM_PATH,
      sessionId,
      request.seq,
      request.mac,
      request.batch,
    );
    if (!verdict.ok) {
      options.hooks?.onAuthFailure?.(verdict.reason);
      return refuse(status.UNAUTHENTICATED, `batch authentication failed: ${verdict.reason}`);
    }
    let decoded;
    try {
      decoded = decodeRouteBatch(RouteBatch.decode(request.batch), options.limits);
    } catch (error) {
      const details =
        error instanceof WireFormatError ? error.message : `malformed batch: ${asError(error).message}`;
      return refuse(status.INVALID_ARGUMENT, details);
    }
    const claim = options.checkSender?.(decoded.sender, call.getAuthContext().sslPeerCertificate);
    if (claim !== undefined) {
      options.verifier.failures.record(claim.reason);
      options.hooks?.onAuthFailure?.(claim.reason);
      const metadata = new Metadata();
      metadata.set(METADATA_AUTH_FAILURE, claim.reason);
      return refuse(status[claim.code], claim.details, metadata);
    }
    const certificate = call.getAuthContext().sslPeerCertificate;
    options.hooks?.onPeerCall?.(remote, decoded.sender);
    // Before this batch's own hops: acknowledgements for our stream to the sender, checked as that stream's.
    for (const acks of decoded.reverseAcks) options.links?.reverseAcks(acks, certificate);
    if (reverseToken !== undefined) answers.attach(reverseToken, options.reverseSender?.(decoded.sender));
    const acceptedIds: string[] = [];
    const rejected: RouteRejection[] = decoded.rejected.map((r) => ({
      ...r,
      code: status.INVALID_ARGUMENT,
    }));
    for (const message of decoded.messages) {
      try {
        options.accept(decoded.sender, message);
        acceptedIds.push(message.id);
      } catch (error) {
        rejected.push(rejection(message.id, error));
      }
    }
    for (const ack of decoded.acks) {
      try {
        options.acceptAck(decoded.sender, ack);
        acceptedIds.push(ackKey(ack.messageId));
      } catch (error) {
        rejected.push(rejection(ackKey(ack.messageId), error));
      }
    }
    for (const direct of decoded.direct) {
      try {
        if (options.acceptDirect === undefined)
          throw new WendyError("direct messages are not taken here", status.INVALID_ARGUMENT);
        options.acceptDirect(decoded.sender, direct);
        acceptedIds.push(directKey(direct.id));
      } catch (error) {
        rejected.push(rejection(directKey(direct.id), error));
      }
    }
    for (const id of decoded.heartbeats) {
      try {
        if (options.acceptHeartbeat === undefined)
          throw new WendyError("heartbeats are not taken here", status.INVALID_ARGUMENT);
        options.acceptHeartbeat(decoded.sender);
        acceptedIds.push(heartbeatKey(id));
      } catch (error) {
        rejected.push(rejection(heartbeatKey(id), error));
      }
    }
    options.hooks?.onServed?.(ROUTE_STREAM_PATH, status.OK);
    answers.add(acceptedIds, rejected);
  });
  call.on("end", () => {
    answers.flush();
    call.end();
  });
  call.on("error", () => undefined);
}

/** A refused hop or ack, with the status a unary call would have failed with (UNAVAILABLE: leaving). */
function rejection(messageId: string, error: unknown): RouteRejection {
  if (error instanceof WendyError) return { messageId, reason: error.message, code: error.code };
  return { messageId, reason: "internal error", code: status.INTERNAL };
}

/**
 * Acknowledgements of one incoming stream: those of the batches read in one turn of the event loop leave in
 * one response, at the end of that turn. When the stream's opener takes them on this node's own stream back
 * and that stream is writing a batch within this turn anyway, they ride in it (RouteBatch.reverse_acks)
 * instead of costing a stream message, a frame and a write of their own; otherwise they go alone, at the end
 * of the turn as before, so no acknowledgement waits for traffic that may not come. (Holding them longer on
 * a timer, 10 or 50 ms, measured no cheaper with bench/ab.ts at 8 nodes: a peer link there carries a hop
 * every ~70 ms, so little is merged, and the timer costs the node a wake-up of its own.)
 */
export class CoalescedAnswers {
  private acceptedIds: string[] = [];
  private rejected: RouteStreamResponse["rejected"] = [];
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flushAtEndOfTurn());
  /** The opener's token for this stream and this node's stream back to it, once both are known. */
  private reverse: { readonly token: string; readonly sender: RouteStreamSender } | undefined;
  /** The MAC over one response (its bytes without the mac), once the stream's session is known. */
  sign: (response: Uint8Array) => Uint8Array | undefined = () => undefined;

  constructor(private readonly call: ServerDuplexStream<Buffer, Buffer>) {}

  add(acceptedIds: readonly string[], rejected: RouteStreamResponse["rejected"]): void {
    for (const id of acceptedIds) this.acceptedIds.push(id);
    for (const r of rejected) this.rejected.push(r);
    this.endOfTurn.schedule();
  }

  /** Lets acknowledgements ride on `sender`'s batches (this node's open stream to the opener), if any. */
  attach(token: string, sender: RouteStreamSender | undefined): void {
    if (this.reverse?.sender === sender) return;
    this.detach();
    if (sender === undefined) return;
    this.reverse = { token, sender };
    sender.attachReverse(this);
  }

  detach(): void {
    this.reverse?.sender.detachReverse(this);
    this.reverse = undefined;
  }

  /** The pending acknowledgements, signed, for a batch of the stream back (and none left here). */
  takeForReverse(): ReverseAcks | undefined {
    const token = this.reverse?.token;
    const response = this.take();
    if (response === undefined || token === undefined) return undefined;
    return { stream: token, response };
  }

  /** Writes what is pending now (also called early: before the stream is refused or ended). */
  flush(): void {
    this.endOfTurn.cancel();
    const response = this.take();
    if (response !== undefined) this.writeAlone(response);
  }

  /** Writes one signed response on this stream. */
  writeAlone(response: Uint8Array): void {
    if (this.call.destroyed || this.call.writableEnded) return;
    this.call.write(asBuffer(response));
  }

  private flushAtEndOfTurn(): void {
    // The stream back writes a batch within this turn: it takes these along, or writes them alone after.
    if (this.reverse?.sender.takesReverseAcksSoon === true) return;
    this.flush();
  }

  /** The pending acknowledgements as one signed, serialized response; undefined when there are none. */
  private take(): Uint8Array | undefined {
    if (this.acceptedIds.length === 0 && this.rejected.length === 0) return undefined;
    const response = { acceptedIds: this.acceptedIds, rejected: this.rejected, mac: NO_MAC };
    this.acceptedIds = [];
    this.rejected = [];
    const unsigned = RouteStreamResponse.encode(response).finish();
    const mac = this.sign(unsigned);
    if (mac === undefined) return unsigned;
    // Encoded messages concatenated are one message with their fields merged (the protobuf rule): the mac
    // is appended rather than every acknowledged id encoded a second time.
    const macField = RouteStreamResponse.encode({ acceptedIds: [], rejected: [], mac: Buffer.from(mac) });
    return Buffer.concat([unsigned, macField.finish()]);
  }
}
