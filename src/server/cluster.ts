// The embeddable Wendy API: a running Pastry node. It opens the peer port, follows the node's life (listen,
// join, ready, leave) and answers the embedder's calls; the parts with rules of their own live in cluster/:
// options and their checks, the peer port's server (bind, shutdown), the driver that runs the routing state
// machine (input, act, transmit, ticker), the applications' side of deliveries and events, the sends
// waiting for acks, and join rounds. All decisions stay in the state machine; this file and those only
// move things around. Why it is still a little above 600 lines: it is the class embedders use, so every
// public method (send, sendReserved, sendToNode, leave, stop, the queries) and its documentation lives
// here, each a few lines that hand over to the parts above; splitting the class itself would only add a
// layer that mirrors it.
import { randomBytes, randomInt } from "node:crypto";
import { status, type Server } from "@grpc/grpc-js";
import type { NodeId } from "../routing/id.js";
import { PastryNode } from "../routing/node.js";
import { addressFor } from "../routing/proximity.js";
import {
  FIRST_APPLICATION_PURPOSE,
  type NodeInfo,
  type RandomSource,
  type Refusal,
  type RoutingConfig,
  type RouteMessage,
  type RoutingEvent,
} from "../routing/types.js";
import {
  applicationPurposeProblem,
  grpcMessageSizeLimit,
  payloadProblem,
  type WireLimits,
} from "../wire/limits.js";
import type { BatchedAck, DirectMessage } from "../wire/codec.js";
import type { Application, Message } from "./application.js";
import { ForwardGate, type ForwardInterceptor } from "./forwarding.js";
import type { Credentials, SharedSecretCredentials } from "./auth/credentials.js";
import type { AuthFailureReason } from "./auth/failures.js";
import { checkClaim } from "./auth/node-identity.js";
import type { SenderCheck } from "./transport/peer-service-hooks.js";
import { identityRequired, peerChannelSecurity, type PeerChannelSecurity } from "./auth/tls.js";
import { monotonicClock, type Clock } from "./clock.js";
import {
  InvalidArgumentError,
  LeavingError,
  NotJoinedError,
  NotReadyError,
  ResourceExhaustedError,
  WendyError,
} from "./errors.js";
import { RoutingMetrics } from "./metrics/routing-metrics.js";
import { MessageTrace } from "./message-trace.js";
import { hostPort, type Node } from "./node.js";
import { callAuthFor, type CallAuth } from "./transport/call-auth.js";
import { HealthStatus } from "./transport/health.js";
import type { InboundLimits } from "./transport/inbound-limits.js";
import { PeerClientPool } from "./transport/peer-client.js";
import type { PeerServiceHandle } from "./transport/peer-server.js";
import { Applications } from "./cluster/applications.js";
import { CoreDriver } from "./cluster/driver.js";
import { JoinRounds } from "./cluster/join-rounds.js";
import { closePeerPort, openPeerPort } from "./cluster/peer-port.js";
import { reportRenewalRefusals } from "./cluster/renewal-refusals.js";
import { clusterSettings, type ClusterOptions } from "./cluster/options.js";
import { PendingAcks, type SendResult } from "./cluster/pending-acks.js";

export type { ClusterOptions, Logger } from "./cluster/options.js";
export type { SendResult } from "./cluster/pending-acks.js";

