// The embeddable Wendy API: a running Pastry node. It owns the routing state machine and drives it with a
// monotonic clock, turns its outputs into gRPC calls, deliveries and application callbacks, and feeds it
// what arrives from peers. All decisions stay in the state machine; this file only moves things around.
import { randomBytes, randomInt } from "node:crypto";
import { Server, status, type ServerCredentials } from "@grpc/grpc-js";
import { BoundedMap } from "../routing/bounded-map.js";
import type { NodeId } from "../routing/id.js";
import { PastryNode } from "../routing/node.js";
import {
  DEFAULT_ROUTING_CONFIG,
  FIRST_APPLICATION_PURPOSE,
  MIN_LEAF_SET_SIZE,
  MIN_LEAF_SET_SIZE_REASON,
  REPORTED_FAILURES,
  type NodeInfo,
  type Outbound,
  type Output,
  type RandomSource,
  type RouteMessage,
  type RoutingConfig,
  type RoutingEvent,
} from "../routing/types.js";
import type { Application, Message } from "./application.js";
import { ForwardGate, toMessage, type ForwardInterceptor } from "./forwarding.js";
import { isSharedSecretCredentials, type Credentials } from "./auth/credentials.js";
import type { AuthFailureReason } from "./auth/failures.js";
import { peerChannelSecurity, peerServerCredentials, type PeerTlsConfig } from "./auth/tls.js";
import { monotonicClock, type Clock } from "./clock.js";
import {
  InvalidArgumentError,
  JoinError,
  LeavingError,
  NotJoinedError,
  NotReadyError,
  ResourceExhaustedError,
  WendyError,
} from "./errors.js";
import type { WendyMetrics } from "./metrics/metrics.js";
import { RoutingMetrics } from "./metrics/routing-metrics.js";
import { MessageTrace } from "./message-trace.js";
import { hostPort, type Node } from "./node.js";
import { callAuthFor, type CallAuth } from "./transport/call-auth.js";
import { HealthStatus } from "./transport/health.js";
import {
  InboundGuard,
  checkInboundLimits,
  defaultInboundLimits,
  inboundServerOptions,
  type InboundLimits,
} from "./transport/inbound-limits.js";
import { PeerClientPool } from "./transport/peer-client.js";
import { PeerFailure } from "./transport/peer-failure.js";
import { addPeerService, type PeerServiceHandle } from "./transport/peer-server.js";
import { DEFAULT_WIRE_LIMITS, grpcMessageSizeLimit, type WireLimits } from "../wire/limits.js";
import { peerRpcPath } from "../wire/methods.js";
import { addLazyReflection } from "./reflection.js";

/** The subset of a pino logger the runtime uses; any pino logger fits. */
export interface Logger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface ClusterOptions {
  /** Where the runtime logs (a pino logger fits); silent by default. */
  readonly logger?: Logger;
  /** l: leaf-set size (l/2 each side), even, at least 4 (survives one failure per side). Default 32. */
  readonly leafSetSize?: number;
  readonly neighbourhoodSize?: number;
  readonly heartbeatIntervalMs?: number;
  /** Silence from a leaf-set neighbour for this long makes it suspect. Default 2500 ms. */
  readonly failureTimeoutMs?: number;
  readonly probeTimeoutMs?: number;
  /** A join not complete after this long moves on to the next seed. Default 10 s. */
  readonly joinTimeoutMs?: number;
  readonly regionMultiplier?: number;
  /**
   * Every this long a ready node asks a random entry of one routing-table row for that row and measures the
   * nodes it names (MSPastry's table maintenance). Default 60000 ms; Infinity: never.
   */
  readonly tableMaintenanceIntervalMs?: number;
  readonly maxHops?: number;
  /** Largest application payload, in bytes. Default 4 MiB. */
  readonly maxPayloadBytes?: number;
  /** How long join() keeps retrying (with backoff) through its seeds before it fails. Default 60 s. */
  readonly joinRetryWindowMs?: number;
  /** Per-call timeout of node-to-node RPCs (the per-hop acknowledgement). Default 1000 ms. */
  readonly rpcTimeoutMs?: number;
  /** Forward route hops in batches on one stream per peer (default true) instead of one call each. */
  readonly routeStreaming?: boolean;
  /** Calls in flight to one peer before further ones fail fast. Default 4096. */
  readonly maxInFlightPerPeer?: number;
  /** Peer connections kept open at most. Default 1024. */
  readonly maxConnections?: number;
  /**
   * Session handshakes (Hello) answered per second, with a burst of as many; beyond it RESOURCE_EXHAUSTED.
   * Bounds the CPU a Hello flood costs. Default 500. Only with shared-secret credentials.
   */
  readonly maxHellosPerSecond?: number;
  /**
   * Hellos answered per second from one source address (IPv4 address, or IPv6 /64), under
   * maxHellosPerSecond: one flooding source cannot starve the others' handshakes. Default 100.
   */
  readonly maxHellosPerSecondPerSource?: number;
  /**
   * What one connection, and all together, may make the peer port hold before any call is authenticated:
   * concurrent streams, bytes of incomplete requests, and how long a request or handshake may stay
   * incomplete. Each field defaults to defaultInboundLimits(message size limit).
   */
  readonly inboundLimits?: Partial<InboundLimits>;
  /** Messages sent before the node is ready wait in a queue of this size. Default 10000. */
  readonly maxPendingMessages?: number;
  /** Address(es) the peer port binds to, all on one port. Default "0.0.0.0". */
  readonly bindHost?: string | readonly string[];
  /** TLS or mutual TLS on the peer port. Default off. */
  readonly tls?: PeerTlsConfig;
  /**
   * Allow bearer Credentials (anything but a shared secret) without TLS. Their bytes travel in every call,
   * so on a plaintext port anyone on the path can copy and replay them; refused unless this is true.
   */
  readonly allowInsecure?: boolean;
  /** Prometheus metrics to record into (the daemon passes one; embedders may). */
  readonly metrics?: WendyMetrics;
  /** Randomness for the routing core and the incarnation; defaults to node:crypto. */
  readonly random?: RandomSource;
  readonly clock?: Clock;
  /**
   * Serve grpc.health.v1 (the cluster's `health`) on the peer port. Default true; an embedder with its own
   * notion of readiness (the daemon) turns it off and serves its own through `configureServer`.
   */
  readonly serveHealth?: boolean;
  /** Serve gRPC server reflection on the peer port (for grpcurl-style tools). Default true. */
  readonly serveReflection?: boolean;
  /** Extra services to serve on the peer port (e.g. the client API when sharing a port). */
  readonly configureServer?: (server: Server) => void;
}

