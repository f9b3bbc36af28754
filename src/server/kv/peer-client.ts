// Outgoing key-value calls to peers: one channel per peer address (bounded, least recently used closed
// first), every call signed with the node's peer sessions and bounded by a timeout. An OK answer counts only
// when it proves its origin: the session's MAC over its bytes (shared secrets) and, under per-node
// identities, a connection whose certificate names the node called; anything else is refused and counted.
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
import { WendyError } from "../errors.js";
import { noConnection, refusedByPeer } from "../transport/peer-failure.js";
import { METADATA_ANSWER_MAC, METADATA_AUTH_FAILURE, isSessionLost } from "../auth/session-protocol.js";
import { writeAuthEntries, type AuthEntries } from "../auth/metadata.js";
import type { ClaimRefusal } from "../auth/node-identity.js";
import type { PeerChannelSecurity } from "../auth/tls.js";

const MAX_CHANNELS = 256;

interface Channel {
  readonly client: Client;
  /** Per-node identities: whether an answer on this channel is from the node meant. */
  readonly checkAnswer: PeerChannelSecurity["checkAnswer"];
}
const identity = (b: Buffer): Buffer => b;

/**
 * A failed call to a peer, with its gRPC code (UNAVAILABLE and DEADLINE_EXCEEDED when it never answered) and
 * whether it surely never reached the peer's store (no connection, no session, or the peer refused it as not
 * joined, leaving or not running): only then may a hand-on be retried elsewhere at once.
 */
export class KvPeerError extends WendyError {
  override readonly name = "KvPeerError";
  readonly neverArrived: boolean;
  constructor(
    message: string,
    code: status,
    readonly metadata?: Metadata,
    neverArrived = noConnection(code, message) || refusedByPeer(code, metadata),
  ) {
    super(message, code);
    this.neverArrived = neverArrived;
  }
}

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

  constructor(
    private readonly transport: PeerTransport,
    /** The address to dial for a peer (its local or global address, as the routing runtime picks). */
    private readonly addressOf: (peer: NodeInfo) => string,
  ) {}

  coordinate(to: NodeInfo, request: CoordinateRequest, timeoutMs: number): Promise<CoordinateResponse> {
    return this.call("coordinate", to, request, timeoutMs);
  }

  replicate(to: NodeInfo, request: ReplicateRequest, timeoutMs: number): Promise<ReplicateResponse> {
    return this.call("replicate", to, request, timeoutMs);
  }

  fetch(to: NodeInfo, request: FetchRequest, timeoutMs: number): Promise<FetchResponse> {
    return this.call("fetch", to, request, timeoutMs);
  }

  digest(to: NodeInfo, request: DigestRequest, timeoutMs: number): Promise<DigestResponse> {
    return this.call("digest", to, request, timeoutMs);
  }

  close(): void {
    this.closed = true;
    for (const c of this.channels.values()) c.client.close();
    this.channels.clear();
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
      oldest.value[1].client.close();
    }
    const security = this.transport.channelSecurity(address);
    c = {
      client: new Client(address, security.credentials, {
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