/** What the node's further services on the peer port (the key-value store's) share with PeerService. */
export interface PeerTransport {
  /** The same authenticated sessions: calls signed by `signer`, checked by `verifier`. */
  readonly auth: CallAuth;
  /** TLS credentials and name options for a channel to one peer address. */
  readonly channelSecurity: (address: string) => PeerChannelSecurity;
  /** Largest gRPC message, in bytes. */
  readonly maxMessageBytes: number;
  /** Largest application payload, in bytes. */
  readonly maxPayloadBytes: number;
  readonly leafSetSize: number;
  /** Under per-node identities: the check of a caller's claim about itself against its certificate. */
  readonly checkSender?: SenderCheck;
  /** An answer refused (no valid MAC, or from another node than the one called): counted, in metrics too. */
  readonly onAnswerRefused?: (reason: AuthFailureReason) => void;
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

type State = "new" | "listening" | "joining" | "ready" | "stopping" | "stopped";

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
  private readonly apps: Applications;
  private readonly auth: CallAuth;
  private readonly inboundLimits: InboundLimits;
  private readonly pool: PeerClientPool;
  private readonly routingMetrics: RoutingMetrics | undefined;
  private readonly trace: MessageTrace | undefined;
  private readonly pendingAcks = new PendingAcks();
  // Forward decisions taken on a "forward" output, applied to the "send" output that follows it.
  private readonly forwarding: ForwardGate;
  private readonly driver: CoreDriver;
  private readonly joins: JoinRounds;
  private server: Server | undefined;
  private peerService: PeerServiceHandle | undefined;
  private self: NodeInfo | undefined;
  private state: State = "new";
  /** Listening, not joined, no overlay of its own (see listen's joinFirst): refuses peers and sends. */
  private awaitingJoin = false;
  /** Ids of this node's direct messages (sendToNode), unique while in flight. */
  private directSent = 0;

  constructor(node: Node, credentials?: Credentials, options: ClusterOptions = {}) {
    const settings = clusterSettings(options, credentials);
    this.node = node;
    this.options = options;
    this.clock = options.clock ?? monotonicClock;
    this.random = options.random ?? cryptoRandom;
    this.incarnation = randomBytes(6).readUIntBE(0, 6);
    this.routingMetrics = options.metrics === undefined ? undefined : new RoutingMetrics(options.metrics);
    const trace = options.logger === undefined ? undefined : new MessageTrace(options.logger);
    this.trace = trace?.enabled === true ? trace : undefined;
    this.config = settings.config;
    this.limits = settings.limits;
    this.inboundLimits = settings.inboundLimits;
    this.apps = new Applications({
      metrics: options.metrics,
      selfHex: () => this.requireSelf().id.hex,
      answer: (messageId, answered) => this.answerDelivery(messageId, answered),
    });
    this.forwarding = new ForwardGate({
      applications: () => this.apps.registered,
      maxPurpose: this.limits.maxPurpose,
      maxPayloadBytes: this.limits.maxPayloadBytes,
      guard: (callback) => this.apps.guard(callback),
      reportError: (error) => this.apps.reportError(error),
    });
    this.pool = new PeerClientPool({
      channelSecurity: peerChannelSecurity(options.tls ?? { enabled: false }),
      rpcTimeoutMs: options.rpcTimeoutMs ?? 1000,
      maxMessageBytes: grpcMessageSizeLimit(this.limits),
      maxInFlightPerPeer: options.maxInFlightPerPeer ?? 4096,
      maxConnections: options.maxConnections ?? 1024,
      routeStreaming: options.routeStreaming ?? true,
      now: () => this.clock.now(),
      onConnectionLost: (address) => this.driver.connectionLost(address),
      // Answers refused (from another node than the one called, or without their MAC): counted here.
      onAuthFailure: (reason) => {
        this.auth.verifier.failures.record(reason);
        this.onAuthFailure(reason);
      },
      onResponseAck: (from, ack) => this.onResponseAck(from, ack),
      limits: this.limits,
    });
    this.driver = new CoreDriver({
      clock: this.clock,
      pool: this.pool,
      forwarding: this.forwarding,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      metrics: options.metrics,
      routingMetrics: this.routingMetrics,
      trace: this.trace,
      logger: options.logger,
      self: () => this.requireSelf(),
      running: () => this.state !== "stopped",
      deliver: (message) => this.apps.deliver(message),
      event: (event) => this.onEvent(event),
      reportError: (error) => this.apps.reportError(error),
    });
    this.joins = new JoinRounds({
      clock: this.clock,
      random: this.random,
      retryWindowMs: options.joinRetryWindowMs ?? 60_000,
      metrics: options.metrics,
      logger: options.logger,
    });
    this.auth = callAuthFor(
      credentials,
      (address, challenge) => this.pool.hello(address, this.info(), challenge),
      () => this.clock.now(),
      {
        maxHellosPerSecond: options.maxHellosPerSecond,
        maxHellosPerSecondPerSource: options.maxHellosPerSecondPerSource,
        nodeId: node.id.toBytes(),
      },
    );
    this.pool.useSigner(this.auth.signer);
    reportRenewalRefusals(options.tls ?? { enabled: false }, options);
  }

