// The caller's side of KvPeerService.KvStream (the callee's is peer-stream-server.ts): a node's Coordinate,
// Replicate and Fetch calls to one peer go on one long-lived stream, the calls made in one run of the event
// loop in one signed batch, instead of a unary call each with its HTTP/2 stream, headers, trailers and
// metadata. Each answer counts only as part of a response carrying the session's MAC over its bytes (and,
// under per-node identities, on a connection whose certificate names the node meant), as unary answers do.
import type { PeerCertificate } from "node:tls";
import { Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import {
  KvStreamBatch,
  KvStreamRequest,
  KvStreamResponse,
  type KvStreamAnswer,
  type KvStreamCall,
} from "../../gen/wendy/v1/kv_peer.js";
import {
  METADATA_AUTH_FAILURE,
  METADATA_MAC,
  METADATA_SEQ,
  METADATA_SESSION_ID,
  isSessionLost,
} from "../auth/session-protocol.js";
import { writeAuthEntries } from "../auth/metadata.js";
import type { AuthFailureReason } from "../auth/failures.js";
import type { PeerChannelSecurity } from "../auth/tls.js";
import type { CallSigner } from "../transport/call-auth.js";
import { noConnection, wrongNode } from "../transport/peer-failure.js";
import { METADATA_REFUSED } from "../errors.js";
import { asError } from "../../shared/as-error.js";
import { KV_STREAM_PATH, MAC_TAG } from "./peer-stream-server.js";
import { KvPeerError } from "./peer-error.js";
import { encodeToBuffer } from "../../wire/shared-writer.js";

const EMPTY = Buffer.alloc(0);
const identity = (b: Buffer): Buffer => b;

export type KvStreamRequestOf = NonNullable<KvStreamCall["request"]>;
export type KvStreamResultOf = NonNullable<KvStreamAnswer["result"]>;

/** The peer has no KvStream method (an older version): its calls go as unary calls instead. */
export class KvStreamUnsupportedError extends Error {
  override readonly name = "KvStreamUnsupportedError";
}

export interface KvStreamOptions {
  readonly signer: CallSigner;
  /** Per-node identities: whether an answer on this stream is from the node meant. */
  readonly checkAnswer?: PeerChannelSecurity["checkAnswer"];
  /** An answer refused (no valid MAC, or another node's certificate), for the authentication-failure count. */
  readonly onAnswerRefused?: (reason: AuthFailureReason) => void;
  /** Bytes of calls per batch at most (beyond one call, which always goes). */
  readonly maxBatchBytes: number;
  /** A fresh call id, never repeated by this node while it runs (see KvStreamCall.id). */
  readonly nextId: () => bigint;
}

interface PendingCall {
  readonly id: bigint;
  readonly request: KvStreamRequestOf;
  /** The node the call is meant for (hex ID): only its answer settles the call. */
  readonly meant: string;
  readonly resolve: (result: Exclude<KvStreamResultOf, { $case: "error" }>) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** Sent once more already, after a stream refused as a whole because the peer lost the session. */
  retried: boolean;
}

/** One peer's KvStream: opened on first use, opened again after it breaks. */
export class KvStreamSender {
  private call: ClientDuplexStream<Buffer, Buffer> | undefined;
  private opening: Promise<void> | undefined;
  private sessionId: string | undefined;
  /** The node the stream's session reaches, when its Hello named it: calls meant for another are not sent. */
  private sessionPeer: string | undefined;
  /** The open stream's connection certificate, read at its first answer (fixed for the connection). */
  private certificate: { readonly value: PeerCertificate | undefined } | undefined;
  private queue: PendingCall[] = [];
  /** Calls written on the open stream and not yet answered, by id. */
  private readonly written = new Map<bigint, PendingCall>();
  private flushScheduled = false;
  private closed = false;

  constructor(
    private readonly client: Client,
    private readonly address: string,
    private readonly options: KvStreamOptions,
  ) {}

  /**
   * Sends `request` to the peer; resolves with its answer, or fails with a KvPeerError as the unary call
   * would (KvStreamUnsupportedError when the peer has no KvStream: it never ran).
   */
  send(
    request: KvStreamRequestOf,
    meant: string,
    timeoutMs: number,
  ): Promise<Exclude<KvStreamResultOf, { $case: "error" }>> {
    if (this.closed)
      return Promise.reject(new KvPeerError("the node is stopping", status.UNAVAILABLE, undefined, true));
    return new Promise((resolve, reject) => {
      const id = this.options.nextId();
      const pending: PendingCall = {
        id,
        request,
        meant,
        resolve,
        reject,
        timer: setTimeout(() => {
          if (this.forget(pending))
            reject(
              new KvPeerError(`${KV_STREAM_PATH} to ${this.address} timed out`, status.DEADLINE_EXCEEDED),
            );
        }, timeoutMs),
        retried: false,
      };
      this.queue.push(pending);
      this.scheduleFlush();
    });
  }

  close(): void {
    this.closed = true;
    this.teardown(status.UNAVAILABLE, "the node is stopping", true);
  }

  /** Drops a call wherever it waits; false when it was settled already. */
  private forget(pending: PendingCall): boolean {
    if (this.written.delete(pending.id)) return true;
    const at = this.queue.indexOf(pending);
    if (at < 0) return false;
    this.queue.splice(at, 1);
    return true;
  }

  /** The calls made in this run of the event loop (up to its microtasks) leave together. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (this.call === undefined) await this.ensureOpen();
        const call = this.call;
        if (call === undefined) return;
        const calls = this.forThisPeer(this.takeBatch());
        if (calls.length === 0) continue;
        const batch = encodeToBuffer(KvStreamBatch, {
          calls: calls.map((c) => ({ id: c.id, request: c.request })),
        });
        const entries =
          this.options.signer.signNow(this.address, KV_STREAM_PATH, batch) ??
          (await this.options.signer.sign(this.address, KV_STREAM_PATH, batch));
        if (this.call !== call || entries[METADATA_SESSION_ID] !== this.sessionId) {
          // The stream or its session changed meanwhile (the peer restarted and we said Hello again): these
          // calls go on the next stream.
          this.queue.unshift(...calls);
          if (this.call === call) this.teardown(status.UNAVAILABLE, "session changed", false);
          continue;
        }
        for (const c of calls) this.written.set(c.id, c);
        call.write(
          encodeToBuffer(KvStreamRequest, {
            batch,
            seq: BigInt(entries[METADATA_SEQ] ?? "0"),
            mac: Buffer.from(entries[METADATA_MAC] ?? "", "base64"),
          }),
        );
      }
    } catch (error) {
      // The session's Hello failed (the peer is down or slow): the queued calls never reached it.
      const code = (error as { code?: unknown }).code;
      this.failQueued(
        new KvPeerError(
          `${KV_STREAM_PATH} to ${this.address}: ${asError(error).message}`,
          typeof code === "number" && code > 0 && code <= 16 ? (code as status) : status.UNAVAILABLE,
          undefined,
          true,
        ),
      );
    }
  }

  /** Calls for the next batch: up to maxBatchBytes of requests, and always one. */
  private takeBatch(): PendingCall[] {
    let bytes = 0;
    let n = 0;
    for (const c of this.queue) {
      bytes += requestBytes(c.request);
      if (n > 0 && bytes > this.options.maxBatchBytes) break;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private ensureOpen(): Promise<void> {
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<void> {
    const entries = await this.options.signer.sign(this.address, KV_STREAM_PATH, EMPTY);
    if (this.closed) return;
    const call = this.client.makeBidiStreamRequest(
      KV_STREAM_PATH,
      identity,
      identity,
      writeAuthEntries(entries),
    );
    this.call = call;
    this.sessionId = entries[METADATA_SESSION_ID];
    this.sessionPeer = this.options.signer.peerOf(entries);
    this.certificate = undefined;
    call.on("data", (bytes: Buffer) => this.onResponse(call, bytes));
    call.on("error", (error: ServiceError) => this.onError(call, error));
    call.on("end", () => {
      if (this.call === call) this.teardown(status.UNAVAILABLE, `${this.address} ended the key-value stream`);
    });
  }

  private onError(call: ClientDuplexStream<Buffer, Buffer>, error: ServiceError): void {
    if (this.call !== call) return;
    if (error.code === status.UNIMPLEMENTED) {
      // Nothing ran: every call goes again as a unary call (the caller's fallback).
      const calls = [...this.written.values(), ...this.queue];
      this.written.clear();
      this.queue = [];
      this.teardown(error.code, error.details, false);
      for (const c of calls) {
        clearTimeout(c.timer);
        c.reject(new KvStreamUnsupportedError(`${this.address} has no ${KV_STREAM_PATH}`));
      }
      return;
    }
    const reason = String(error.metadata?.get(METADATA_AUTH_FAILURE)[0] ?? "");
    if (reason !== "") this.options.signer.forget(this.address);
    const refusedWhole = (error.metadata?.get(METADATA_REFUSED).length ?? 0) > 0;
    if (refusedWhole && isSessionLost(reason)) {
      // The peer lost our session (it restarted): nothing of this stream ran, so its calls are sent once
      // more on a stream of a new session.
      const again = [...this.written.values()].filter((c) => !c.retried);
      for (const c of again) {
        c.retried = true;
        this.written.delete(c.id);
      }
      this.teardown(error.code, `${this.address}: ${error.details}`, false, true);
      this.queue.unshift(...again);
      if (this.queue.length > 0) this.scheduleFlush();
      return;
    }
    this.teardown(error.code, `${this.address}: ${error.details}`, false, refusedWhole, error.metadata);
  }

  private onResponse(call: ClientDuplexStream<Buffer, Buffer>, bytes: Buffer): void {
    if (this.call !== call) return;
    let response: KvStreamResponse;
    try {
      response = KvStreamResponse.decode(bytes);
    } catch {
      this.teardown(status.INTERNAL, `${this.address} sent a malformed key-value answer`);
      return;
    }
    const unsigned =
      unsignedPrefix(bytes, response.mac) ?? encodeToBuffer(KvStreamResponse, { ...response, mac: EMPTY });
    const sent = { [METADATA_SESSION_ID]: this.sessionId ?? "", [METADATA_SEQ]: "0" };
    if (!this.options.signer.checkAnswer(sent, KV_STREAM_PATH, unsigned, response.mac)) {
      // Not from the peer the session was opened with: none of it answers anything.
      this.options.onAnswerRefused?.("bad-answer-mac");
      this.teardown(
        status.UNAUTHENTICATED,
        `${this.address}: the answer carries no valid MAC of the session: someone on the path answered`,
      );
      return;
    }
    this.certificate ??= { value: call.getAuthContext()?.sslPeerCertificate };
    for (const answer of response.answers) this.settle(answer, this.certificate.value);
  }

  private settle(answer: KvStreamAnswer, certificate: PeerCertificate | undefined): void {
    const pending = this.written.get(answer.id);
    if (pending === undefined) return;
    this.written.delete(answer.id);
    clearTimeout(pending.timer);
    const refused = this.options.checkAnswer?.(pending.meant, certificate);
    if (refused !== undefined) {
      this.options.onAnswerRefused?.(refused.reason);
      pending.reject(
        new KvPeerError(`${KV_STREAM_PATH} to ${this.address}: ${refused.details}`, status[refused.code]),
      );
      return;
    }
    const result = answer.result;
    if (result === undefined)
      return pending.reject(new KvPeerError(`${this.address} answered nothing`, status.INTERNAL));
    if (result.$case === "error") {
      const { code, message, refused: untouched } = result.error;
      const grpcCode = code > 0 && code <= 16 ? (code as status) : status.UNKNOWN;
      return pending.reject(
        new KvPeerError(message, grpcCode, undefined, untouched || noConnection(grpcCode, message)),
      );
    }
    if (result.$case !== pending.request.$case)
      return pending.reject(
        new KvPeerError(
          `${this.address} answered ${result.$case} to ${pending.request.$case}`,
          status.INTERNAL,
        ),
      );
    pending.resolve(result);
  }

  /**
   * The calls of `taken` meant for the node this stream's session reaches; one meant for another node (see
   * WrongNodeError) fails at once, unsent, as never run.
   */
  private forThisPeer(taken: PendingCall[]): PendingCall[] {
    const found = this.sessionPeer;
    if (found === undefined) return taken;
    return taken.filter((c) => {
      if (c.meant === found) return true;
      clearTimeout(c.timer);
      c.reject(new KvPeerError(wrongNode(this.address, c.meant, found), status.UNAVAILABLE, undefined, true));
      return false;
    });
  }

  private failQueued(error: KvPeerError): void {
    for (const c of this.queue.splice(0)) {
      clearTimeout(c.timer);
      c.reject(error);
    }
  }

  /**
   * Ends the stream. Calls written on it fail (they may have run, unless `neverRan`); queued ones wait for
   * the next stream, or fail too with `failQueued`.
   */
  private teardown(
    code: status,
    reason: string,
    failQueued = this.closed,
    neverRan = false,
    metadata?: Metadata,
  ): void {
    const call = this.call;
    this.call = undefined;
    this.sessionId = undefined;
    this.sessionPeer = undefined;
    this.certificate = undefined;
    if (call !== undefined) {
      call.removeAllListeners("data");
      call.on("error", () => undefined);
      call.cancel();
    }
    const error = new KvPeerError(reason, code, metadata, neverRan || noConnection(code, reason));
    for (const c of this.written.values()) {
      clearTimeout(c.timer);
      c.reject(error);
    }
    this.written.clear();
    if (failQueued) this.failQueued(new KvPeerError(reason, code, metadata, true));
    else if (this.queue.length > 0 && !this.closed) this.scheduleFlush();
  }
}

/** Encoded bytes of one call's request, roughly (what decides the batches' sizes). */
function requestBytes(request: KvStreamRequestOf): number {
  switch (request.$case) {
    case "coordinate": {
      const op = request.coordinate.operation;
      return 256 + (op?.$case === "put" ? op.put.value.byteLength : 0);
    }
    case "replicate":
      return 256 + request.replicate.records.reduce((sum, r) => sum + r.value.byteLength + 64, 0);
    case "fetch":
      return 256 + 20 * request.fetch.keys.length;
  }
}

/**
 * The bytes of a KvStreamResponse before its mac, when the mac is its last field (as the callee writes it),
 * else undefined: the MAC is then checked over exactly the bytes it was made over, without encoding the
 * answers again.
 */
function unsignedPrefix(bytes: Uint8Array, mac: Uint8Array): Uint8Array | undefined {
  const length = mac.byteLength;
  // A mac shorter than 128 bytes has a one-byte length.
  if (length === 0 || length > 127) return undefined;
  const start = bytes.byteLength - length - 2;
  if (start < 0 || bytes[start] !== MAC_TAG || bytes[start + 1] !== length) return undefined;
  const trailing = bytes.subarray(start + 2);
  for (let i = 0; i < length; i++) if (trailing[i] !== mac[i]) return undefined;
  return bytes.subarray(0, start);
}
