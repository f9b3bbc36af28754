// High-throughput forwarding: route hops to one peer travel in batches on one long-lived bidirectional
// stream instead of one unary call each. Every batch is signed on its own (session sequence number and MAC
// over the exact batch bytes), and acknowledged message by message, so per-hop acknowledgement and the
// replay/tamper protection of unary calls both still hold. This file is the caller's side (RouteStreamSender) and
// what both sides share; the callee's side is route-stream-server.ts.
import { randomBytes } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type { NodeInfo, RouteMessage } from "../../routing/types.js";
import {
  PeerServiceService,
  RouteBatch,
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
  decodeResponseAcks,
  encodeRouteBatch,
  type BatchedAck,
  type DirectMessage,
  type ReverseAcks,
} from "../../wire/codec.js";
import type { WireLimits } from "../../wire/limits.js";
import type { CallSigner } from "./call-auth.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { encodeToBuffer } from "../../wire/shared-writer.js";
import { PeerFailure, noConnection, wrongNode } from "./peer-failure.js";
import { HopTimeout } from "./hop-timeout.js";
import { asError } from "../../shared/as-error.js";
import type { CoalescedAnswers } from "./route-stream-server.js";

export const ROUTE_STREAM_PATH = PeerServiceService.routeStream.path;
/** Header naming a RouteStream's optional features, comma-separated (see the RouteStream rpc in peer.proto). */
export const METADATA_ROUTE_FEATURES = "wendy-route-features";
/** Request header: the opener's token for the stream, which reverse acknowledgements name. */
export const METADATA_ROUTE_STREAM = "wendy-route-stream";
/** Opener: its batches may be acknowledged in RouteBatch.reverse_acks on the answering node's own stream. */
export const FEATURE_REVERSE_ACKS = "reverse-acks";
/** Opener: end-to-end acknowledgements may come in RouteStreamResponse.acks, beside their hop's. */
export const FEATURE_RESPONSE_ACKS = "response-acks";
/** Server: it takes RouteBatch.direct. */
export const FEATURE_DIRECT = "direct";
/** Server: it takes RouteBatch.heartbeats. */
export const FEATURE_HEARTBEAT = "heartbeat";
export const EMPTY = new Uint8Array(0);
export const NO_MAC = Buffer.alloc(0);
const identity = (b: Buffer): Buffer => b;

/** How a hop's outcome is told: its error, or undefined and its round trip in ms. */
export type HopOutcome = (error: RouteHopError | undefined, rttMs: number) => void;

/** A promise of the round trip `start` reports to the HopOutcome it is given. */
function promised(start: (done: HopOutcome) => void): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    start((error, rttMs) => (error === undefined ? resolve(rttMs) : reject(error))),
  );
}

/** Tells `done` of `error` on a later microtask: an outcome is never told within the call that queued it. */
function later(done: HopOutcome, error: RouteHopError): void {
  queueMicrotask(() => done(error, 0));
}

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
  /**
   * Time a hop may wait for its acknowledgement, at least: the stream's measured round trips lengthen it up
   * to a few times this under load (HopTimeout).
   */
  readonly hopTimeoutMs: number;
  /** Where acknowledgements carried on the peer's own stream find this one (none: never asked for). */
  readonly links?: RouteStreamLinks;
  /** Hops per batch at most. */
  readonly maxBatch: number;
  /** Hops queued or unacknowledged on this stream at most; beyond: RESOURCE_EXHAUSTED at once. */
  readonly maxOutstanding: number;
  readonly now: () => number;
  /**
   * Takes the end-to-end acknowledgements that come beside their hop's acknowledgement
   * (RouteStreamResponse.acks), each from `from`, the node that hop went to. With it the stream names the
   * feature "response-acks"; without it the peer sends them in batches of its own.
   */
  readonly onResponseAck?: (from: NodeInfo, ack: BatchedAck) => void;
  /** Bounds of what the peer's acknowledgements may carry (RouteStreamResponse.acks). */
  readonly limits?: WireLimits;
}