  /** Registers an application; every registered application sees every callback. */
  registerApplication(app: Application): void {
    this.apps.register(app);
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
    const { server, peerService, port } = await openPeerPort({
      options: this.options,
      port: this.node.port,
      limits: this.limits,
      inboundLimits: this.inboundLimits,
      verifier: this.auth.verifier,
      health: this.health,
      sink: (sender, message) => this.onPeerMessage(sender, message),
      onAuthFailure: (reason) => this.onAuthFailure(reason),
      connectionLost: (peer) => this.input((core, now) => core.connectionLost(peer, now)),
      streams: {
        accept: (sender, message) => this.acceptHop(sender, message),
        acceptDirect: (sender, direct) => this.onDirect(sender, direct),
        reverseSender: (peer) => this.pool.openRouteStream(addressFor(this.requireSelf(), peer)),
        links: this.pool.links,
      },
    });
    this.peerService = peerService;
    this.server = server;
    this.node.setBoundPort(port);
    this.self = this.node.info(this.incarnation);
    this.driver.use(this.newCore());
    this.state = "listening";
    this.awaitingJoin = options.joinFirst === true;
    if (!this.awaitingJoin) this.input((core, now) => core.bootstrap(now));
    this.driver.startTicker();
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
    const core = this.driver.core;
    const alone = core !== undefined && core.knownPeers().length === 0;
    if (!((this.state === "listening" || this.state === "ready") && alone)) {
      throw new NotReadyError(
        `join() needs a listening node that is not yet part of an overlay with others (state ${this.state})`,
      );
    }
    // A fresh machine: the one-node overlay made by listen() has nothing worth keeping.
    this.driver.use(this.newCore());
    this.state = "joining";
    this.awaitingJoin = false;
    this.health.setAll(false);
    const joined = this.joins.start(others);
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
    // The embedding API's edge: send() passes every message through here; nothing below checks again.
    const purposeProblem = applicationPurposeProblem(purpose, this.limits.maxPurpose);
    if (purposeProblem !== undefined) throw new InvalidArgumentError(`purpose: ${purposeProblem}`);
    const sizeProblem = payloadProblem(payload.byteLength, this.limits.maxPayloadBytes);
    if (sizeProblem !== undefined) throw new InvalidArgumentError(`payload: ${sizeProblem}`);
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
    return this.route(key, purpose, payload, options, true);
  }

  /**
   * For the runtime's own services: hands `payload` to node `to`'s handler of reserved `purpose` (its
   * onReserved), with this node as the message's origin. It goes straight to `to` on the RouteStream this
   * node already holds to it when `to` takes direct messages, without a routing decision on either side;
   * otherwise (no stream open, an older peer, `to` is this node) it is routed to `to`'s ID as sendReserved
   * would, whose owner is `to` while it lives. Resolves once handed over, as sendReserved does; a direct send
   * that fails (the stream broke, no acknowledgement in time) is routed then.
   */
  sendToNode(to: NodeInfo, purpose: number, payload: Uint8Array): Promise<void> {
    const self = this.requireSelf();
    const direct =
      this.state === "ready" && !to.id.equals(self.id)
        ? this.pool.sendDirect(self, addressFor(self, to), to.id.hex, {
            id: `${this.incarnation.toString(36)}-${(this.directSent++).toString(36)}`,
            purpose,
            payload,
          })
        : undefined;
    if (direct === undefined) return this.sendReserved(purpose, to.id, payload).then(ignore);
    // Tracked: a graceful stop lets it (or the routed copy) be acknowledged within its grace.
    this.track(direct.catch(() => this.sendReserved(purpose, to.id, payload)).then(ignore, ignore));
    return Promise.resolve();
  }