export interface ClusterSendOptions {
  /**
   * Wait until an application at the delivering node acknowledged the message (every registered
   * `onDeliver` returned, or the Promise it returned resolved). A refusal there (a rejected Promise, or no
   * application at all) rejects with a WendyError carrying the refusal's code and reason.
   */
  readonly waitForAck?: boolean;
  /** With waitForAck: give up (DEADLINE_EXCEEDED) after this long. Default 10 s. */
  readonly timeoutMs?: number;
}

export interface StopResult {
  /** True when in-flight work and open calls finished by themselves; false when the grace period cut them. */
  readonly drained: boolean;
}

export interface SendResult {
  readonly messageId: string;
  /** With waitForAck: the node that delivered the message and the hops it took. */
  readonly deliveredBy?: NodeInfo;
  readonly hops?: number;
}

interface PendingAck {
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type State = "new" | "listening" | "joining" | "ready" | "stopping" | "stopped";

/** Peers remembered per address or per incarnation, at most (the least recent are forgotten). */
const MAX_REMEMBERED_PEERS = 4096;

const cryptoRandom: RandomSource = { next: () => randomInt(0, 2 ** 47) / 2 ** 47 };

export class Cluster {
  readonly node: Node;
  /** The peer port's grpc.health.v1 status; the daemon shares it with the client port. */
  readonly health = new HealthStatus(["wendy.v1.PeerService"]);
  private readonly options: ClusterOptions;
  private readonly config: RoutingConfig;
  private readonly limits: WireLimits;
  private readonly clock: Clock;
  private readonly random: RandomSource;
  private readonly incarnation: number;
  private readonly apps: Application[] = [];
  private readonly auth: CallAuth;
  private readonly inboundLimits: InboundLimits;
  private readonly pool: PeerClientPool;
  private readonly routingMetrics: RoutingMetrics | undefined;
  private readonly trace: MessageTrace | undefined;
  private readonly pendingAcks = new Map<string, PendingAck>();
  // Forward decisions taken on a "forward" output, applied to the "send" output that follows it.
  private readonly forwarding: ForwardGate;
  private readonly lastAcknowledged = new BoundedMap<string, number>(MAX_REMEMBERED_PEERS);
  /** The peer last called at each address (most recent last, bounded): whom a lost connection concerns. */
  private readonly peerAt = new BoundedMap<string, NodeInfo>(MAX_REMEMBERED_PEERS);
  private readonly reservedHandlers = new Map<number, (message: Message) => void>();
  private server: Server | undefined;
  private peerService: PeerServiceHandle | undefined;
  private core: PastryNode | undefined;
  private self: NodeInfo | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private state: State = "new";
  /** Listening, not joined, no overlay of its own (see listen's joinFirst): refuses peers and sends. */
  private awaitingJoin = false;
  private joinStartedAt = 0;
  private joinSeeds: string[] = [];
  private joinAttempts = 0;
  private joinRetry: NodeJS.Timeout | undefined;
  private joinWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(node: Node, credentials?: Credentials, options: ClusterOptions = {}) {
    if (credentials !== undefined && !isSharedSecretCredentials(credentials)) {
      if (options.tls?.enabled !== true && options.allowInsecure !== true)
        throw new InvalidArgumentError(
          "bearer credentials need TLS (options.tls): without it their bytes cross the network in clear " +
            "and anyone on the path can replay them; set allowInsecure: true to accept that",
        );
    }
    this.node = node;
    this.options = options;
    this.clock = options.clock ?? monotonicClock;
    this.random = options.random ?? cryptoRandom;
    this.incarnation = randomBytes(6).readUIntBE(0, 6);
    this.routingMetrics = options.metrics === undefined ? undefined : new RoutingMetrics(options.metrics);
    const trace = options.logger === undefined ? undefined : new MessageTrace(options.logger);
    this.trace = trace?.enabled === true ? trace : undefined;
    this.limits = {
      ...DEFAULT_WIRE_LIMITS,
      maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_WIRE_LIMITS.maxPayloadBytes,
    };
    this.config = {
      ...DEFAULT_ROUTING_CONFIG,
      ...definedOnly({
        leafSetSize: options.leafSetSize,
        neighbourhoodSize: options.neighbourhoodSize,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        failureTimeoutMs: options.failureTimeoutMs,
        probeTimeoutMs: options.probeTimeoutMs,
        joinTimeoutMs: options.joinTimeoutMs,
        regionMultiplier: options.regionMultiplier,
        tableMaintenanceIntervalMs: options.tableMaintenanceIntervalMs,
        maxHops: options.maxHops,
        maxPendingMessages: options.maxPendingMessages,
      }),
    };
    // The ticker runs every heartbeat/4: a gap as long as the failure timeout means this process itself was
    // paused (SIGSTOP, a stalled event loop), and its peers may have routed around it meanwhile. The
    // end-to-end ack waits for the applications' answer to a delivery (see deliver).
    this.config = {
      ...this.config,
      applicationAcks: true,
      pauseThresholdMs: Math.max(this.config.failureTimeoutMs, this.config.heartbeatIntervalMs),
    };
    validateConfig(this.config, this.limits);
    this.inboundLimits = {
      ...defaultInboundLimits(grpcMessageSizeLimit(this.limits)),
      ...definedOnly(options.inboundLimits ?? {}),
    };
    try {
      checkInboundLimits(this.inboundLimits, grpcMessageSizeLimit(this.limits));
    } catch (error) {
      throw new InvalidArgumentError(`inboundLimits: ${(error as Error).message}`);
    }
    this.forwarding = new ForwardGate({
      applications: () => this.apps,
      maxPurpose: this.limits.maxPurpose,
      maxPayloadBytes: this.limits.maxPayloadBytes,
      guard: (callback) => this.callback(callback),
      reportError: (error) => this.reportError(error),
    });
    this.pool = new PeerClientPool({
      channelSecurity: peerChannelSecurity(options.tls ?? { enabled: false }),
      rpcTimeoutMs: options.rpcTimeoutMs ?? 1000,
      maxMessageBytes: grpcMessageSizeLimit(this.limits),
      maxInFlightPerPeer: options.maxInFlightPerPeer ?? 4096,
      maxConnections: options.maxConnections ?? 1024,
      routeStreaming: options.routeStreaming ?? true,
      now: () => this.clock.now(),
      onConnectionLost: (address) => {
        const peer = this.peerAt.get(address);
        if (peer !== undefined) this.input((core, now) => core.connectionLost(peer, now));
      },
    });
    this.auth = callAuthFor(
      credentials,
      (address, challenge) => this.pool.hello(address, this.info(), challenge),
      () => this.clock.now(),
      {
        maxHellosPerSecond: options.maxHellosPerSecond,
        maxHellosPerSecondPerSource: options.maxHellosPerSecondPerSource,
      },
    );
    this.pool.useSigner(this.auth.signer);
  }