/** A route hop, an end-to-end ack or a direct message on its way, until the peer acknowledges it. */
interface Hop {
  /** The id the peer acknowledges: the message id for a hop, "ack:" / "direct:" / "heartbeat:" + id otherwise. */
  readonly key: string;
  /** The node the hop is meant for (hex ID), when known: only its acknowledgement resolves the hop. */
  readonly meant?: string;
  /** That node, when known: the sender of an end-to-end acknowledgement that comes beside the hop's. */
  readonly to?: NodeInfo;
  readonly message?: RouteMessage;
  readonly ack?: BatchedAck;
  readonly direct?: DirectMessage;
  /** A heartbeat's id (RouteBatch.heartbeats). */
  readonly heartbeat?: string;
  readonly started: number;
  /** Monotonic ms after which it fails with DEADLINE_EXCEEDED. */
  readonly deadline: number;
  readonly done: HopOutcome;
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

/** Sweeps per hop timeout: a hop fails between its timeout and that plus an eighth of hopTimeoutMs. */
const SWEEPS_PER_TIMEOUT = 8;

/** Bytes of an encoded message as a Buffer, without copying them. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** How an acknowledged end-to-end ack is named in a RouteStreamResponse (never a message id). */
export const ackKey = (messageId: string): string => `ack:${messageId}`;
/** How an acknowledged direct message is named in a RouteStreamResponse. */
export const directKey = (id: string): string => `direct:${id}`;
/** How an acknowledged heartbeat is named in a RouteStreamResponse. */
export const heartbeatKey = (id: string): string => `heartbeat:${id}`;

/** RouteStreamResponse.mac's tag: field 3, length-delimited. */
const MAC_TAG = (3 << 3) | 2;

/**
 * The bytes of a RouteStreamResponse before its mac field, when the mac is its last field (the callee appends
 * it to the response it signed: CoalescedAnswers.take), else undefined. The MAC is then checked over exactly
 * the bytes it was made over, without encoding every acknowledged id again; every field read from the
 * response lies in those bytes.
 */
export function unsignedPrefix(bytes: Uint8Array, mac: Uint8Array): Uint8Array | undefined {
  const length = mac.byteLength;
  // A mac shorter than 128 bytes has a one-byte length.
  if (length === 0 || length > 127) return undefined;
  const start = bytes.byteLength - length - 2;
  if (start < 0 || bytes[start] !== MAC_TAG || bytes[start + 1] !== length) return undefined;
  const trailing = bytes.subarray(start + 2);
  for (let i = 0; i < length; i++) if (trailing[i] !== mac[i]) return undefined;
  return bytes.subarray(0, start);
}

/** The features a RouteStream header names. */
export function featuresOf(metadata: Metadata): Set<string> {
  const value = metadata.get(METADATA_ROUTE_FEATURES)[0];
  return new Set(typeof value === "string" ? value.split(",").map((f) => f.trim()) : []);
}

/**
 * This node's outgoing RouteStreams by the token each was opened with, so that acknowledgements arriving on
 * a peer's stream (RouteBatch.reverse_acks) find the stream they answer.
 */
export class RouteStreamLinks {
  private readonly byToken = new Map<string, RouteStreamSender>();
  /**
   * Hops held on incoming streams whose openers take end-to-end acknowledgements in responses, by message
   * id: the node they came from (hex ID, their origin) and the stream's acknowledgements.
   */
  private readonly awaitingAck = new Map<
    string,
    { readonly from: string; readonly answers: CoalescedAnswers }
  >();
  /** Reverse acknowledgements that found their stream (each then checked as that stream's response). */
  matched = 0;
  /** End-to-end acknowledgements that left beside their hop's, in a response (carryAck). */
  carried = 0;
  /** Held hops let go without their end-to-end acknowledgement because a copy came again (release). */
  released = 0;

