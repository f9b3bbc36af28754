// Outgoing node-to-node calls: one long-lived gRPC channel (one HTTP/2 connection) per peer address,
// reused for every call; every call signed, bounded by a timeout, and counted against a per-peer cap.
import { Client, Metadata, connectivityState, status, type ServiceError } from "@grpc/grpc-js";
import type { NodeInfo, Outbound } from "../../routing/types.js";
import type { PeerChannelSecurity } from "../auth/tls.js";
import { PeerServiceService } from "../../gen/wendy/v1/peer.js";
import { encodeNodeInfo, encodePeerMessage } from "../../wire/codec.js";
import type { HelloAnswer, HelloChallenge } from "../auth/session-protocol.js";
import { METADATA_AUTH_FAILURE, isSessionLost } from "../auth/session-protocol.js";
import { writeAuthEntries } from "../auth/metadata.js";
import type { CallSigner } from "./call-auth.js";
import { PeerFailure, noConnection, refusedByPeer } from "./peer-failure.js";
import { RouteStreamSender } from "./route-stream.js";

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
  /** Monotonic ms at which the channel was made. */
  readonly createdAt: number;
  inFlight: number;
  routes?: RouteStreamSender;
}

const identity = (b: Buffer): Buffer => b;

/**
 * A channel that saw its connection refused fails every call, unsent, until its reconnect backoff ends; a
 * peer restarted at the same address would lose whatever we send it meanwhile (a join's final state, a
 * probe's reply). Such a channel is replaced by a fresh one, at most this often per address: a restarted
 * peer is reached at once, and a dead one costs one refused connection per interval.
 */
const FRESH_CHANNEL_INTERVAL_MS = 250;

export class PeerClientPool {
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
        return this.routeStream(out.address).send(sender, out.message.message);
      if (out.message.type === "ack") {
        const { type: _type, ...ack } = out.message;
        return this.routeStream(out.address).sendAck(sender, ack);
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
      (entries) => this.unary(out.address, definition.path, body, writeAuthEntries(entries)),
      (error) =>
        error instanceof PeerCallError &&
        error.code === status.UNAUTHENTICATED &&
        isSessionLost(String(error.metadata?.get(METADATA_AUTH_FAILURE)[0] ?? "")),
    );
    return this.options.now() - started;
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
    return { serverNonce: answer.serverNonce, sessionId: answer.sessionId, serverProof: answer.serverProof };
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
        ...security.options,
        "grpc.max_send_message_length": this.options.maxMessageBytes,
        "grpc.max_receive_message_length": this.options.maxMessageBytes,
        // A restarted peer must be reachable again within a heartbeat or two, not after minutes of backoff.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
        "grpc.keepalive_time_ms": 30_000,
        "grpc.keepalive_timeout_ms": 10_000,
      }),
      createdAt: this.options.now(),
      inFlight: 0,
    };
    this.connections.set(address, c);
    this.watchConnection(address, c.client, connectivityState.IDLE);
    return c;
  }

  /** Reports a connection that was ready and no longer is, for as long as the channel is open. */
  private watchConnection(address: string, client: Client, from: connectivityState): void {
    const onLost = this.options.onConnectionLost;
    if (onLost === undefined) return;
    const channel = client.getChannel();
    channel.watchConnectivityState(from, Infinity, () => {
      const state = channel.getConnectivityState(false);
      if (state === connectivityState.SHUTDOWN) return;
      if (from === connectivityState.READY && state !== connectivityState.READY) onLost(address);
      this.watchConnection(address, client, state);
    });
  }

  private failedLongEnough(c: Connection): boolean {
    return (
      this.options.now() - c.createdAt >= FRESH_CHANNEL_INTERVAL_MS &&
      c.client.getChannel().getConnectivityState(false) === connectivityState.TRANSIENT_FAILURE
    );
  }

  private unary(address: string, path: string, body: Buffer, metadata: Metadata): Promise<Buffer> {
    if (this.closed) return Promise.reject(new PeerCallError(status.CANCELLED, "peer client pool closed"));
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
            resolve(reply ?? Buffer.alloc(0));
          }
        },
      );
      const timer = setTimeout(() => {
        timedOut = true;
        call.cancel();
      }, this.options.rpcTimeoutMs);
    });
  }
}