  /** Registers an application; every registered application sees every callback. */
  registerApplication(app: Application): void {
    this.apps.push(app);
  }

  /** Adds an asynchronous forward hook; returns a function that removes it. */
  addForwardInterceptor(interceptor: ForwardInterceptor): () => void {
    return this.forwarding.addInterceptor(interceptor);
  }

  /**
   * Binds the peer port and starts the node as a one-node overlay of its own. Call `join` afterwards to
   * join an existing overlay instead. With `joinFirst` the node is no overlay of its own until `join` (or
   * `found`): meanwhile it refuses every peer message (UNAVAILABLE, trailer wendy-refused: not joined) and
   * every send, so that a peer that still knows this address (a previous process on the same port) cannot
   * make it a member before its join, which would then be refused.
   */
  async listen(options: { readonly joinFirst?: boolean } = {}): Promise<void> {
    if (this.state !== "new") throw new NotReadyError(`listen() called twice (state ${this.state})`);
    const server = new Server({
      "grpc.max_receive_message_length": grpcMessageSizeLimit(this.limits),
      "grpc.max_send_message_length": grpcMessageSizeLimit(this.limits),
      ...inboundServerOptions(this.inboundLimits),
    });
    this.peerService = addPeerService(server, {
      verifier: this.auth.verifier,
      limits: this.limits,
      sink: (sender, message) => this.onPeerMessage(sender, message),
      hooks: {
        onServed: (path, code) => this.options.metrics?.peerRpcServed(path, code),
        onAuthFailure: (reason) => this.onAuthFailure(reason),
      },
    });
    if (this.options.serveHealth !== false) this.health.addTo(server);
    if (this.options.serveReflection !== false) {
      addLazyReflection(server);
    }
    this.options.configureServer?.(server);
    const credentials = peerServerCredentials(this.options.tls ?? { enabled: false });
    const bindHosts = [this.options.bindHost ?? "0.0.0.0"].flat();
    // The first address may pick a free port; every further one binds that same port.
    let port = this.node.port;
    for (const host of bindHosts) {
      port = await bind(server, hostPort(host, port), credentials);
    }
    new InboundGuard(this.inboundLimits, {
      onRefused: (limit) => this.options.logger?.debug({ limit }, "peer connection broke an inbound limit"),
    }).attach(server);
    this.server = server;
    this.node.setBoundPort(port);
    this.self = this.node.info(this.incarnation);
    this.core = this.newCore();
    this.state = "listening";
    this.awaitingJoin = options.joinFirst === true;
    if (!this.awaitingJoin) this.input((core, now) => core.bootstrap(now));
    this.ticker = setInterval(
      () => this.input((core, now) => core.tick(now)),
      Math.max(10, this.config.heartbeatIntervalMs / 4),
    );
  }