  /** A hop from `from` (hex ID), held on the incoming stream of `answers` for its end-to-end acknowledgement. */
  holdForAck(messageId: string, from: string, answers: CoalescedAnswers): void {
    this.awaitingAck.set(messageId, { from, answers });
  }

  /** Held hops of `answers` acknowledged without their end-to-end acknowledgement: no longer waiting. */
  forgetHeld(messageIds: readonly string[], answers: CoalescedAnswers): void {
    if (this.awaitingAck.size === 0) return;
    for (const id of messageIds)
      if (this.awaitingAck.get(id)?.answers === answers) this.awaitingAck.delete(id);
  }

  /**
   * A copy of `messageId` came again, on any stream: its sender may have given up on the copy held here (a
   * timeout, a torn stream) and sent this one, whose acknowledgement then settles the only copy it still
   * waits for. An end-to-end acknowledgement carried later beside the held one would find no hop waiting at
   * the sender and be dropped there, so the held hop is acknowledged now, alone, and the end-to-end
   * acknowledgement goes in a batch of its own (carryAck finds nothing), which the sender takes as it comes.
   */
  release(messageId: string): void {
    if (this.awaitingAck.size === 0) return;
    const waiting = this.awaitingAck.get(messageId);
    if (waiting === undefined) return;
    this.awaitingAck.delete(messageId);
    waiting.answers.release(messageId);
    this.released++;
  }

  /**
   * Hands an end-to-end acknowledgement for node `to` (hex ID) to the incoming stream from `to` that holds
   * its hop, to leave in that hop's acknowledgement; false when none does (it goes in a batch then).
   */
  carryAck(to: string | undefined, ack: BatchedAck): boolean {
    const waiting = this.awaitingAck.get(ack.messageId);
    if (waiting === undefined || waiting.from !== to) return false;
    this.awaitingAck.delete(ack.messageId);
    if (!waiting.answers.carry(ack)) return false;
    this.carried++;
    return true;
  }

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
  /** The node the stream's session reaches, when its Hello named it: hops meant for another are not sent. */
  private peer: string | undefined;
  private readonly queue: Hop[] = [];
  private acks: Hop[] = [];
  private directs: Hop[] = [];
  private heartbeats: Hop[] = [];
  /** Ids of this stream's heartbeats so far. */
  private heartbeatsSent = 0;
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
  /** The time a hop queued now may wait, from the round trips of the hops acknowledged so far. */
  private readonly timeout: HopTimeout;

  constructor(
    private readonly client: Client,
    private readonly address: string,
    private readonly options: RouteStreamOptions,
  ) {
    this.timeout = new HopTimeout(options.hopTimeoutMs);
  }

  /**
   * Queues one hop; resolves with the round-trip time once the peer acknowledged it. `attempt`: how many
   * sends of it to this peer failed before (its wait backs off: HopTimeout.forAttempt).
   */
  send(sender: NodeInfo, message: RouteMessage, meant?: string, attempt?: number): Promise<number> {
    return promised((done) => this.queueHop(sender, message, meant, done, undefined, attempt));
  }

  /**
   * As send, its outcome told to `done` (never within this call): no promise per hop. `to`, the node meant,
   * is who an end-to-end acknowledgement coming beside the hop's is from (onResponseAck); `attempt`, as send.
   */
  queueHop(
    sender: NodeInfo,
    message: RouteMessage,
    meant: string | undefined,
    done: HopOutcome,
    to?: NodeInfo,
    attempt?: number,
  ): void {
    const refused = this.refusal(this.queue.length, "route hops outstanding");
    if (refused !== undefined) return later(done, refused);
    this.queue.push(this.pending(message.id, done, { message, meant, to }, attempt));
    this.scheduleFlush(sender);
  }

  /**
   * Queues an end-to-end acknowledgement to ride on the next batch. The peer acknowledges it like a hop, so
   * one lost with a torn-down stream fails back to the core, which sends it again.
   */
  sendAck(sender: NodeInfo, ack: BatchedAck, meant?: string): Promise<number> {
    return promised((done) => this.queueAck(sender, ack, meant, done));
  }

