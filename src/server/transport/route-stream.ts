// High-throughput forwarding: route hops to one peer travel in batches on one long-lived bidirectional
// stream instead of one unary call each. Every batch is signed on its own (session sequence number and MAC
// over the exact batch bytes), and acknowledged message by message, so per-hop acknowledgement and the
// replay/tamper protection of unary calls both still hold.
import { randomBytes } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import {
  Metadata,
  status,
  type Client,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type ServiceError,
} from "@grpc/grpc-js";
import type { NodeInfo, RouteMessage } from "../../routing/types.js";
import {
  PeerServiceService,
  RouteBatch,
  RouteRejection,
  RouteStreamRequest,
  RouteStreamResponse,
} from "../../gen/wendy/v1/peer.js";
import {
  METADATA_AUTH_FAILURE,
  METADATA_MAC,
  METADATA_SEQ,
  METADATA_SESSION_ID,
} from "../auth/session-protocol.js";
import { writeAuthEntries } from "../auth/metadata.js";
import type { AuthFailureReason } from "../auth/failures.js";
import type { PeerChannelSecurity } from "../auth/tls.js";
import {
  MAX_STREAM_TOKEN_LENGTH,
  decodeRouteBatch,
  encodeRouteBatch,
  type BatchedAck,
  type DirectMessage,
  type ReverseAcks,
} from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import type { WireLimits } from "../../wire/limits.js";
import type { CallSigner, CallVerifier } from "./call-auth.js";
import type { PeerServerHooks, SenderCheck } from "./peer-service-hooks.js";
import { WendyError } from "../errors.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { PeerFailure, noConnection } from "./peer-failure.js";
import { asError } from "../../shared/as-error.js";

export const ROUTE_STREAM_PATH = PeerServiceService.routeStream.path;
/** Header naming a RouteStream's optional features, comma-separated (see the RouteStream rpc in peer.proto). */
export const METADATA_ROUTE_FEATURES = "wendy-route-features";
/** Request header: the opener's token for the stream, which reverse acknowledgements name. */
export const METADATA_ROUTE_STREAM = "wendy-route-stream";
/** Opener: its batches may be acknowledged in RouteBatch.reverse_acks on the answering node's own stream. */
export const FEATURE_REVERSE_ACKS = "reverse-acks";
/** Server: it takes RouteBatch.direct. */
export const FEATURE_DIRECT = "direct";
const EMPTY = new Uint8Array(0);
const NO_MAC = Buffer.alloc(0);
const identity = (b: Buffer): Buffer => b;

/** A hop that could not be handed over; `code` says why (as a unary call would). */
export class RouteHopError extends PeerFailure {
  override readonly name = "RouteHopError";
  constructor(
    code: status,
    message: string,
    /** The peer answered that it refused this very hop (it took nothing of it). */
    readonly refusedByPeer = false,
  ) {
    super(code, message, (refusedByPeer && code === status.UNAVAILABLE) || noConnection(code, message));
  }
}

export interface RouteStreamOptions {
  readonly signer: CallSigner;
  /**
   * Per-node identities (PeerChannelSecurity.checkAnswer): an acknowledgement resolves a hop only when the
   * stream's certificate names the node the hop was meant for; otherwise the hop fails (and is rerouted).
   */
  readonly checkAnswer?: PeerChannelSecurity["checkAnswer"];
  /** An acknowledgement refused by checkAnswer, for the authentication-failure count. */
  readonly onAnswerRefused?: (reason: AuthFailureReason) => void;
  /** Time a hop may wait for its acknowledgement. */
  readonly hopTimeoutMs: number;
  /** Where acknowledgements carried on the peer's own stream find this one (none: never asked for). */
  readonly links?: RouteStreamLinks;
  /** Hops per batch at most. */
  readonly maxBatch: number;
  /** Hops queued or unacknowledged on this stream at most; beyond: RESOURCE_EXHAUSTED at once. */
  readonly maxOutstanding: number;
  readonly now: () => number;
}

