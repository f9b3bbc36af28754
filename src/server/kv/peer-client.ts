// Outgoing key-value calls to peers: one channel per peer address (bounded, least recently used closed
// first), every call signed with the node's peer sessions and bounded by a timeout. Coordinate, Replicate
// and Fetch travel on the peer's KvStream (peer-stream.ts), batched and signed per batch; Digest, and every
// call to a peer without KvStream (an older version: asked again after UNARY_RETRY_MS), go as unary calls.
// An OK answer counts only when it proves its origin: the session's MAC over its bytes (shared secrets) and,
// under per-node identities, a connection whose certificate names the node called; anything else is refused
// and counted.
import { Client, status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import {
  KvPeerServiceService,
  type CoordinateRequest,
  type CoordinateResponse,
  type DigestRequest,
  type DigestResponse,
  type FetchRequest,
  type FetchResponse,
  type ReplicateRequest,
  type ReplicateResponse,
} from "../../gen/wendy/v1/kv_peer.js";
import type { NodeInfo } from "../../routing/types.js";
import type { PeerTransport } from "../cluster.js";
import { wrongNode } from "../transport/peer-failure.js";
import { PEER_CHANNEL_OPTIONS } from "../../wire/channel-options.js";
import { KvPeerError } from "./peer-error.js";
import { KvStreamSender, KvStreamUnsupportedError, type KvStreamRequestOf } from "./peer-stream.js";
import { METADATA_ANSWER_MAC, METADATA_AUTH_FAILURE, isSessionLost } from "../auth/session-protocol.js";
import { writeAuthEntries, type AuthEntries } from "../auth/metadata.js";
import type { ClaimRefusal } from "../auth/node-identity.js";
import type { PeerChannelSecurity } from "../auth/tls.js";

const MAX_CHANNELS = 256;
/** A peer found without KvStream is called unary for this long before its stream is tried again. */
const UNARY_RETRY_MS = 60_000;

export { KvPeerError };

interface Channel {
  readonly client: Client;
  /** Per-node identities: whether an answer on this channel is from the node meant. */
  readonly checkAnswer: PeerChannelSecurity["checkAnswer"];
  /** The peer's KvStream, opened on first use. */
  stream?: KvStreamSender;
  /** Until when (performance.now()) the peer is called unary: it answered KvStream with UNIMPLEMENTED. */
  unaryUntil?: number;
}
const identity = (b: Buffer): Buffer => b;

export interface KvPeers {
  coordinate(to: NodeInfo, request: CoordinateRequest, timeoutMs: number): Promise<CoordinateResponse>;
  replicate(to: NodeInfo, request: ReplicateRequest, timeoutMs: number): Promise<ReplicateResponse>;
  fetch(to: NodeInfo, request: FetchRequest, timeoutMs: number): Promise<FetchResponse>;
  digest(to: NodeInfo, request: DigestRequest, timeoutMs: number): Promise<DigestResponse>;
  close(): void;
}

type Method = "coordinate" | "replicate" | "fetch" | "digest";

export class KvPeerClient implements KvPeers {
  private readonly channels = new Map<string, Channel>();
  private closed = false;
  /** KvStream call ids: a counter, never repeated while this node runs (kv_peer.proto KvStreamCall.id). */
  private lastCallId = 0n;

  constructor(
    private readonly transport: PeerTransport,
    /** The address to dial for a peer (its local or global address, as the routing runtime picks). */
    private readonly addressOf: (peer: NodeInfo) => string,
  ) {}

  async coordinate(to: NodeInfo, request: CoordinateRequest, timeoutMs: number): Promise<CoordinateResponse> {
    const answer = await this.streamed(to, { $case: "coordinate", coordinate: request }, timeoutMs);
    if (answer === undefined) return this.call("coordinate", to, request, timeoutMs);
    return (answer as { coordinate: CoordinateResponse }).coordinate;
  }

  async replicate(to: NodeInfo, request: ReplicateRequest, timeoutMs: number): Promise<ReplicateResponse> {
    const answer = await this.streamed(to, { $case: "replicate", replicate: request }, timeoutMs);
    if (answer === undefined) return this.call("replicate", to, request, timeoutMs);
    return (answer as { replicate: ReplicateResponse }).replicate;
  }

  async fetch(to: NodeInfo, request: FetchRequest, timeoutMs: number): Promise<FetchResponse> {
    const answer = await this.streamed(to, { $case: "fetch", fetch: request }, timeoutMs);
    if (answer === undefined) return this.call("fetch", to, request, timeoutMs);
    return (answer as { fetch: FetchResponse }).fetch;
  }

  digest(to: NodeInfo, request: DigestRequest, timeoutMs: number): Promise<DigestResponse> {
    return this.call("digest", to, request, timeoutMs);
  }

  close(): void {
    this.closed = true;
    for (const c of this.channels.values()) closeChannel(c);
    this.channels.clear();
  }

  /**
   * `request` on the peer's KvStream: its answer (of the same case; the sender checks), or undefined when
   * the peer has no KvStream (the call never ran there: the caller sends it unary).
   */
  private async streamed(
    to: NodeInfo,
    request: KvStreamRequestOf,
    timeoutMs: number,
  ): Promise<object | undefined> {
    if (this.closed) throw new KvPeerError("the node is stopping", status.UNAVAILABLE, undefined, true);
    const address = this.addressOf(to);
    const channel = this.channel(address);
    if (channel.unaryUntil !== undefined) {
      if (performance.now() < channel.unaryUntil) return undefined;
      channel.unaryUntil = undefined;
    }
    channel.stream ??= new KvStreamSender(channel.client, address, {
      signer: this.transport.auth.signer,
      ...(channel.checkAnswer === undefined ? {} : { checkAnswer: channel.checkAnswer }),
      ...(this.transport.onAnswerRefused === undefined
        ? {}
        : { onAnswerRefused: this.transport.onAnswerRefused }),
      maxBatchBytes: Math.floor(this.transport.maxMessageBytes / 2),
      nextId: () => ++this.lastCallId,
    });
    try {
      return await channel.stream.send(request, to.id.hex, timeoutMs);
    } catch (error) {
      if (!(error instanceof KvStreamUnsupportedError)) throw error;
      channel.unaryUntil = performance.now() + UNARY_RETRY_MS;
      return undefined;
    }
  }

  private async call<M extends Method>(
    method: M,
    to: NodeInfo,
    request: Parameters<(typeof KvPeerServiceService)[M]["requestSerialize"]>[0],
    timeoutMs: number,
  ): Promise<ReturnType<(typeof KvPeerServiceService)[M]["responseDeserialize"]>> {
    const definition = KvPeerServiceService[method];
    const body = (definition.requestSerialize as (r: typeof request) => Buffer)(request);
    const address = this.addressOf(to);
    let reply: Buffer;
    try {
      reply = await this.transport.auth.signer.call(
        address,
        definition.path,
        body,
        (entries) => this.unary(address, definition.path, body, entries, to.id.hex, timeoutMs),
        (error) =>
          error instanceof KvPeerError &&
          error.code === status.UNAUTHENTICATED &&
          isSessionLost(String(error.metadata?.get(METADATA_AUTH_FAILURE)[0] ?? "")),
      );
    } catch (error) {
      if (error instanceof KvPeerError) throw error;
      // The session's Hello failed (the peer is down or slow): the call never reached it.
      const code = (error as { code?: unknown }).code;
      throw new KvPeerError(
        `${definition.path} to ${address}: ${error instanceof Error ? error.message : String(error)}`,
        typeof code === "number" && code > 0 && code <= 16 ? (code as status) : status.UNAVAILABLE,
        undefined,
        true,
      );
    }
    return definition.responseDeserialize(reply) as ReturnType<
      (typeof KvPeerServiceService)[M]["responseDeserialize"]
    >;
  }

  private channel(address: string): Channel {
    let c = this.channels.get(address);
    if (c !== undefined) {
      this.channels.delete(address);
      this.channels.set(address, c);
      return c;
    }
    while (this.channels.size >= MAX_CHANNELS) {
      const oldest = this.channels.entries().next();
      if (oldest.done) break;
      this.channels.delete(oldest.value[0]);
      closeChannel(oldest.value[1]);
    }
    const security = this.transport.channelSecurity(address);
    c = {
      client: new Client(address, security.credentials, {
        ...PEER_CHANNEL_OPTIONS,
        ...security.options,
        "grpc.max_send_message_length": this.transport.maxMessageBytes,
        "grpc.max_receive_message_length": this.transport.maxMessageBytes,
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
      }),
      checkAnswer: security.checkAnswer,
    };
    this.channels.set(address, c);
    return c;
  }

  private unary(
    address: string,
    path: string,
    body: Buffer,
    sent: AuthEntries,
    meant: string,
    timeoutMs: number,
  ): Promise<Buffer> {
    if (this.closed)
      return Promise.reject(new KvPeerError("the node is stopping", status.UNAVAILABLE, undefined, true));
    // Another node answers at that address now (see WrongNodeError): the call is not made.
    const found = this.transport.auth.signer.peerOf(sent);
    if (found !== undefined && found !== meant)
      return Promise.reject(
        new KvPeerError(wrongNode(address, meant, found), status.UNAVAILABLE, undefined, true),
      );
    const channel = this.channel(address);
    return new Promise<Buffer>((resolve, reject) => {
      let timedOut = false;
      let answerMac: Uint8Array | undefined;
      const call = channel.client.makeUnaryRequest(
        path,
        identity,
        identity,
        body,
        writeAuthEntries(sent),
        {},
        (error: ServiceError | null, reply?: Buffer) => {
          clearTimeout(timer);
          if (timedOut) reject(new KvPeerError(`${path} to ${address} timed out`, status.DEADLINE_EXCEEDED));
          else if (error) reject(new KvPeerError(error.details, error.code, error.metadata));
          else {
            const answer = reply ?? Buffer.alloc(0);
            const refused = this.refusedAnswer(channel, path, answer, answerMac, sent, meant, call);
            if (refused === undefined) resolve(answer);
            else {
              this.transport.onAnswerRefused?.(refused.reason);
              // It may well have reached the store: not "never arrived", so no blind retry elsewhere.
              reject(new KvPeerError(`${path} to ${address}: ${refused.details}`, status[refused.code]));
            }
          }
        },
      );
      call.on("metadata", (headers: Metadata) => {
        const mac = headers.get(METADATA_ANSWER_MAC);
        if (mac.length === 1 && typeof mac[0] === "string") answerMac = Buffer.from(mac[0], "base64");
      });
      const timer = setTimeout(() => {
        timedOut = true;
        call.cancel();
      }, timeoutMs);
    });
  }

  /** Why an OK answer proves nothing (no valid MAC of the session, or another node's), or undefined. */
  private refusedAnswer(
    channel: Channel,
    path: string,
    answer: Uint8Array,
    answerMac: Uint8Array | undefined,
    sent: AuthEntries,
    meant: string,
    call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null },
  ): ClaimRefusal | undefined {
    if (!this.transport.auth.signer.checkAnswer(sent, path, answer, answerMac)) {
      return {
        code: "UNAUTHENTICATED",
        reason: "bad-answer-mac",
        details: "the answer carries no valid MAC of the session: someone on the path answered",
      };
    }
    return channel.checkAnswer?.(meant, call.getAuthContext()?.sslPeerCertificate);
  }
}

function closeChannel(channel: Channel): void {
  channel.stream?.close();
  channel.client.close();
}