  /** As sendAck, its outcome told to `done` (never within this call). */
  queueAck(sender: NodeInfo, ack: BatchedAck, meant: string | undefined, done: HopOutcome): void {
    const refused = this.refusal(this.acks.length, "acks queued");
    if (refused !== undefined) return later(done, refused);
    this.acks.push(this.pending(ackKey(ack.messageId), done, { ack, meant }));
    this.scheduleFlush(sender);
  }

  /** Why nothing more can be queued (closed, or `queued` and the unacknowledged at the limit), if so. */
  private refusal(queued: number, what: string): RouteHopError | undefined {
    if (this.closed) return new RouteHopError(status.CANCELLED, "route stream closed");
    if (queued + this.unacked.size >= this.options.maxOutstanding)
      return new RouteHopError(status.RESOURCE_EXHAUSTED, `too many ${what} to ${this.address}`);
    return undefined;
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
    return promised((done) => {
      const refused = this.refusal(this.directs.length, "direct messages queued");
      if (refused !== undefined) return later(done, refused);
      this.directs.push(this.pending(directKey(direct.id), done, { direct, meant }));
      this.scheduleFlush(sender);
    });
  }

  /** Whether the open stream's peer takes heartbeats (queueHeartbeat). */
  get takesHeartbeats(): boolean {
    return !this.closed && this.call !== undefined && this.peerFeatures.has(FEATURE_HEARTBEAT);
  }

  /**
   * Queues a heartbeat (RouteBatch.heartbeats), its outcome told to `done` (never within this call). Only
   * when takesHeartbeats: a peer that does not know the field would leave it unacknowledged.
   */
  queueHeartbeat(sender: NodeInfo, meant: string | undefined, done: HopOutcome): void {
    const refused = this.refusal(this.heartbeats.length, "heartbeats queued");
    if (refused !== undefined) return later(done, refused);
    const id = String(++this.heartbeatsSent);
    this.heartbeats.push(this.pending(heartbeatKey(id), done, { heartbeat: id, meant }));
    this.scheduleFlush(sender);
  }

  /**
   * Opens the stream now if it is not open, so that what only goes on an open stream (heartbeats, direct
   * messages) can from the next time on; failures are left for the next batch to meet.
   */
  prepare(): void {
    if (this.closed || this.call !== undefined) return;
    this.ensureOpen().catch(() => undefined);
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
    done: HopOutcome,
    what: {
      readonly message?: RouteMessage;
      readonly ack?: BatchedAck;
      readonly direct?: DirectMessage;
      readonly heartbeat?: string;
      readonly meant?: string;
      readonly to?: NodeInfo;
    },
    attempt?: number,
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
      deadline: started + this.timeout.forAttempt(attempt),
      done,
      settled: false,
    };
  }