/** A route hop, an end-to-end ack or a direct message on its way, until the peer acknowledges it. */
interface Hop {
  /** The id the peer acknowledges: the message id for a hop, "ack:" / "direct:" + id for the others. */
  readonly key: string;
  /** The node the hop is meant for (hex ID), when known: only its acknowledgement resolves the hop. */
  readonly meant?: string;
  readonly message?: RouteMessage;
  readonly ack?: BatchedAck;
  readonly direct?: DirectMessage;
  readonly started: number;
  /** Monotonic ms after which it fails with DEADLINE_EXCEEDED. */
  readonly deadline: number;
  readonly resolve: (rttMs: number) => void;
  readonly reject: (error: RouteHopError) => void;
  /** Acknowledged or failed: skipped wherever it still sits. */
  settled: boolean;
}

/**
 * Hops written and not yet answered, by the id the peer answers with. One id can be outstanding twice on a
 * stream: after a pause, timed-out senders send copies of a message this node already delivered, and it
 * acknowledges each copy end to end. The peer answers every copy, in the order written, so each answer
 * settles the oldest copy: a second copy must not hide the first, whose promise would then never settle
 * (and a graceful stop, which waits for it, would run out its grace).
 */
class UnackedHops {
  private readonly byKey = new Map<string, Hop[]>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(hop: Hop): void {
    const copies = this.byKey.get(hop.key);
    if (copies === undefined) this.byKey.set(hop.key, [hop]);
    else copies.push(hop);
    this.count++;
  }

  /** Removes and returns the oldest copy outstanding under `key`. */
  take(key: string): Hop | undefined {
    const copies = this.byKey.get(key);
    const hop = copies?.shift();
    if (hop === undefined) return undefined;
    if (copies?.length === 0) this.byKey.delete(key);
    this.count--;
    return hop;
  }

  remove(hop: Hop): void {
    const copies = this.byKey.get(hop.key);
    const at = copies?.indexOf(hop) ?? -1;
    if (copies === undefined || at < 0) return;
    copies.splice(at, 1);
    if (copies.length === 0) this.byKey.delete(hop.key);
    this.count--;
  }

  *values(): IterableIterator<Hop> {
    for (const copies of this.byKey.values()) yield* copies;
  }
}

/** Payload bytes of one batch beyond its first hop: a fraction of the headroom the gRPC limit leaves. */
const BATCH_PAYLOAD_BYTES = 128 * 1024;

/** Sweeps per hop timeout: a hop fails between hopTimeoutMs and 1.125 times it. */
const SWEEPS_PER_TIMEOUT = 8;

/** Bytes of an encoded message as a Buffer, without copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** How an acknowledged end-to-end ack is named in a RouteStreamResponse (never a message id). */
export const ackKey = (messageId: string): string => `ack:${messageId}`;
/** How an acknowledged direct message is named in a RouteStreamResponse. */
export const directKey = (id: string): string => `direct:${id}`;

/** The features a RouteStream header names. */
function featuresOf(metadata: Metadata): Set<string> {
  const value = metadata.get(METADATA_ROUTE_FEATURES)[0];
  return new Set(typeof value === "string" ? value.split(",").map((f) => f.trim()) : []);
}

/**
 * This node's outgoing RouteStreams by the token each was opened with, so that acknowledgements arriving on
 * a peer's stream (RouteBatch.reverse_acks) find the stream they answer.
 */
export class RouteStreamLinks {
  private readonly byToken = new Map<string, RouteStreamSender>();
  /** Reverse acknowledgements that found their stream (each then checked as that stream's response). */
  matched = 0;

  register(token: string, sender: RouteStreamSender): void {
    this.byToken.set(token, sender);
  }

  unregister(token: string, sender: RouteStreamSender): void {
    if (this.byToken.get(token) === sender) this.byToken.delete(token);
  }

