// Outgoing node-to-node calls: one long-lived gRPC channel (one HTTP/2 connection) per peer address,
// reused for every call; every call signed, bounded by a timeout, and counted against a per-peer cap.
import { Client, Metadata, connectivityState, status, type ServiceError } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { NodeInfo, Outbound } from "../../routing/types.js";
import type { PeerChannelSecurity } from "../auth/tls.js";
import { PeerServiceService } from "../../gen/wendy/v1/peer.js";
import { encodeNodeInfo, encodePeerMessage } from "../../wire/codec.js";
import type { HelloAnswer, HelloChallenge } from "../auth/session-protocol.js";
import { METADATA_ANSWER_MAC, METADATA_AUTH_FAILURE, isSessionLost } from "../auth/session-protocol.js";
import { writeAuthEntries, type AuthEntries } from "../auth/metadata.js";
import type { ClaimRefusal } from "../auth/node-identity.js";
import type { AuthFailureReason } from "../auth/failures.js";
import type { CallSigner } from "./call-auth.js";
import { PeerFailure, WrongNodeError, noConnection, refusedByPeer } from "./peer-failure.js";
import type { BatchedAck, DirectMessage } from "../../wire/codec.js";
import type { WireLimits } from "../../wire/limits.js";
import { PEER_CHANNEL_OPTIONS } from "../../wire/channel-options.js";
import { RouteStreamLinks, RouteStreamSender } from "./route-stream.js";
import { backedOff } from "./hop-timeout.js";

export interface PeerClientOptions {
  /** Credentials and TLS name options for the channel to one peer address (peerChannelSecurity). */
  readonly channelSecurity: (address: string) => PeerChannelSecurity;
  /** Set once the signer exists (the signer needs this pool's hello to open sessions). */
  readonly rpcTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Calls in flight to one peer beyond which new ones fail at once with RESOURCE_EXHAUSTED. */
  readonly maxInFlightPerPeer: number;
  /** Channels kept open at most; the least recently used is closed first. */
  readonly maxConnections: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Forward route hops in batches on one stream per peer (default) rather than one unary call each. */
  readonly routeStreaming?: boolean;
  /**
   * An established connection to `address` broke (the peer's process died or closed it): a hint, worth a
   * liveness probe, long before the silence of a crashed peer would be noticed.
   */
  readonly onConnectionLost?: (address: string) => void;
  /** An answer refused because it came from a node other than the one meant (per-node identities). */
  readonly onAuthFailure?: (reason: AuthFailureReason) => void;
  /**
   * An end-to-end acknowledgement from `from` that came beside its hop's acknowledgement on a RouteStream
   * (RouteStreamOptions.onResponseAck); absent: peers send them in batches of their own.
   */
  readonly onResponseAck?: (from: NodeInfo, ack: BatchedAck) => void;
  /** Bounds of what peers' acknowledgements may carry. */
  readonly limits?: WireLimits;
}

/** A failed peer call, with the gRPC status that explains it. */
export class PeerCallError extends PeerFailure {
  override readonly name = "PeerCallError";
  constructor(
    code: status,
    message: string,
    readonly metadata?: Metadata,
  ) {
    super(code, message, refusedByPeer(code, metadata) || noConnection(code, message));
  }
}

interface Connection {
  readonly client: Client;
  /** Per-node identities: whether an answer on this channel is from the node meant. */
  readonly checkAnswer: PeerChannelSecurity["checkAnswer"];
  /** Monotonic ms at which the channel was made. */
  readonly createdAt: number;
  inFlight: number;
  routes?: RouteStreamSender;
}

const identity = (b: Buffer): Buffer => b;

/** A call any certified node may answer: a seed dialled by address, or a Hello. */
const ANY_NODE = Symbol("any node");

/**
 * A channel that saw its connection refused fails every call, unsent, until its reconnect backoff ends; a
 * peer restarted at the same address would lose whatever we send it meanwhile (a join's final state, a
 * probe's reply). Such a channel is replaced by a fresh one, at most this often per address: a restarted
 * peer is reached at once, and a dead one costs one refused connection per interval.
 */
const FRESH_CHANNEL_INTERVAL_MS = 250;