  /** Fails hops past their deadline; stops once nothing is waiting. */
  private sweep(): void {
    const now = this.options.now();
    for (const list of [this.queue, this.acks, this.directs, this.heartbeats, this.unacked.values()]) {
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
    return (
      this.queue.length > 0 || this.acks.length > 0 || this.directs.length > 0 || this.heartbeats.length > 0
    );
  }

  private async flush(): Promise<void> {
    const sender = this.self;
    if (sender === undefined || this.flushing) return;
    this.flushing = true;
    try {
      // No await while the stream is open and its session usable: the batch leaves within this turn.
      while (this.hasQueued() && !this.closed) {
        if (this.call === undefined) await this.ensureOpen();
        const call = this.call;
        if (call === undefined) return;
        const hops = this.sendable(this.queue.splice(0, this.batchLength()));
        const acks = this.sendable(this.acks.splice(0, this.options.maxBatch));
        const directs = this.sendable(this.directs.splice(0, this.options.maxBatch));
        const heartbeats = this.sendable(this.heartbeats.splice(0, this.options.maxBatch));
        if (hops.length === 0 && acks.length === 0 && directs.length === 0 && heartbeats.length === 0)
          continue;
        const messages = hops.flatMap((h) => (h.message === undefined ? [] : [h.message]));
        const batched = acks.flatMap((h) => (h.ack === undefined ? [] : [h.ack]));
        const direct = directs.flatMap((h) => (h.direct === undefined ? [] : [h.direct]));
        const reverseAcks = this.takeReverse();
        const batch = encodeToBuffer(
          RouteBatch,
          encodeRouteBatch(
            sender,
            messages,
            batched,
            direct,
            reverseAcks.map((t) => t.acks),
            heartbeats.flatMap((h) => (h.heartbeat === undefined ? [] : [h.heartbeat])),
          ),
        );
        const entries =
          this.options.signer.signNow(this.address, ROUTE_STREAM_PATH, batch) ??
          (await this.options.signer.sign(this.address, ROUTE_STREAM_PATH, batch));
        if (entries[METADATA_SESSION_ID] !== undefined && entries[METADATA_SESSION_ID] !== this.sessionId) {
          // The session changed under the stream (the peer restarted and we said Hello again): reopen. The
          // acknowledgements taken go back to their own streams, which write them alone (flush's end).
          this.queue.unshift(...hops);
          this.acks.unshift(...acks);
          this.directs.unshift(...directs);
          this.heartbeats.unshift(...heartbeats);
          this.returnReverse(reverseAcks);
          this.teardown(status.UNAVAILABLE, "session changed", false);
          continue;
        }
        for (const hop of [...hops, ...acks, ...directs, ...heartbeats]) this.unacked.add(hop);
        call.write(
          encodeToBuffer(RouteStreamRequest, {
            batch,
            seq: BigInt(entries[METADATA_SEQ] ?? "0"),
            mac: Buffer.from(entries[METADATA_MAC] ?? "", "base64"),
          }),
        );
      }
    } catch (error) {
      const code = error instanceof RouteHopError ? error.code : status.UNAVAILABLE;
      this.teardown(code, asError(error).message);
    } finally {
      this.flushing = false;
      // Acknowledgements handed over after the last batch left (or when none could) go alone, now; held
      // ones keep waiting for an answer (or their hold's end).
      for (const answers of this.reverse) answers.flushPending();
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
    const features = [
      ...(links === undefined ? [] : [FEATURE_REVERSE_ACKS]),
      ...(this.options.onResponseAck === undefined ? [] : [FEATURE_RESPONSE_ACKS]),
    ];
    if (features.length > 0) metadata.set(METADATA_ROUTE_FEATURES, features.join(","));
    if (links !== undefined) {
      metadata.set(METADATA_ROUTE_STREAM, token);
      links.register(token, this);
    }
    const call = this.client.makeBidiStreamRequest(ROUTE_STREAM_PATH, identity, identity, metadata);
    this.sessionId = entries[METADATA_SESSION_ID];
    this.peer = this.options.signer.peerOf(entries);
    this.call = call;
    this.token = token;
    this.peerFeatures = new Set();
    call.on("metadata", (headers: Metadata) => {
      if (this.call === call) this.peerFeatures = featuresOf(headers);
    });
    // The stream's connection, and so its certificate, is fixed: read once (grpc-js builds it on each ask).
    let authContext: { readonly certificate: PeerCertificate | undefined } | undefined;
    call.on("data", (bytes: Buffer) => {
      authContext ??= { certificate: call.getAuthContext()?.sslPeerCertificate };
      this.onAcks(bytes, authContext.certificate);
    });
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
    const unsigned =
      unsignedPrefix(bytes, response.mac) ??
      encodeToBuffer(RouteStreamResponse, { ...response, mac: NO_MAC });
    const sent = { [METADATA_SESSION_ID]: this.sessionId ?? "", [METADATA_SEQ]: "0" };
    if (!this.options.signer.checkAnswer(sent, ROUTE_STREAM_PATH, unsigned, response.mac)) {
      // Not from the peer the session was opened with: none of it acknowledges anything.
      this.options.onAnswerRefused?.("bad-answer-mac");
      this.teardown(status.UNAUTHENTICATED, `${this.address} sent acknowledgements without a valid MAC`);
      return;
    }
    const onResponseAck = this.options.onResponseAck;
    let endToEnd: BatchedAck[] = [];
    if (onResponseAck !== undefined && response.acks.length > 0) {
      try {
        endToEnd = decodeResponseAcks(response.acks, response.acceptedIds.length, this.options.limits);
      } catch (error) {
        this.teardown(
          status.INTERNAL,
          `${this.address} sent a malformed acknowledgement: ${asError(error).message}`,
        );
        return;
      }
    }
    /** Hops acknowledged by this response, by id, when end-to-end acknowledgements came beside theirs. */
    const acknowledged = endToEnd.length > 0 ? new Map<string, Hop>() : undefined;
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
      this.timeout.sample(now - hop.started);
      hop.done(undefined, now - hop.started);
      acknowledged?.set(id, hop);
    }
    // Each end-to-end acknowledgement counts only beside its own hop's, from the node that hop went to.
    for (const ack of endToEnd) {
      const to = acknowledged?.get(ack.messageId)?.to;
      if (to !== undefined) onResponseAck?.(to, ack);
    }
    for (const r of response.rejected) {
      const hop = this.unacked.take(r.messageId);
      const code = r.code === 0 ? status.INVALID_ARGUMENT : (r.code as status);
      if (hop !== undefined) this.fail(hop, code, r.reason, true);
    }
    // Nothing left to time out: no sweep wakes the process until the next hop (an idle link's heartbeat).
    if (!this.hasQueued() && this.unacked.size === 0) this.stopSweeping();
  }

  /**
   * The hops of `taken` still to send: not settled, and meant for the node this stream's session reaches (or
   * for whoever answers). One meant for another node fails at once, unsent, as surely never arrived
   * (WrongNodeError's reasons): it is routed around that node.
   */
  private sendable(taken: Hop[]): Hop[] {
    const peer = this.peer;
    return taken.filter((hop) => {
      if (hop.settled) return false;
      if (peer === undefined || hop.meant === undefined || hop.meant === peer) return true;
      // Refused before it left, so surely never arrived: the one RouteHopError reason that is also true.
      this.fail(hop, status.UNAVAILABLE, wrongNode(this.address, hop.meant, peer), true);
      return false;
    });
  }

  private fail(hop: Hop, code: status, reason: string, refusedByPeer = false): void {
    if (hop.settled) return;
    hop.settled = true;
    this.unacked.remove(hop);
    hop.done(new RouteHopError(code, `route hop ${hop.key} to ${this.address}: ${reason}`, refusedByPeer), 0);
  }

  /** Ends the stream; unacknowledged hops fail (the core reroutes them); queued ones wait for the next. */
  private teardown(code: status, reason: string, failQueued = this.closed): void {
    const call = this.call;
    this.call = undefined;
    this.sessionId = undefined;
    this.peer = undefined;
    if (this.token !== undefined) this.options.links?.unregister(this.token, this);
    this.token = undefined;
    this.peerFeatures = new Set();
    if (call !== undefined) {
      call.removeAllListeners("data");
      call.on("error", () => undefined);
      call.cancel();
    }
    for (const hop of [...this.unacked.values()]) this.fail(hop, code, reason);
    // Direct messages and heartbeats were queued for a peer that said it takes them; whoever answers a
    // reopened stream has yet to say so, so they fail now (their sender routes or calls instead).
    for (const hop of [...this.directs.splice(0), ...this.heartbeats.splice(0)]) this.fail(hop, code, reason);
    if (failQueued)
      for (const hop of [...this.queue.splice(0), ...this.acks.splice(0)]) this.fail(hop, code, reason);
    if (this.closed) this.stopSweeping();
  }
}