  /**
   * Receives messages delivered here on reserved `purpose`; returns a function that unregisters. With
   * `answersOrigin` the handler promises to answer each message's origin soon with sendToNode (as a Call's
   * request is answered): the acknowledgement of a hop straight from that origin then waits, briefly, to
   * ride in the answer's batch instead of going alone.
   */
  onReserved(
    purpose: number,
    handler: (message: Message) => void,
    options: { readonly answersOrigin?: boolean } = {},
  ): () => void {
    return this.apps.onReserved(purpose, handler, options.answersOrigin === true);
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
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.input(
      (core, now) => {
        // The core keeps sending a hop to a slow live peer for as long as we wait for the ack.
        const wantAck = options.waitForAck === true;
        id = core.send(key, purpose, payload, { wantAck, reserved, deadline: now + timeoutMs }, now);
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
    const acknowledged = this.pendingAcks.wait(id, timeoutMs);
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
    const settled = await this.driver.drain(graceMs);
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

  /**
   * The nodes replica sets are chosen from: this node and its leaf set, suspects left out (the same array
   * until they change: a cache keyed on it stays exact, see src/kv/placement.ts).
   */
  replicaCandidates(): readonly NodeInfo[] {
    return this.requireCore().replicaCandidates();
  }

  /** For the node's own services on the peer port: how they authenticate and reach peers. */
  peerTransport(): PeerTransport {
    return {
      auth: this.auth,
      channelSecurity: peerChannelSecurity(this.options.tls ?? { enabled: false }),
      maxMessageBytes: grpcMessageSizeLimit(this.limits),
      maxPayloadBytes: this.limits.maxPayloadBytes,
      leafSetSize: this.config.leafSetSize,
      ...(identityRequired(this.options.tls ?? { enabled: false }) ? { checkSender: checkClaim } : {}),
      onAnswerRefused: (reason) => {
        this.auth.verifier.failures.record(reason);
        this.onAuthFailure(reason);
      },
    };
  }

  stats(): ReturnType<PastryNode["stats"]> & { openConnections: number } {
    return { ...this.requireCore().stats(), openConnections: this.pool.openConnections };
  }

  /**
   * Moves to a rotated shared secret (its keys, this node's own first) without a restart: new sessions, in
   * both directions, use it; sessions under keys it no longer holds are dropped. Only a cluster that
   * started with a shared secret can rotate one.
   */
  rotateSecret(credentials: SharedSecretCredentials): void {
    if (this.auth.rekey === undefined) throw new Error("this cluster does not use a shared secret");
    this.auth.rekey(credentials);
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
    const core = this.driver.core;
    if (core === undefined) throw new NotReadyError("the node is not listening yet: call listen() first");
    return core;
  }

  /** Runs one input through the state machine and acts on everything it produced (see CoreDriver). */
  private input(...args: Parameters<CoreDriver["input"]>): void {
    this.driver.input(...args);
  }

  /** Keeps `work` in the set that a graceful stop waits for. */
  private track(work: Promise<unknown>): void {
    this.driver.track(work);
  }

  /**
   * A hop from a peer's RouteStream, as onPeerMessage. True when it came straight from its origin, was
   * delivered here, and something goes back to the origin soon on the stream to the sender, where the hop's
   * acknowledgement may ride: the answer of a purpose answered to its origin (onReserved's answersOrigin),
   * or the end-to-end acknowledgement of a message whose sender waits for it (wantAck), sent once the
   * applications here acknowledge it.
   */
  private acceptHop(sender: NodeInfo, message: RouteMessage): boolean {
    const answered = message.wantAck || this.apps.answersOrigin(message.purpose);
    if (!answered || !message.origin.id.equals(sender.id)) {
      this.onPeerMessage(sender, { type: "route", message });
      return false;
    }
    let delivered = false;
    this.onPeerMessage(sender, { type: "route", message }, (output) => {
      if (output.type === "deliver" && output.message.id === message.id) delivered = true;
    });
    return delivered;
  }

  private onPeerMessage(
    sender: NodeInfo,
    message: Parameters<PastryNode["receive"]>[1],
    inspect?: Parameters<CoreDriver["input"]>[1],
  ): void {
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
    this.input((core, now) => core.receive(sender, message, now), inspect);
  }

  /**
   * An end-to-end acknowledgement that came beside its hop's acknowledgement, from `from`: taken as one in a
   * batch from it. A node no longer running has no sender waiting for it.
   */
  private onResponseAck(from: NodeInfo, ack: BatchedAck): void {
    try {
      this.onPeerMessage(from, { type: "ack", ...ack });
    } catch (error) {
      if (!(error instanceof WendyError)) this.apps.reportError(error);
    }
  }

  /** A peer's direct message (sendToNode) for this node: to the handler of its reserved purpose. */
  private onDirect(sender: NodeInfo, direct: DirectMessage): void {
    if (this.state === "stopped" || this.state === "new") {
      throw new WendyError("node is not running", status.UNAVAILABLE);
    }
    if (this.awaitingJoin)
      throw new NotJoinedError("this node has not joined the overlay yet: route around it");
    const message: RouteMessage = {
      id: direct.id,
      key: this.requireSelf().id,
      purpose: direct.purpose,
      payload: direct.payload,
      origin: sender,
      hops: 0,
      maxHops: 0,
      wantAck: false,
    };
    this.apps.deliver(message);
  }

  /**
   * Tells the core how the applications answered a delivered message that wants an ack. Always on a later
   * turn, so that a send to a key this node owns has registered its pending ack by then.
   */
  private answerDelivery(messageId: string, answered: Promise<Refusal | undefined>): void {
    // Tracked: a graceful stop waits for the application's answer and the ack it sends (within its grace),
    // or a delivery made just before the leave would never be answered and its sender wait out its timeout.
    const work = answered.then((refusal) =>
      refusal === undefined
        ? this.input((core, now) => core.applicationAcknowledged(messageId, now))
        : this.input((core, now) => core.applicationRefused(messageId, refusal, now)),
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
      case "nodeExited":
      case "leafSetChanged":
      case "heartbeat":
        return this.apps.tell(event);
      case "dropped":
        return this.pendingAcks.dropped(event.message.id, event.reason);
      case "refused":
        return this.pendingAcks.refused(event.messageId, event.refusal);
      case "undelivered":
        return this.pendingAcks.undelivered(event.messageId, event.droppedBy, event.reason);
      case "acked":
        return this.pendingAcks.acked(event.messageId, event.deliveredBy, event.hops);
      case "joinFailed":
        return this.retryJoin(event.reason);
    }
  }

  /** Every seed failed this round: try again after a backoff, until the retry window is spent. */
  private retryJoin(reason: string): void {
    if (this.state !== "joining") return;
    const retrying = this.joins.roundFailed(reason, () => {
      if (this.state !== "joining") return;
      this.driver.use(this.newCore());
      this.input((core, now) => core.join(this.joins.seeds, now));
    });
    if (retrying) return;
    // Nothing from the failed attempt is kept: a later join() starts from a clean machine, and until then
    // this node is no member of anything (a peer's message would make it one of a one-node overlay).
    this.driver.use(this.newCore());
    this.state = "listening";
    this.awaitingJoin = true;
  }

  private becomeReady(): void {
    if (this.state === "joining") this.joins.succeeded();
    if (this.state === "joining" || this.state === "listening") this.state = "ready";
    this.health.setAll(this.state === "ready");
  }

  private onAuthFailure(reason: AuthFailureReason): void {
    this.options.metrics?.authenticationFailed(reason);
  }

  /** Resolves true when the server closed by itself, false when the grace period had to cut it off. */
  private async shutdown(force: boolean, graceMs: number): Promise<boolean> {
    this.state = "stopped";
    this.driver.stopTicker();
    this.health.endWatches();
    this.pendingAcks.stopped();
    this.joins.stopped();
    this.pool.close();
    this.peerService?.endStreams();
    this.options.onPeerPortClosing?.();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return true;
    return closePeerPort(server, force, graceMs);
  }
}

function ignore(): void {}