export class PeerClientPool {
  /** The outgoing RouteStreams by token, for acknowledgements that come back on peers' own streams. */
  readonly links = new RouteStreamLinks();
  private readonly connections = new Map<string, Connection>();
  private signer: CallSigner | undefined;
  private closed = false;

  constructor(private readonly options: PeerClientOptions) {}

  useSigner(signer: CallSigner): void {
    this.signer = signer;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Addresses with an open channel, least recently used first. */
  connectedAddresses(): string[] {
    return [...this.connections.keys()];
  }

  /** Sends one protocol message; resolves with the round-trip time in ms once the peer acknowledged it. */
  async send(sender: NodeInfo, out: Outbound): Promise<number> {
    if (this.options.routeStreaming !== false) {
      if (out.message.type === "route")
        return this.routeStream(out.address).send(sender, out.message.message, out.to?.id.hex, out.attempt);
      if (out.message.type === "ack") {
        const { type: _type, ...ack } = out.message;
        return this.routeStream(out.address).sendAck(sender, ack, out.to?.id.hex);
      }
    }
    const { method, request } = encodePeerMessage(sender, out.message);
    const definition = PeerServiceService[method];
    // Serialized once: the same bytes are signed and sent.
    const body = (definition.requestSerialize as (r: typeof request) => Buffer)(request);
    const signer = this.signer;
    if (signer === undefined) throw new Error("PeerClientPool used before useSigner");
    const started = this.options.now();
    await signer.call(
      out.address,
      definition.path,
      body,
      (entries) =>
        this.unary(
          out.address,
          definition.path,
          body,
          writeAuthEntries(entries),
          { meant: out.to?.id.hex ?? ANY_NODE, sent: entries },
          backedOff(this.options.rpcTimeoutMs, out.attempt),
        ),
      (error) =>
        error instanceof PeerCallError &&
        error.code === status.UNAUTHENTICATED &&
        isSessionLost(String(error.metadata?.get(METADATA_AUTH_FAILURE)[0] ?? "")),
    );
    return this.options.now() - started;
  }

  /**
   * As send, its outcome told to `done` (error undefined: acknowledged after `rttMs`), never within this
   * call. Route hops and end-to-end acks on a RouteStream cost no promise of their own this way.
   */
  transmit(sender: NodeInfo, out: Outbound, done: (error: unknown, rttMs: number) => void): void {
    if (out.message.type === "heartbeat" && this.heartbeatOnStream(sender, out, done)) return;
    if (
      this.options.routeStreaming !== false &&
      (out.message.type === "route" || out.message.type === "ack")
    ) {
      try {
        if (out.message.type === "ack") {
          const { type: _type, ...ack } = out.message;
          // Beside its hop's acknowledgement on the origin's own stream, when that is still held here: it
          // needs no stream message, nor acknowledgement, of its own (a lost response brings the hop again).
          if (this.links.carryAck(out.to?.id.hex, ack)) return queueMicrotask(() => done(undefined, 0));
          this.routeStream(out.address).queueAck(sender, ack, out.to?.id.hex, done);
        } else {
          const to = out.to;
          this.routeStream(out.address).queueHop(
            sender,
            out.message.message,
            to?.id.hex,
            done,
            to,
            out.attempt,
          );
        }
      } catch (error) {
        queueMicrotask(() => done(error, 0));
      }
      return;
    }
    this.send(sender, out).then(
      (rttMs) => done(undefined, rttMs),
      (error: unknown) => done(error, 0),
    );
  }

  /**
   * A heartbeat rides on the RouteStream open to its peer when that peer takes heartbeats there: no HTTP/2
   * stream, metadata, signature check or timer of its own, as a Heartbeat call costs (most of what an idle
   * node spends). Otherwise (false) it goes as a call, and the stream is opened for the next one: a node's
   * predecessor may never have had a hop from it. A peer that does not take them keeps getting calls.
   */
  private heartbeatOnStream(
    sender: NodeInfo,
    out: Outbound,
    done: (error: unknown, rttMs: number) => void,
  ): boolean {
    if (this.closed || this.options.routeStreaming === false) return false;
    let routes: RouteStreamSender;
    try {
      routes = this.routeStream(out.address);
    } catch {
      return false;
    }
    if (!routes.takesHeartbeats) {
      routes.prepare();
      return false;
    }
    routes.queueHeartbeat(sender, out.to?.id.hex, done);
    return true;
  }

  /**
   * Sends `direct` to the node at `address` (hex ID `meant`) on the RouteStream already open to it, when
   * that node takes direct messages; resolves with the round-trip time once it acknowledged. Undefined when
   * there is no such stream (the caller routes the message instead): no connection is opened for it.
   */
  sendDirect(
    sender: NodeInfo,
    address: string,
    meant: string,
    direct: DirectMessage,
  ): Promise<number> | undefined {
    const routes = this.openRouteStream(address);
    return routes?.takesDirect === true ? routes.sendDirect(sender, direct, meant) : undefined;
  }

  /** The RouteStream open to `address`, if any (none is opened). */
  openRouteStream(address: string): RouteStreamSender | undefined {
    if (this.closed || this.options.routeStreaming === false) return undefined;
    return this.connections.get(address)?.routes;
  }

  private routeStream(address: string): RouteStreamSender {
    const c = this.connection(address);
    const signer = this.signer;
    if (signer === undefined) throw new Error("PeerClientPool used before useSigner");
    c.routes ??= new RouteStreamSender(c.client, address, {
      signer,
      hopTimeoutMs: this.options.rpcTimeoutMs,
      maxBatch: 256,
      maxOutstanding: this.options.maxInFlightPerPeer,
      now: this.options.now,
      checkAnswer: c.checkAnswer,
      onAnswerRefused: this.options.onAuthFailure,
      links: this.links,
      onResponseAck: this.options.onResponseAck,
      limits: this.options.limits,
    });
    return c.routes;
  }

  /** The unsigned Hello that opens an authenticated session (the signer's transport). */
  async hello(address: string, sender: NodeInfo, challenge: HelloChallenge): Promise<HelloAnswer> {
    const definition = PeerServiceService.hello;
    const body = definition.requestSerialize({
      sender: encodeNodeInfo(sender),
      clientNonce: Buffer.from(challenge.clientNonce),
    });
    const reply = await this.unary(address, definition.path, body, new Metadata());
    const answer = definition.responseDeserialize(reply);
    return {
      serverNonce: answer.serverNonce,
      sessionId: answer.sessionId,
      serverProof: answer.serverProof,
      nodeId: answer.nodeId,
      identityProof: answer.identityProof,
    };
  }

  /** Closes the channel to `address` (a peer declared dead); a later call opens a fresh one. */
  drop(address: string): void {
    const c = this.connections.get(address);
    if (c === undefined) return;
    this.connections.delete(address);
    c.routes?.close();
    c.client.close();
  }

  close(): void {
    this.closed = true;
    for (const c of this.connections.values()) {
      c.routes?.close();
      c.client.close();
    }
    this.connections.clear();
  }

  private connection(address: string): Connection {
    let c = this.connections.get(address);
    if (c !== undefined) {
      // Refresh its place in the LRU order.
      this.connections.delete(address);
      if (!this.failedLongEnough(c)) {
        this.connections.set(address, c);
        return c;
      }
      c.routes?.close();
      c.client.close();
    }
    while (this.connections.size >= this.options.maxConnections) {
      const oldest = this.connections.entries().next();
      if (oldest.done) break;
      this.connections.delete(oldest.value[0]);
      oldest.value[1].routes?.close();
      oldest.value[1].client.close();
    }
    const security = this.options.channelSecurity(address);
    c = {
      client: new Client(address, security.credentials, {
        ...PEER_CHANNEL_OPTIONS,
        ...security.options,
        "grpc.max_send_message_length": this.options.maxMessageBytes,
        "grpc.max_receive_message_length": this.options.maxMessageBytes,
        // A restarted peer must be reachable again within a heartbeat or two, not after minutes of backoff.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
      }),
      checkAnswer: security.checkAnswer,
      createdAt: this.options.now(),
      inFlight: 0,
    };
    this.connections.set(address, c);
    this.watchConnection(address, c.client, connectivityState.IDLE);
    return c;
  }

  /**
   * Reports a connection that was ready and no longer is, for as long as the channel is open, and forgets the
   * session with its address: the next connection there may reach another process (a node restarted on the
   * port, a pod's IP given to another pod), whose Hello then says which node it is. A session kept across
   * the change would name the node that left, and calls meant for the new one would not be made.
   */
  private watchConnection(address: string, client: Client, from: connectivityState): void {
    const channel = client.getChannel();
    channel.watchConnectivityState(from, Infinity, () => {
      const state = channel.getConnectivityState(false);
      if (state === connectivityState.SHUTDOWN) return;
      if (from === connectivityState.READY && state !== connectivityState.READY) {
        this.signer?.forget(address);
        this.options.onConnectionLost?.(address);
      }
      this.watchConnection(address, client, state);
    });
  }

  /** Why an OK answer acknowledges nothing (see unary), or undefined when it does. */
  private refusedAnswer(
    c: Connection,
    path: string,
    answer: Uint8Array,
    answerMac: Uint8Array | undefined,
    check: { readonly meant: string | typeof ANY_NODE; readonly sent: AuthEntries },
    call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null },
  ): ClaimRefusal | undefined {
    if (this.signer?.checkAnswer(check.sent, path, answer, answerMac) === false) {
      return {
        code: "UNAUTHENTICATED",
        reason: "bad-answer-mac",
        details: "the answer carries no valid MAC of the session: someone on the path answered",
      };
    }
    return c.checkAnswer?.(
      check.meant === ANY_NODE ? undefined : check.meant,
      call.getAuthContext()?.sslPeerCertificate,
    );
  }