  /** Reverse acknowledgements that came on a stream whose connection showed `certificate`. */
  reverseAcks(acks: ReverseAcks, certificate: PeerCertificate | undefined): void {
    const sender = this.byToken.get(acks.stream);
    if (sender === undefined) return;
    this.matched++;
    sender.takeReverseAcks(acks.stream, acks.response, certificate);
  }
}

/** Acknowledgements an incoming stream handed over, and that stream (should they have to go alone). */
interface TakenAcks {
  readonly answers: CoalescedAnswers;
  readonly acks: ReverseAcks;
}

/** The caller's side of one peer's RouteStream. */
export class RouteStreamSender {
  private call: ClientDuplexStream<Buffer, Buffer> | undefined;
  private opening: Promise<void> | undefined;
  private sessionId: string | undefined;
  private readonly queue: Hop[] = [];
  private acks: Hop[] = [];
  private directs: Hop[] = [];
  private readonly unacked = new UnackedHops();
  /** The token the open stream was opened with (reverse acknowledgements name it). */
  private token: string | undefined;
  /** What the peer's server said it takes, from the open stream's response headers. */
  private peerFeatures = new Set<string>();
  /** Incoming streams from this peer whose acknowledgements may ride on this stream's batches. */
  private readonly reverse = new Set<CoalescedAnswers>();
  /** True while flush runs: acknowledgements handed over meanwhile leave with its batches or after them. */
  private flushing = false;
  /** Hops and acks queued in one turn of the event loop leave in one batch, sent as this node. */
  private readonly endOfTurn = new EndOfTurnFlush(() => void this.flush());
  private self: NodeInfo | undefined;
  private closed = false;
  /** One timer per stream rather than one per hop: hops are many, their timeouts rarely fire. */
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Client,
    private readonly address: string,
    private readonly options: RouteStreamOptions,
  ) {}

  /** Queues one hop; resolves with the round-trip time once the peer acknowledged it. */
  send(sender: NodeInfo, message: RouteMessage, meant?: string): Promise<number> {
    if (this.closed) return Promise.reject(new RouteHopError(status.CANCELLED, "route stream closed"));
    if (this.queue.length + this.unacked.size >= this.options.maxOutstanding) {
      return Promise.reject(
        new RouteHopError(status.RESOURCE_EXHAUSTED, `too many route hops outstanding to ${this.address}`),
      );
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push(this.pending(message.id, resolve, reject, { message, meant }));
      this.scheduleFlush(sender);
    });
  }

  /**
   * Queues an end-to-end acknowledgement to ride on the next batch. The peer acknowledges it like a hop, so
   * one lost with a torn-down stream fails back to the core, which sends it again.
   */
  sendAck(sender: NodeInfo, ack: BatchedAck, meant?: string): Promise<number> {
    if (this.closed) return Promise.reject(new RouteHopError(status.CANCELLED, "route stream closed"));
    if (this.acks.length + this.unacked.size >= this.options.maxOutstanding) {
      return Promise.reject(
        new RouteHopError(status.RESOURCE_EXHAUSTED, `too many acks queued to ${this.address}`),
      );
    }
    return new Promise<number>((resolve, reject) => {
      this.acks.push(this.pending(ackKey(ack.messageId), resolve, reject, { ack, meant }));
      this.scheduleFlush(sender);
    });
  }

  /** Whether the open stream's peer takes direct messages (sendDirect). */
  get takesDirect(): boolean {
    return !this.closed && this.call !== undefined && this.peerFeatures.has(FEATURE_DIRECT);
  }

  /**
   * Queues a message for the peer itself (RouteBatch.direct); resolves once the peer acknowledged it. Only
   * when takesDirect: a peer that does not know the field would leave it unacknowledged.
   */
  sendDirect(sender: NodeInfo, direct: DirectMessage, meant?: string): Promise<number> {
    if (this.closed) return Promise.reject(new RouteHopError(status.CANCELLED, "route stream closed"));
    if (this.directs.length + this.unacked.size >= this.options.maxOutstanding) {
      return Promise.reject(
        new RouteHopError(status.RESOURCE_EXHAUSTED, `too many direct messages queued to ${this.address}`),
      );
    }
    return new Promise<number>((resolve, reject) => {
      this.directs.push(this.pending(directKey(direct.id), resolve, reject, { direct, meant }));
      this.scheduleFlush(sender);
    });
  }

  /**
   * An incoming stream from this peer whose acknowledgements may ride on this stream's batches (its opener
   * said it takes them). They do only while a batch is on its way anyway (see takesReverseAcksSoon).
   */
  attachReverse(answers: CoalescedAnswers): void {
    this.reverse.add(answers);
  }

  detachReverse(answers: CoalescedAnswers): void {
    this.reverse.delete(answers);
  }

  /**
   * True when this stream will write a batch within this turn, or is writing one: acknowledgements handed
   * to it now leave in that batch, or alone right after it (flush's end), never later.
   */
  get takesReverseAcksSoon(): boolean {
    return !this.closed && this.call !== undefined && (this.flushing || this.endOfTurn.scheduled);
  }

  /**
   * A RouteStreamResponse for this stream that came inside a batch of the peer's (RouteBatch.reverse_acks),
   * on a connection that showed `certificate`: checked and applied as if it had come on this stream.
   */
  takeReverseAcks(token: string, response: Uint8Array, certificate: PeerCertificate | undefined): void {
    if (token !== this.token) return; // For a stream since torn down: its hops have failed already.
    this.onAcks(asBuffer(response), certificate);
  }

  private pending(
    key: string,
    resolve: (rttMs: number) => void,
    reject: (error: RouteHopError) => void,
    what: {
      readonly message?: RouteMessage;
      readonly ack?: BatchedAck;
      readonly direct?: DirectMessage;
      readonly meant?: string;
    },
  ): Hop {
    const started = this.options.now();
    this.sweeper ??= setInterval(
      () => this.sweep(),
      Math.max(1, this.options.hopTimeoutMs / SWEEPS_PER_TIMEOUT),
    );
    return {
      key,
      ...what,
      started,
      deadline: started + this.options.hopTimeoutMs,
      resolve,
      reject,
      settled: false,
    };
  }

  /** Fails hops past their deadline; stops once nothing is waiting. */
  private sweep(): void {
    const now = this.options.now();
    for (const list of [this.queue, this.acks, this.directs, this.unacked.values()]) {
      for (const hop of [...list]) {
        if (!hop.settled && hop.deadline <= now)
          this.fail(hop, status.DEADLINE_EXCEEDED, "no acknowledgement in time");
      }
    }
    if (!this.hasQueued() && this.unacked.size === 0) this.stopSweeping();
  }

  private stopSweeping(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  close(): void {
    this.closed = true;
    this.teardown(status.CANCELLED, "route stream closed");
  }

  private scheduleFlush(sender: NodeInfo): void {
    this.self = sender;
    this.endOfTurn.schedule();
  }

  private hasQueued(): boolean {
    return this.queue.length > 0 || this.acks.length > 0 || this.directs.length > 0;
  }

  private async flush(): Promise<void> {
    const sender = this.self;
    if (sender === undefined || this.flushing) return;
    this.flushing = true;
    try {
      while (this.hasQueued() && !this.closed) {
        await this.ensureOpen();
        const call = this.call;
        if (call === undefined) return;
        const hops = this.queue.splice(0, this.batchLength()).filter((h) => !h.settled);
        const acks = this.acks.splice(0, this.options.maxBatch).filter((h) => !h.settled);
        const directs = this.directs.splice(0, this.options.maxBatch).filter((h) => !h.settled);
        if (hops.length === 0 && acks.length === 0 && directs.length === 0) continue;
        const messages = hops.flatMap((h) => (h.message === undefined ? [] : [h.message]));
        const batched = acks.flatMap((h) => (h.ack === undefined ? [] : [h.ack]));
        const direct = directs.flatMap((h) => (h.direct === undefined ? [] : [h.direct]));
        const reverseAcks = this.takeReverse();
        const batch = asBuffer(
          RouteBatch.encode(
            encodeRouteBatch(
              sender,
              messages,
              batched,
              direct,
              reverseAcks.map((t) => t.acks),
            ),
          ).finish(),
        );
        const entries = await this.options.signer.sign(this.address, ROUTE_STREAM_PATH, batch);
        if (entries[METADATA_SESSION_ID] !== undefined && entries[METADATA_SESSION_ID] !== this.sessionId) {
          // The session changed under the stream (the peer restarted and we said Hello again): reopen. The
          // acknowledgements taken go back to their own streams, which write them alone (flush's end).
          this.queue.unshift(...hops);
          this.acks.unshift(...acks);
          this.directs.unshift(...directs);
          this.returnReverse(reverseAcks);
          this.teardown(status.UNAVAILABLE, "session changed", false);
          continue;
        }
        for (const hop of [...hops, ...acks, ...directs]) this.unacked.add(hop);
        const request = RouteStreamRequest.encode({
          batch,
          seq: BigInt(entries[METADATA_SEQ] ?? "0"),
          mac: Buffer.from(entries[METADATA_MAC] ?? "", "base64"),
        }).finish();
        call.write(asBuffer(request));
      }
    } catch (error) {
      const code = error instanceof RouteHopError ? error.code : status.UNAVAILABLE;
      this.teardown(code, asError(error).message);
    } finally {
      this.flushing = false;
      // Acknowledgements handed over after the last batch left (or when none could) go alone, now.
      for (const answers of this.reverse) answers.flush();
    }
  }

  /** The signed acknowledgements the attached incoming streams have waiting, to ride on the next batch. */
  private takeReverse(): TakenAcks[] {
    const taken: TakenAcks[] = [];
    for (const answers of this.reverse) {
      const acks = answers.takeForReverse();
      if (acks !== undefined) taken.push({ answers, acks });
    }
    return taken;
  }

  /** Acknowledgements taken for a batch that was not sent: each goes alone on its own stream. */
  private returnReverse(taken: readonly TakenAcks[]): void {
    for (const { answers, acks } of taken) answers.writeAlone(acks.response);
  }

  /**
   * Hops to take for the next batch: at most maxBatch, and payloads of at most BATCH_PAYLOAD_BYTES together
   * (but always one), so a batch stays within the gRPC message limit sized for one maximal payload.
   */
  private batchLength(): number {
    let bytes = 0;
    let n = 0;
    for (const hop of this.queue) {
      if (n === this.options.maxBatch) break;
      bytes += hop.message?.payload.byteLength ?? 0;
      if (n > 0 && bytes > BATCH_PAYLOAD_BYTES) break;
      n++;
    }
    return n;
  }

  private ensureOpen(): Promise<void> {
    if (this.call !== undefined) return Promise.resolve();
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<void> {
    const entries = await this.options.signer.sign(this.address, ROUTE_STREAM_PATH, EMPTY);
    const metadata = writeAuthEntries(entries);
    const links = this.options.links;
    const token = randomBytes(16).toString("hex");
    if (links !== undefined) {
      metadata.set(METADATA_ROUTE_FEATURES, FEATURE_REVERSE_ACKS);
      metadata.set(METADATA_ROUTE_STREAM, token);
      links.register(token, this);
    }
    const call = this.client.makeBidiStreamRequest(ROUTE_STREAM_PATH, identity, identity, metadata);
    this.sessionId = entries[METADATA_SESSION_ID];
    this.call = call;
    this.token = token;
    this.peerFeatures = new Set();
    call.on("metadata", (headers: Metadata) => {
      if (this.call === call) this.peerFeatures = featuresOf(headers);
    });
    call.on("data", (bytes: Buffer) => this.onAcks(bytes, call.getAuthContext()?.sslPeerCertificate));
    call.on("error", (error: ServiceError) => {
      const reason = String(error.metadata?.get(METADATA_AUTH_FAILURE)[0] ?? "");
      // A session the peer no longer knows (it restarted) is opened afresh on the next batch.
      if (reason !== "") this.options.signer.forget(this.address);
      if (this.call === call) this.teardown(error.code, `${this.address}: ${error.details}`);
    });
    call.on("end", () => {
      if (this.call === call) this.teardown(status.UNAVAILABLE, `${this.address} ended the route stream`);
    });
  }

  /** Acknowledgements of this stream's batches, from a connection that showed `certificate`. */
  private onAcks(bytes: Buffer, certificate: PeerCertificate | undefined): void {
    let response: RouteStreamResponse;
    try {
      response = RouteStreamResponse.decode(bytes);
    } catch {
      this.teardown(status.INTERNAL, `${this.address} sent a malformed acknowledgement`);
      return;
    }
    const unsigned = RouteStreamResponse.encode({ ...response, mac: NO_MAC }).finish();
    const sent = { [METADATA_SESSION_ID]: this.sessionId ?? "", [METADATA_SEQ]: "0" };
    if (!this.options.signer.checkAnswer(sent, ROUTE_STREAM_PATH, unsigned, response.mac)) {
      // Not from the peer the session was opened with: none of it acknowledges anything.
      this.options.onAnswerRefused?.("bad-answer-mac");
      this.teardown(status.UNAUTHENTICATED, `${this.address} sent acknowledgements without a valid MAC`);
      return;
    }
    const now = this.options.now();
    for (const id of response.acceptedIds) {
      const hop = this.unacked.take(id);
      if (hop === undefined) continue;
      const refused = this.options.checkAnswer?.(hop.meant, certificate);
      if (refused !== undefined) {
        this.options.onAnswerRefused?.(refused.reason);
        this.fail(hop, status[refused.code], refused.details);
        continue;
      }
      hop.settled = true;
      hop.resolve(now - hop.started);
    }
    for (const r of response.rejected) {
      const hop = this.unacked.take(r.messageId);
      const code = r.code === 0 ? status.INVALID_ARGUMENT : (r.code as status);
      if (hop !== undefined) this.fail(hop, code, r.reason, true);
    }
  }

  private fail(hop: Hop, code: status, reason: string, refusedByPeer = false): void {
    if (hop.settled) return;
    hop.settled = true;
    this.unacked.remove(hop);
    hop.reject(new RouteHopError(code, `route hop ${hop.key} to ${this.address}: ${reason}`, refusedByPeer));
  }

  /** Ends the stream; unacknowledged hops fail (the core reroutes them); queued ones wait for the next. */
  private teardown(code: status, reason: string, failQueued = this.closed): void {
    const call = this.call;
    this.call = undefined;
    this.sessionId = undefined;
    if (this.token !== undefined) this.options.links?.unregister(this.token, this);
    this.token = undefined;
    this.peerFeatures = new Set();
    if (call !== undefined) {
      call.removeAllListeners("data");
      call.on("error", () => undefined);
      call.cancel();
    }
    for (const hop of [...this.unacked.values()]) this.fail(hop, code, reason);
    // Direct messages were queued for a peer that said it takes them; whoever answers a reopened stream has
    // yet to say so, so they fail now (their sender routes them instead).
    for (const hop of this.directs.splice(0)) this.fail(hop, code, reason);
    if (failQueued)
      for (const hop of [...this.queue.splice(0), ...this.acks.splice(0)]) this.fail(hop, code, reason);
    if (this.closed) this.stopSweeping();
  }
}

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
  if (options.acceptDirect !== undefined) {
    const headers = new Metadata();
    headers.set(METADATA_ROUTE_FEATURES, FEATURE_DIRECT);
    call.sendMetadata(headers);
  }
  call.on("data", (bytes: Buffer) => {
    let request: RouteStreamRequest;
    try {
      request = RouteStreamRequest.decode(bytes);
    } catch (error) {
      return refuse(status.INVALID_ARGUMENT, `malformed RouteStream request: ${(error as Error).message}`);
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
        error instanceof WireFormatError ? error.message : `malformed batch: ${(error as Error).message}`;
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
class CoalescedAnswers {
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
