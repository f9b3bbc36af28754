// The callee's side of RouteStream (the caller's is route-stream.ts): verifies the stream, then each batch
// (session sequence number and MAC over the exact batch bytes), hands each hop to the node and acknowledges
// it, coalescing the acknowledgements of a turn into one response, or carrying them on this node's own
// stream back to the peer when it writes a batch in the same turn.
import type { PeerCertificate } from "node:tls";
import { Metadata, status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { NodeInfo, RouteMessage } from "../../routing/types.js";
import {
  RouteBatch,
  type EndToEndAck,
  RouteRejection,
  RouteStreamRequest,
  RouteStreamResponse,
} from "../../gen/wendy/v1/peer.js";
import { METADATA_AUTH_FAILURE, METADATA_SEQ, METADATA_SESSION_ID } from "../auth/session-protocol.js";
import {
  MAX_STREAM_TOKEN_LENGTH,
  decodeRouteBatch,
  encodeAck,
  type BatchedAck,
  type DirectMessage,
  type ReverseAcks,
} from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import type { WireLimits } from "../../wire/limits.js";
import type { CallVerifier } from "./call-auth.js";
import { IncomingStreams } from "./incoming-streams.js";
import type { PeerServerHooks, SenderCheck } from "./peer-service-hooks.js";
import { WendyError } from "../errors.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { encodeToBuffer } from "../../wire/shared-writer.js";
import {
  ackKey,
  asBuffer,
  directKey,
  EMPTY,
  featuresOf,
  FEATURE_DIRECT,
  FEATURE_HEARTBEAT,
  FEATURE_RESPONSE_ACKS,
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
  /**
   * Accepts one hop; throws a WendyError to refuse it. Returns true when the node delivered it here and
   * will send `sender` a direct message in answer soon (a Call's answer): the hop's acknowledgement may then
   * wait, a little, to ride in that answer's batch (CoalescedAnswers.hold).
   */
  readonly accept: (sender: NodeInfo, message: RouteMessage) => boolean;
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
  private readonly streams = new IncomingStreams<CoalescedAnswers>();

  constructor(private readonly options: RouteStreamServerOptions) {}

  /** The gRPC handler: verifies the stream, then each batch, and acknowledges each hop it accepted. */
  readonly handler = (call: ServerDuplexStream<Buffer, Buffer>): void => {
    const answers = new CoalescedAnswers(call, this.options.links);
    this.streams.add(call, answers);
    serveRouteStream(call, answers, this.options);
  };

  get size(): number {
    return this.streams.size;
  }

  /** Ends every incoming stream, acknowledging first what was accepted (IncomingStreams). */
  endAll(): void {
    this.streams.endAll();
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
  const opener = featuresOf(call.metadata);
  // The opener takes end-to-end acknowledgements beside its hops': they need a batch of their own no more.
  answers.takesAcks = opener.has(FEATURE_RESPONSE_ACKS);
  // The opener takes its acknowledgements on this node's own stream back: they may ride there.
  const reverseToken =
    options.reverseSender !== undefined &&
    opener.has(FEATURE_REVERSE_ACKS) &&
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
  // A stream lives on one connection: its certificate, read once (grpc-js builds the context on each ask).
  let authContext: { readonly certificate: PeerCertificate | undefined } | undefined;
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
    authContext ??= { certificate: call.getAuthContext().sslPeerCertificate };
    const certificate = authContext.certificate;
    const claim = options.checkSender?.(decoded.sender, certificate);
    if (claim !== undefined) {
      options.verifier.failures.record(claim.reason);
      options.hooks?.onAuthFailure?.(claim.reason);
      const metadata = new Metadata();
      metadata.set(METADATA_AUTH_FAILURE, claim.reason);
      return refuse(status[claim.code], claim.details, metadata);
    }
    options.hooks?.onPeerCall?.(remote, decoded.sender);
    // Before this batch's own hops: acknowledgements for our stream to the sender, checked as that stream's.
    for (const acks of decoded.reverseAcks) options.links?.reverseAcks(acks, certificate);
    if (reverseToken !== undefined) answers.attach(reverseToken, options.reverseSender?.(decoded.sender));
    const acceptedIds: string[] = [];
    const held: string[] = [];
    /** Hops held for their end-to-end acknowledgement, to leave beside it (CoalescedAnswers.carry). */
    const awaitingAck: string[] = [];
    const rejected: RouteRejection[] = decoded.rejected.map((r) => ({
      ...r,
      code: status.INVALID_ARGUMENT,
    }));
    for (const message of decoded.messages) {
      // A copy held on a stream for its end-to-end acknowledgement is acknowledged now (see release).
      options.links?.release(message.id);
      try {
        const answered = options.accept(decoded.sender, message);
        if (answered && message.wantAck && answers.takesAcks) awaitingAck.push(message.id);
        else (answered && answers.canHold ? held : acceptedIds).push(message.id);
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
    answers.add(acceptedIds, rejected, held, awaitingAck);
    for (const id of awaitingAck) options.links?.holdForAck(id, decoded.sender.id.hex, answers);
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
 * How long the acknowledgement of a hop this node will answer (a Call's request, delivered here) may wait
 * for that answer's batch on the stream back: far below the sender's hop timeout (1 s at least), so a hop
 * whose answer is slow, or goes another way, is acknowledged alone a little later, never failed for it.
 */
export const ANSWER_HOLD_MS = 50;

/**
 * Acknowledgements of one incoming stream: those of the batches read in one turn of the event loop leave in
 * one response, at the end of that turn. When the stream's opener takes them on this node's own stream back
 * and that stream is writing a batch within this turn anyway, they ride in it (RouteBatch.reverse_acks)
 * instead of costing a stream message, a frame and a write of their own; otherwise they go alone, at the end
 * of the turn as before, so no acknowledgement waits for traffic that may not come. (Holding them longer on
 * a timer, 10 or 50 ms, measured no cheaper with bench/ab.ts at 8 nodes: a peer link there carries a hop
 * every ~70 ms, so little is merged, and the timer costs the node a wake-up of its own.) The exception is a
 * hop delivered here whose answer is known to come (held), at most ANSWER_HOLD_MS: a Call's answer on the
 * stream back, where the acknowledgement rides; or the end-to-end acknowledgement of a message whose
 * sender waits for it, which then rides in this stream's response beside the hop's (carry, when the opener
 * takes it there; else in the stream back's batch), so that neither needs a stream message of its own.
 */
export class CoalescedAnswers {
  private acceptedIds: string[] = [];
  private rejected: RouteStreamResponse["rejected"] = [];
  /** End-to-end acknowledgements beside their hops' in acceptedIds (RouteStreamResponse.acks). */
  private acks: EndToEndAck[] = [];
  /** The opener takes end-to-end acknowledgements in this stream's responses (feature response-acks). */
  takesAcks = false;
  /** Acknowledgements waiting for the answer's batch on the stream back (or for holdTimer). */
  private held: string[] = [];
  /** Acknowledgements waiting for their end-to-end acknowledgement (carry), or for holdTimer. */
  private awaiting: string[] = [];
  /** Lets go of held and awaiting acknowledgements; runs while there are any. */
  private holdTimer: NodeJS.Timeout | undefined;
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flushAtEndOfTurn());
  /** The opener's token for this stream and this node's stream back to it, once both are known. */
  private reverse: { readonly token: string; readonly sender: RouteStreamSender } | undefined;
  /** The MAC over one response (its bytes without the mac), once the stream's session is known. */
  sign: (response: Uint8Array) => Uint8Array | undefined = () => undefined;

  constructor(
    private readonly call: ServerDuplexStream<Buffer, Buffer>,
    /** Where held hops wait to be found by their end-to-end acknowledgement (holdForAck). */
    private readonly links?: RouteStreamLinks,
  ) {}

  /**
   * Acknowledgements to send: `held` ones wait for the stream back's next batch (see canHold), `awaiting`
   * ones for their end-to-end acknowledgement (carry, takesAcks), each at most ANSWER_HOLD_MS; the others
   * leave at the end of this turn.
   */
  add(
    acceptedIds: readonly string[],
    rejected: RouteStreamResponse["rejected"],
    held: readonly string[] = [],
    awaiting: readonly string[] = [],
  ): void {
    for (const id of acceptedIds) this.acceptedIds.push(id);
    for (const r of rejected) this.rejected.push(r);
    if (held.length > 0 || awaiting.length > 0) {
      for (const id of held) this.held.push(id);
      for (const id of awaiting) this.awaiting.push(id);
      this.holdTimer ??= setTimeout(() => {
        this.holdTimer = undefined;
        this.flush();
      }, ANSWER_HOLD_MS);
    }
    if (this.acceptedIds.length > 0 || this.rejected.length > 0) this.endOfTurn.schedule();
  }

  /**
   * The end-to-end acknowledgement of a held hop, to leave with the hop's acknowledgement in one response at
   * the end of this turn; false when that hop is held here no more (it was acknowledged alone meanwhile).
   */
  carry(ack: BatchedAck): boolean {
    const at = this.awaiting.indexOf(ack.messageId);
    if (at < 0) return false;
    this.awaiting.splice(at, 1);
    this.stopHoldingIfNone();
    this.acceptedIds.push(ack.messageId);
    this.acks.push(encodeAck(ack));
    this.endOfTurn.schedule();
    return true;
  }

  /**
   * Acknowledges a hop held for its end-to-end acknowledgement at the end of this turn, without it (a copy
   * came again: RouteStreamLinks.release); nothing when it is held here no more.
   */
  release(messageId: string): void {
    const at = this.awaiting.indexOf(messageId);
    if (at < 0) return;
    this.awaiting.splice(at, 1);
    this.stopHoldingIfNone();
    this.acceptedIds.push(messageId);
    this.endOfTurn.schedule();
  }

  /** Whether an acknowledgement may be held: only with a stream back for the answer to ride on. */
  get canHold(): boolean {
    return this.reverse !== undefined;
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
    // No stream back to wait for any more: what was held goes now.
    if (this.held.length > 0) this.flush();
  }

  /** The stream is over: nothing more is written on it (nor waits to be found by carryAck). */
  close(): void {
    this.detach();
    this.links?.forgetHeld(this.awaiting, this);
    this.awaiting = [];
    this.endOfTurn.cancel();
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  /**
   * Every acknowledgement waiting, held ones too, signed, for a batch of the stream back; those awaiting
   * their end-to-end acknowledgement stay (it will leave beside them, cheaper than alone in a batch).
   */
  takeForReverse(): ReverseAcks | undefined {
    const token = this.reverse?.token;
    if (token === undefined) return undefined;
    const response = this.take("held");
    if (response === undefined) return undefined;
    return { stream: token, response };
  }

  /** Writes everything waiting now, held ones too (before the stream is refused or ended; the hold ran out). */
  flush(): void {
    this.endOfTurn.cancel();
    const response = this.take("all");
    if (response !== undefined) this.writeAlone(response);
  }

  /** Writes what is not held (acknowledgements handed over after the stream back's batch left). */
  flushPending(): void {
    this.endOfTurn.cancel();
    const response = this.take("pending");
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
    this.flushPending();
  }

  private stopHoldingIfNone(): void {
    if (this.held.length > 0 || this.awaiting.length > 0) return;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  /**
   * The pending acknowledgements as one signed, serialized response (undefined when there are none); with
   * "held" the held ones too, with "all" those awaiting their end-to-end acknowledgement as well.
   */
  private take(which: "pending" | "held" | "all"): Uint8Array | undefined {
    let acceptedIds = this.acceptedIds;
    if (which !== "pending" && this.held.length > 0) {
      acceptedIds = [...acceptedIds, ...this.held];
      this.held = [];
    }
    if (which === "all" && this.awaiting.length > 0) {
      acceptedIds = [...acceptedIds, ...this.awaiting];
      this.links?.forgetHeld(this.awaiting, this);
      this.awaiting = [];
    }
    this.stopHoldingIfNone();
    if (acceptedIds.length === 0 && this.rejected.length === 0) return undefined;
    const response = { acceptedIds, rejected: this.rejected, mac: NO_MAC, acks: this.acks };
    this.acceptedIds = [];
    this.rejected = [];
    this.acks = [];
    const unsigned = encodeToBuffer(RouteStreamResponse, response);
    const mac = this.sign(unsigned);
    if (mac === undefined) return unsigned;
    // Encoded messages concatenated are one message with their fields merged (the protobuf rule): the mac
    // is appended rather than every acknowledged id encoded a second time.
    const macField = encodeToBuffer(RouteStreamResponse, {
      acceptedIds: [],
      rejected: [],
      mac: Buffer.from(mac),
      acks: [],
    });
    return Buffer.concat([unsigned, macField]);
  }
}