  private failedLongEnough(c: Connection): boolean {
    return (
      this.options.now() - c.createdAt >= FRESH_CHANNEL_INTERVAL_MS &&
      c.client.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE
    );
  }

  /**
   * One call. `check.meant`: the node the call is for (hex ID; ANY_NODE for a seed), whose identity the answer
   * must carry under per-node identities; `check.sent`: the auth entries the call was signed with, whose
   * session must have signed an OK answer (shared secrets). Either failing fails the call: no ack was had.
   * A Hello has neither (its answer carries its own proof).
   */
  private unary(
    address: string,
    path: string,
    body: Buffer,
    metadata: Metadata,
    check?: { readonly meant: string | typeof ANY_NODE; readonly sent: AuthEntries },
    timeoutMs = this.options.rpcTimeoutMs,
  ): Promise<Buffer> {
    if (this.closed) return Promise.reject(new PeerCallError(status.CANCELLED, "peer client pool closed"));
    const found = check === undefined ? undefined : this.signer?.peerOf(check.sent);
    if (check !== undefined && check.meant !== ANY_NODE && found !== undefined && found !== check.meant)
      return Promise.reject(new WrongNodeError(address, check.meant, found));
    const c = this.connection(address);
    if (c.inFlight >= this.options.maxInFlightPerPeer) {
      return Promise.reject(
        new PeerCallError(status.RESOURCE_EXHAUSTED, `too many calls in flight to ${address}`),
      );
    }
    c.inFlight++;
    return new Promise<Buffer>((resolve, reject) => {
      // The timeout runs on Node's monotonic timers rather than a wall-clock gRPC deadline.
      let timedOut = false;
      let answerMac: Uint8Array | undefined;
      const call = c.client.makeUnaryRequest(
        path,
        identity,
        identity,
        body,
        metadata,
        {},
        (error: ServiceError | null, reply?: Buffer) => {
          clearTimeout(timer);
          c.inFlight--;
          if (timedOut) {
            reject(new PeerCallError(status.DEADLINE_EXCEEDED, `${path} to ${address} timed out`));
          } else if (error) {
            reject(new PeerCallError(error.code, `${path} to ${address}: ${error.details}`, error.metadata));
          } else {
            const answer = reply ?? Buffer.alloc(0);
            const refused =
              check === undefined ? undefined : this.refusedAnswer(c, path, answer, answerMac, check, call);
            if (refused === undefined) resolve(answer);
            else {
              this.options.onAuthFailure?.(refused.reason);
              reject(new PeerCallError(status[refused.code], `${path} to ${address}: ${refused.details}`));
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
}