  /**
   * Joins the overlay that `host:port` (or any of `seeds`, "host:port" each) belongs to. Resolves once this
   * node is ready: its leaf set is complete and confirmed by every member. Rejects with JoinError when every
   * seed failed.
   */
  join(host: string, port: number): Promise<void>;
  join(seeds: readonly string[]): Promise<void>;
  async join(hostOrSeeds: string | readonly string[], port?: number): Promise<void> {
    const seeds = typeof hostOrSeeds === "string" ? [hostPort(hostOrSeeds, port ?? 0)] : [...hostOrSeeds];
    const self = this.requireSelf();
    const others = seeds.filter((s) => s !== self.localAddress && s !== self.globalAddress);
    if (others.length === 0)
      throw new InvalidArgumentError("join needs at least one seed other than this node");
    const alone = this.core !== undefined && this.core.knownPeers().length === 0;
    if (!((this.state === "listening" || this.state === "ready") && alone)) {
      throw new NotReadyError(
        `join() needs a listening node that is not yet part of an overlay with others (state ${this.state})`,
      );
    }
    // A fresh machine: the one-node overlay made by listen() has nothing worth keeping.
    this.core = this.newCore();
    this.state = "joining";
    this.awaitingJoin = false;
    this.health.setAll(false);
    this.joinStartedAt = this.clock.now();
    this.options.metrics?.joinStarted();
    this.joinSeeds = others;
    this.joinAttempts = 0;
    const joined = new Promise<void>((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
    this.input((core, now) => core.join(others, now));
    return joined;
  }

  /**
   * Starts a new overlay with this node as its only member: for a node listened with `joinFirst` that found
   * no seed to join through (the first seed of a new ring).
   */
  found(): void {
    if (!(this.state === "listening" && this.awaitingJoin))
      throw new NotReadyError(`found() needs a node listening to join first (state ${this.state})`);
    this.awaitingJoin = false;
    this.input((core, now) => core.bootstrap(now));
  }

  /** A message to send; purposes below 16 are reserved for the protocol. */
  newMessage(purpose: number, key: NodeId, payload: Uint8Array): Message {
    if (
      !Number.isInteger(purpose) ||
      purpose < FIRST_APPLICATION_PURPOSE ||
      purpose > this.limits.maxPurpose
    ) {
      throw new InvalidArgumentError(
        `purpose must be an integer in ${FIRST_APPLICATION_PURPOSE}..${this.limits.maxPurpose} (below ${FIRST_APPLICATION_PURPOSE} is reserved), got ${purpose}`,
      );
    }
    if (payload.byteLength > this.limits.maxPayloadBytes) {
      throw new InvalidArgumentError(
        `payload of ${payload.byteLength} bytes exceeds the limit of ${this.limits.maxPayloadBytes}`,
      );
    }
    return { id: "", key, purpose, payload, origin: this.requireSelf(), hops: 0 };
  }

  /**
   * Routes `message` towards its key. Resolves once the node accepted it (or, with waitForAck, once the
   * delivering node acknowledged it). A node still joining queues it and routes it once ready.
   */
  send(message: Message, options: ClusterSendOptions = {}): Promise<SendResult> {
    const checked = this.newMessage(message.purpose, message.key, message.payload);
    return this.route(checked.key, checked.purpose, checked.payload, options, false);
  }

  /**
   * For the runtime's own services (e.g. call replies): routes on a reserved purpose (1..15). Messages on
   * reserved purposes are delivered to `onReserved` handlers, never to applications.
   */
  sendReserved(
    purpose: number,
    key: NodeId,
    payload: Uint8Array,
    options: ClusterSendOptions = {},
  ): Promise<SendResult> {
    if (!Number.isInteger(purpose) || purpose < 1 || purpose >= FIRST_APPLICATION_PURPOSE) {
      throw new InvalidArgumentError(
        `reserved purposes are 1..${FIRST_APPLICATION_PURPOSE - 1}, got ${purpose}`,
      );
    }
    if (payload.byteLength > this.limits.maxPayloadBytes) {
      throw new InvalidArgumentError(
        `payload of ${payload.byteLength} bytes exceeds the limit of ${this.limits.maxPayloadBytes}`,
      );
    }
    return this.route(key, purpose, payload, options, true);
  }

  /** Receives messages delivered here on reserved `purpose`; returns a function that unregisters. */
  onReserved(purpose: number, handler: (message: Message) => void): () => void {
    this.reservedHandlers.set(purpose, handler);
    return () => {
      if (this.reservedHandlers.get(purpose) === handler) this.reservedHandlers.delete(purpose);
    };
  }

  private route(
    key: NodeId,
    purpose: number,
    payload: Uint8Array,
    options: ClusterSendOptions,
    reserved: boolean,
  ): Promise<SendResult> {
    if (this.state === "stopping" || this.state === "stopped" || this.state === "new") {
      return Promise.reject(new NotReadyError(`cannot send: the node is ${this.state}`));
    }
    if (this.awaitingJoin) {
      return Promise.reject(new NotReadyError("cannot send: the node has not joined an overlay yet"));
    }
    let id = "";
    let refused: WendyError | undefined;
    let ackedAtOnce: SendResult | undefined;
    this.input(
      (core, now) => {
        id = core.send(key, purpose, payload, { wantAck: options.waitForAck === true, reserved }, now);
        if (options.waitForAck === true) this.routingMetrics?.sending(id, now);
      },
      // Outcomes decided within this very input (local delivery, a full queue) are seen here, since
      // the pending acknowledgement is only registered once the id is known.
      (output) => {
        if (output.type !== "event") return;
        const event = output.event;
        if (event.type === "dropped" && event.message.id === id) {
          refused =
            event.reason === "queue_full"
              ? new ResourceExhaustedError("the queue of messages waiting for the join to complete is full")
              : new WendyError(`message dropped: ${event.reason}`, status.UNAVAILABLE);
        } else if (event.type === "acked" && event.messageId === id) {
          ackedAtOnce = { messageId: id, deliveredBy: event.deliveredBy, hops: event.hops };
        }
      },
    );
    this.options.metrics?.messageSent();
    if (refused !== undefined) return Promise.reject(refused);
    if (options.waitForAck !== true) return Promise.resolve({ messageId: id });
    if (ackedAtOnce !== undefined) return Promise.resolve(ackedAtOnce);
    const acknowledged = new Promise<SendResult>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        this.pendingAcks.delete(id);
        reject(
          new WendyError(
            `no acknowledgement for message ${id} within ${timeoutMs} ms`,
            status.DEADLINE_EXCEEDED,
          ),
        );
      }, timeoutMs);
      this.pendingAcks.set(id, { resolve, reject, timer });
    });
    // A graceful stop lets the acknowledgements of its own sends arrive too (within its grace).
    this.track(acknowledged.then(ignore, ignore));
    return acknowledged;
  }

  /** Leaves the overlay gracefully: tells the leaf set, lets in-flight calls finish, then closes. */
  async stop(graceMs = 2000): Promise<StopResult> {
    if (this.state === "stopped" || this.state === "stopping" || this.state === "new") {
      this.state = "stopped";
      return { drained: true };
    }
    this.state = "stopping";
    this.health.setAll(false);
    this.input((core, now) => core.leave(now));
    const started = this.clock.now();
    const settled = await waitAll(this.inFlight, graceMs);
    const closed = await this.shutdown(false, Math.max(0, graceMs - (this.clock.now() - started)));
    return { drained: settled && closed };
  }

  /** Stops at once without telling anyone (tests of failure handling). */
  async kill(): Promise<void> {
    if (this.state === "stopped") return;
    await this.shutdown(true, 0);
  }

  /** True once joined (or bootstrapped) and consistent. */
  get ready(): boolean {
    return this.state === "ready";
  }

  /** This node as the overlay sees it (after listen). */
  info(): NodeInfo {
    return this.requireSelf();
  }

  leafSet(): { left: NodeInfo[]; right: NodeInfo[] } {
    return this.requireCore().leafSet();
  }

  routingTable(): ReadonlyArray<ReadonlyArray<NodeInfo | undefined>> {
    return this.requireCore().routingTable();
  }

  neighbourhood(): NodeInfo[] {
    return this.requireCore().neighbourhood();
  }

  knownPeers(): NodeInfo[] {
    return this.requireCore().knownPeers();
  }

  /** The node this node believes owns `key` now (itself included). */
  owner(key: NodeId): NodeInfo {
    return this.requireCore().owner(key);
  }

  /** The k live nodes closest to `key` that this node knows (exact for k <= l/2 + 1). */
  replicas(key: NodeId, k: number): NodeInfo[] {
    if (!Number.isInteger(k) || k < 1)
      throw new InvalidArgumentError(`replica count must be a positive integer, got ${k}`);
    return this.requireCore().replicas(key, k);
  }

  stats(): ReturnType<PastryNode["stats"]> & { openConnections: number } {
    return { ...this.requireCore().stats(), openConnections: this.pool.openConnections };
  }

  /** Authentication failures seen on the peer port, by reason. */
  authFailures(): Record<string, number> {
    return Object.fromEntries(this.auth.verifier.failures.snapshot());
  }

  /** The peer addresses this node holds a connection to (which of a peer's addresses it chose). */
  connectedAddresses(): string[] {
    return this.pool.connectedAddresses();
  }

  // ------------------------------------------------------------------------------------------ internals

  private newCore(): PastryNode {
    return new PastryNode(this.requireSelf(), { random: this.random, config: this.config });
  }

  private requireSelf(): NodeInfo {
    if (this.self === undefined)
      throw new NotReadyError("the node is not listening yet: call listen() first");
    return this.self;
  }

  private requireCore(): PastryNode {
    if (this.core === undefined)
      throw new NotReadyError("the node is not listening yet: call listen() first");
    return this.core;
  }

  /** Runs one input through the state machine and acts on everything it produced. */
  private input(step: (core: PastryNode, now: number) => void, inspect?: (output: Output) => void): void {
    const core = this.core;
    if (core === undefined || this.state === "stopped") return;
    step(core, this.clock.now());
    for (const output of core.takeOutputs()) {
      inspect?.(output);
      this.trace?.output(output);
      try {
        this.act(output);
      } catch (error) {
        this.reportError(error);
      }
    }
  }

  private onPeerMessage(sender: NodeInfo, message: Parameters<PastryNode["receive"]>[1]): void {
    if (this.state === "stopped" || this.state === "new") {
      throw new WendyError("node is not running", status.UNAVAILABLE);
    }
    // A leaving node takes no new hop: refused, the sender routes around it at once, whereas one accepted
    // now could only be handed on again. End-to-end acks (for its own sends) and maintenance still count.
    if (this.state === "stopping" && (message.type === "route" || message.type === "join")) {
      throw new LeavingError("this node is leaving the overlay: route around it");
    }
    if (this.awaitingJoin)
      throw new NotJoinedError("this node has not joined the overlay yet: route around it");
    this.input((core, now) => core.receive(sender, message, now));
  }

  private act(output: Output): void {
    switch (output.type) {
      case "send":
        return this.transmit(output.out);
      case "deliver":
        return this.deliver(output.message);
      case "forward":
        return this.forwarding.decide(output.message, output.next);
      case "event":
        return this.onEvent(output.event);
    }
  }

  private transmit(out: Outbound): void {
    if (out.message.type !== "route") return this.dispatch(out);
    const plan = this.forwarding.planFor(out.message.message);
    switch (plan.kind) {
      case "veto":
        this.options.metrics?.messageDropped("vetoed");
        return;
      case "send":
        this.options.metrics?.messageForwarded();
        return this.dispatch({ ...out, message: { type: "route", message: plan.message } });
      case "wait":
        return this.track(
          plan.decision.then((message) => {
            if (this.state === "stopped") return this.options.metrics?.messageDropped("undeliverable");
            if (message === false) return this.options.metrics?.messageDropped("vetoed");
            this.options.metrics?.messageForwarded();
            this.dispatch({ ...out, message: { type: "route", message } });
          }),
        );
    }
  }

  /** Hands one message to the transport and feeds the outcome back. */
  private dispatch(outbound: Outbound): void {
    const self = this.requireSelf();
    if (outbound.to !== undefined) this.notePeerAt(outbound.address, outbound.to);
    const path = peerRpcPath(outbound.message.type);
    const started = this.clock.now();
    this.track(
      this.pool.send(self, outbound).then(
        (rtt) => {
          this.options.metrics?.peerRpcCompleted(path, status.OK, rtt / 1000);
          const to = outbound.to;
          if (to === undefined) return;
          if (outbound.message.type === "heartbeat") this.input((core, now) => core.reportRtt(to, rtt, now));
          this.noteAcknowledged(to);
        },
        (error: unknown) => {
          const failure = error instanceof PeerFailure ? error : undefined;
          const code = failure?.code ?? status.UNKNOWN;
          this.options.logger?.debug(
            { to: outbound.address, type: outbound.message.type, code, error: String(error) },
            "peer call failed",
          );
          this.options.metrics?.peerRpcCompleted(path, code, (this.clock.now() - started) / 1000);
          // Only failures that demand action go back to the core (see REPORTED_FAILURES).
          if (REPORTED_FAILURES.has(outbound.message.type)) {
            const cause = failure?.neverArrived === true ? "unreachable" : "unknown";
            this.input((core, now) => core.sendFailed(outbound, now, cause));
          }
        },
      ),
    );
  }

  private notePeerAt(address: string, peer: NodeInfo): void {
    // Re-inserted, so the addresses called longest ago are the ones forgotten.
    this.peerAt.delete(address);
    this.peerAt.set(address, peer);
  }

  /**
   * An acknowledged call is first-hand proof that the peer lives: the core hears of it, at most a few times
   * per heartbeat interval per peer (busy links acknowledge thousands of hops a second).
   */
  private noteAcknowledged(peer: NodeInfo): void {
    const now = this.clock.now();
    const key = `${peer.id.hex}:${peer.incarnation}`;
    const last = this.lastAcknowledged.get(key);
    if (last !== undefined && now - last < this.config.heartbeatIntervalMs / 4) return;
    // Re-inserted, so the peers heard from longest ago are the ones forgotten.
    this.lastAcknowledged.delete(key);
    this.lastAcknowledged.set(key, now);
    this.routingMetrics?.heardFrom(peer, now);
    this.input((core, at) => core.heardFrom(peer, at));
  }

  /** Keeps `work` in the set that a graceful stop waits for. */
  private track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private deliver(message: RouteMessage): void {
    const delivered = toMessage(message);
    if (message.purpose < FIRST_APPLICATION_PURPOSE) {
      const handler = this.reservedHandlers.get(message.purpose);
      if (handler !== undefined) this.callback(() => handler(delivered));
      if (message.wantAck) this.answerDelivery(message, Promise.resolve());
      return;
    }
    this.options.metrics?.messageDelivered(message.hops);
    const answers: Promise<void>[] = [];
    for (const app of this.apps) {
      if (app.onDeliver === undefined) continue;
      try {
        answers.push(Promise.resolve(app.onDeliver(delivered)));
      } catch (error) {
        answers.push(Promise.reject(error instanceof Error ? error : new Error(String(error))));
      }
    }
    if (!message.wantAck) {
      // Nobody waits for the outcome: an application that refuses has counted or reported it itself.
      for (const answer of answers) answer.catch(() => undefined);
      return;
    }
    if (answers.length === 0) {
      const self = this.requireSelf();
      const refusal = new WendyError(
        `no application at node ${self.id.hex} (the key's owner) takes deliveries (purpose ${message.purpose})`,
        status.FAILED_PRECONDITION,
      );
      answers.push(Promise.reject(refusal));
    }
    this.answerDelivery(message, Promise.all(answers));
  }

  /**
   * Tells the core how the applications answered a delivered message that wants an ack. Always on a later
   * turn, so that a send to a key this node owns has registered its pending ack by then.
   */
  private answerDelivery(message: RouteMessage, answered: Promise<unknown>): void {
    // Tracked: a graceful stop waits for the application's answer and the ack it sends (within its grace),
    // or a delivery made just before the leave would never be answered and its sender wait out its timeout.
    const work = answered.then(
      () => this.input((core, now) => core.applicationAcknowledged(message.id, now)),
      (error: unknown) => {
        const refusal = refusalOf(error);
        this.input((core, now) => core.applicationRefused(message.id, refusal, now));
      },
    );
    this.track(work);
  }

  private onEvent(event: RoutingEvent): void {
    this.routingMetrics?.event(event, this.clock.now());
    switch (event.type) {
      case "ready":
        this.becomeReady();
        return;
      case "nodeJoined":
        for (const app of this.apps) this.callback(() => app.onNodeJoin?.(event.node));
        return;
      case "nodeExited":
        for (const app of this.apps) this.callback(() => app.onNodeExit?.(event.node, event.graceful));
        return;
      case "leafSetChanged":
        for (const app of this.apps) this.callback(() => app.onNewLeaves?.(event.leafSet));
        return;
      case "heartbeat":
        for (const app of this.apps) this.callback(() => app.onHeartbeat?.(event.from));
        return;
      case "dropped": {
        const pending = this.pendingAcks.get(event.message.id);
        if (pending !== undefined) {
          this.pendingAcks.delete(event.message.id);
          clearTimeout(pending.timer);
          pending.reject(
            new WendyError(`message ${event.message.id} dropped: ${event.reason}`, status.UNAVAILABLE),
          );
        }
        return;
      }
      case "refused": {
        const pending = this.pendingAcks.get(event.messageId);
        if (pending === undefined) return;
        this.pendingAcks.delete(event.messageId);
        clearTimeout(pending.timer);
        pending.reject(new WendyError(event.refusal.reason, event.refusal.code as status));
        return;
      }
      case "acked": {
        const pending = this.pendingAcks.get(event.messageId);
        if (pending === undefined) return;
        this.pendingAcks.delete(event.messageId);
        clearTimeout(pending.timer);
        pending.resolve({ messageId: event.messageId, deliveredBy: event.deliveredBy, hops: event.hops });
        return;
      }
      case "joinFailed":
        return this.retryJoin(event.reason);
    }
  }

  /** Every seed failed this round: try again after a backoff, until the retry window is spent. */
  private retryJoin(reason: string): void {
    const elapsed = this.clock.now() - this.joinStartedAt;
    if (this.state !== "joining") return;
    if (elapsed >= (this.options.joinRetryWindowMs ?? 60_000)) {
      this.options.metrics?.joinFailed();
      // Nothing from the failed attempt is kept: a later join() starts from a clean machine, and until then
      // this node is no member of anything (a peer's message would make it one of a one-node overlay).
      this.core = this.newCore();
      this.state = "listening";
      this.awaitingJoin = true;
      const error = new JoinError(
        `could not join through any seed within ${Math.round(elapsed)} ms: ${reason}`,
      );
      for (const w of this.joinWaiters.splice(0)) w.reject(error);
      return;
    }
    const backoff = Math.min(5000, 250 * 2 ** this.joinAttempts++) * (0.5 + this.random.next() / 2);
    this.options.logger?.info({ reason, backoffMs: Math.round(backoff) }, "join round failed; retrying");
    this.joinRetry = setTimeout(() => {
      this.joinRetry = undefined;
      if (this.state !== "joining") return;
      this.core = this.newCore();
      this.input((core, now) => core.join(this.joinSeeds, now));
    }, backoff);
  }

  private becomeReady(): void {
    if (this.state === "joining")
      this.options.metrics?.joinCompleted((this.clock.now() - this.joinStartedAt) / 1000);
    if (this.state === "joining" || this.state === "listening") this.state = "ready";
    this.health.setAll(this.state === "ready");
    for (const w of this.joinWaiters.splice(0)) w.resolve();
  }

  private onAuthFailure(reason: AuthFailureReason): void {
    this.options.metrics?.authenticationFailed(reason);
  }

  private callback<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.reportError(error);
      return undefined;
    }
  }

  private reportError(error: unknown): void {
    const e = error instanceof Error ? error : new Error(String(error));
    let handled = false;
    for (const app of this.apps) {
      if (app.onError === undefined) continue;
      handled = true;
      try {
        app.onError(e);
      } catch {
        // An error handler that throws has nowhere left to report to.
      }
    }
    if (!handled) process.emitWarning(e);
  }

  /** Resolves true when the server closed by itself, false when the grace period had to cut it off. */
  private async shutdown(force: boolean, graceMs: number): Promise<boolean> {
    this.state = "stopped";
    if (this.ticker !== undefined) clearInterval(this.ticker);
    if (this.joinRetry !== undefined) clearTimeout(this.joinRetry);
    this.health.endWatches();
    for (const [id, pending] of this.pendingAcks) {
      clearTimeout(pending.timer);
      pending.reject(new NotReadyError(`node stopped before message ${id} was acknowledged`));
    }
    this.pendingAcks.clear();
    for (const w of this.joinWaiters.splice(0))
      w.reject(new NotReadyError("node stopped before the join completed"));
    this.pool.close();
    this.peerService?.endStreams();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return true;
    if (force) {
      server.forceShutdown();
      return false;
    }
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve(false);
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** gRPC status codes a refusal may carry; anything else an application throws is UNKNOWN. */
const MAX_STATUS_CODE = 16;
/** The longest refusal reason sent to the origin (the wire allows 1024). */
const MAX_REFUSAL_REASON = 1000;

/** What an application's rejection tells the message's origin: its status code and message. */
function refusalOf(error: unknown): { code: number; reason: string } {
  const reason = (error instanceof Error ? error.message : String(error)).slice(0, MAX_REFUSAL_REASON);
  const code = (error as { code?: unknown } | null)?.code;
  const valid = typeof code === "number" && Number.isInteger(code) && code > 0 && code <= MAX_STATUS_CODE;
  return { code: valid ? code : status.UNKNOWN, reason };
}

function bind(server: Server, address: string, credentials: ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, bound) =>
      error
        ? reject(new WendyError(`cannot listen on ${address}: ${error.message}`, status.UNAVAILABLE))
        : resolve(bound),
    ),
  );
}

function ignore(): void {}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validateConfig(c: RoutingConfig, limits: WireLimits): void {
  const positive: [string, number][] = [
    ["heartbeatIntervalMs", c.heartbeatIntervalMs],
    ["failureTimeoutMs", c.failureTimeoutMs],
    ["probeTimeoutMs", c.probeTimeoutMs],
    ["joinTimeoutMs", c.joinTimeoutMs],
    ["regionMultiplier", c.regionMultiplier],
    ["maxPayloadBytes", limits.maxPayloadBytes],
  ];
  for (const [name, value] of positive) {
    if (!(Number.isFinite(value) && value > 0))
      throw new InvalidArgumentError(`${name} must be a positive number, got ${value}`);
  }
  // Checked here rather than when the routing core is built at listen(), so a bad option fails at once.
  if (!(c.tableMaintenanceIntervalMs > 0)) {
    throw new InvalidArgumentError(
      `tableMaintenanceIntervalMs must be a positive number or Infinity (never), got ${c.tableMaintenanceIntervalMs}`,
    );
  }
  if (!Number.isInteger(c.leafSetSize) || c.leafSetSize % 2 !== 0 || c.leafSetSize > 128) {
    throw new InvalidArgumentError(
      `leafSetSize must be an even integer in ${MIN_LEAF_SET_SIZE}..128, got ${c.leafSetSize}`,
    );
  }
  if (c.leafSetSize < MIN_LEAF_SET_SIZE) {
    throw new InvalidArgumentError(`leafSetSize must be ${MIN_LEAF_SET_SIZE_REASON}; got ${c.leafSetSize}`);
  }
  if (!Number.isInteger(c.maxHops) || c.maxHops < 1 || c.maxHops > limits.maxHops) {
    throw new InvalidArgumentError(`maxHops must be an integer in 1..${limits.maxHops}, got ${c.maxHops}`);
  }
}

/**
 * Resolves true once the set is empty, false when `ms` passed first. Work settling may add work (a hop
 * handed on after a failed one, an ack sent again), so the set is awaited until it stays empty.
 */
async function waitAll(promises: Set<Promise<unknown>>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  let settled = true;
  // Bounded by the timer: each round waits for at least one promise, and rounds end when time runs out.
  while (promises.size > 0) {
    const round = await Promise.race([Promise.allSettled([...promises]).then(() => true), outOfTime]);
    if (!round) {
      settled = false;
      break;
    }
  }
  clearTimeout(timer);
  return settled;
}
