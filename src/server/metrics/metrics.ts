// Prometheus metrics of one Wendy node. Each instance owns its own Registry (never prom-client's global
// one), so tests and several nodes in one process do not collide. Gauges that mirror the node's state are
// filled on scrape from a provider the runtime registers: no polling timer. Counters and histograms updated
// per message are plain numbers (scraped-counter, scraped-histogram) that prom-client reads at scrape time.
import { Counter, Gauge, Registry } from "./prom-client.js";
import {
  DEFAULT_AUTH_FAILURE_REASONS,
  DEFAULT_CLIENT_METHODS,
  DEFAULT_PEER_METHODS,
  DROP_REASONS,
  LabelWhitelist,
  MethodWhitelist,
  authFailureLabel,
  RPC_SIDES,
  type MetricsDropReason,
  type RpcSide,
  grpcCodeLabel,
} from "./labels.js";
import { registerProcessMetrics } from "./process-metrics.js";
import { LabelledCounter, PlainCounter } from "./scraped-counter.js";
import { ScrapedHistogram, type BucketCounts } from "./scraped-histogram.js";

export const METRIC_PREFIX = "wendy_";

/** What the runtime knows about the node's state, read at each scrape. Must be cheap and synchronous. */
export interface NodeStateSnapshot {
  readonly leafSetLeft: number;
  readonly leafSetRight: number;
  readonly routingTableEntries: number;
  readonly neighbourhoodSetSize: number;
  readonly knownPeers: number;
  readonly openPeerConnections: number;
  readonly subscribers: number;
  /** Bytes held for clients on all client-port streams together; undefined where there is no client port. */
  readonly clientQueuedBytes?: number;
  /** Joined with a complete, confirmed leaf set. */
  readonly ready: boolean;
  /** Cumulative counts from the routing core (they restart from 0 when a join starts a fresh core). */
  readonly rerouted: number;
  readonly hopRetries: number;
  readonly hopsParked: number;
  /** Route hops waiting now for a liveness verdict on their next hop. */
  readonly parkedHops: number;
  /** This node's ID when no leaf-set member has a smaller one (it holds its ring's smallest ID), else undefined. */
  readonly ringMinimum: string | undefined;
}

export type NodeStateProvider = () => NodeStateSnapshot;

export interface WendyMetricsOptions {
  /** This node's ID (32 hex digits); goes into wendy_build_info only. */
  readonly nodeId: string;
  /** Wendy's version, for wendy_build_info. */
  readonly version: string;
  /** Register Node.js process/runtime metrics too. Default true; turn off for many nodes in one process. */
  readonly processMetrics?: boolean;
  /** Override the whitelists (label values outside them are counted as "other"). */
  readonly peerMethods?: readonly string[];
  readonly clientMethods?: readonly string[];
  readonly authFailureReasons?: readonly string[];
}

// Buckets chosen for the defaults: ~log16(N) hops, LAN-to-WAN latencies, 10 s join timeout, ~3 s detection.
const HOP_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40];
const DELIVERY_LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const RPC_LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
];
const JOIN_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];
const FAILURE_DETECTION_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 60];

const EMPTY_STATE: NodeStateSnapshot = {
  leafSetLeft: 0,
  leafSetRight: 0,
  routingTableEntries: 0,
  neighbourhoodSetSize: 0,
  knownPeers: 0,
  openPeerConnections: 0,
  subscribers: 0,
  ready: false,
  rerouted: 0,
  hopRetries: 0,
  hopsParked: 0,
  parkedHops: 0,
  ringMinimum: undefined,
};

/** The label values of wendy_certificate_reloads_refused_total, exported at 0 from the start. */
export const CERTIFICATE_RELOAD_REFUSALS = ["missing_identity", "identity_mismatch"] as const;

export const MEMBERSHIP_CHANGES = ["joined", "left", "failed"] as const;
export type MembershipChange = (typeof MEMBERSHIP_CHANGES)[number];

export class WendyMetrics {
  readonly registry = new Registry();

  private stateProvider: NodeStateProvider = () => EMPTY_STATE;
  private readonly dropReasons = new LabelWhitelist(DROP_REASONS);
  private readonly sides = new LabelWhitelist(RPC_SIDES);
  private readonly peerMethods: MethodWhitelist;
  private readonly clientMethods: MethodWhitelist;
  private readonly authReasons: LabelWhitelist;

  private readonly messagesSent: PlainCounter;
  private readonly messagesForwarded: PlainCounter;
  private readonly messagesDelivered: PlainCounter;
  private readonly messagesDropped: LabelledCounter<"reason">;
  private readonly duplicatesSuppressed: PlainCounter;
  private readonly undeliveredNoSubscriberTotal: PlainCounter;
  private readonly joinsStarted: PlainCounter;
  private readonly joinsCompleted: PlainCounter;
  private readonly joinsFailed: PlainCounter;
  private readonly membershipChanges: LabelledCounter<"change">;
  private readonly leafSetChanges: PlainCounter;
  private readonly authFailures: LabelledCounter<"reason">;
  private readonly certificateReloadsRefused: LabelledCounter<"reason">;
  private readonly peerRpcs: LabelledCounter<"side" | "method" | "code">;
  private readonly clientRpcs: LabelledCounter<"method" | "code">;

  private readonly hops: BucketCounts<never>;
  private readonly deliveryLatency: BucketCounts<never>;
  private readonly peerRpcLatency: ScrapedHistogram<"method">;
  private readonly clientRpcLatency: ScrapedHistogram<"method">;
  private readonly joinDuration: BucketCounts<never>;
  private readonly failureDetection: BucketCounts<never>;

  constructor(options: WendyMetricsOptions) {
    this.peerMethods = new MethodWhitelist(options.peerMethods ?? DEFAULT_PEER_METHODS);
    this.clientMethods = new MethodWhitelist(options.clientMethods ?? DEFAULT_CLIENT_METHODS);
    this.authReasons = new LabelWhitelist(options.authFailureReasons ?? DEFAULT_AUTH_FAILURE_REASONS);
    const registry = this.registry;
    const registers = [registry];
    const counter = (name: string, help: string): PlainCounter =>
      new PlainCounter({ name: METRIC_PREFIX + name, help, registry });
    const labelled = <L extends string>(name: string, help: string, labelNames: L[]): LabelledCounter<L> =>
      new LabelledCounter<L>({ name: METRIC_PREFIX + name, help, labelNames, registry });
    const histogram = <L extends string = never>(
      name: string,
      help: string,
      buckets: readonly number[],
      labelNames: L[] = [],
    ): ScrapedHistogram<L> =>
      new ScrapedHistogram<L>({ name: METRIC_PREFIX + name, help, buckets, labelNames, registry });

    this.messagesSent = counter("messages_sent_total", "Application messages originated by this node.");
    this.messagesForwarded = counter("messages_forwarded_total", "Route messages forwarded to a next hop.");
    this.messagesDelivered = counter("messages_delivered_total", "Route messages delivered to this node.");
    this.messagesDropped = labelled("messages_dropped_total", "Route messages dropped, by reason.", [
      "reason",
    ]);
    this.duplicatesSuppressed = counter(
      "duplicates_suppressed_total",
      "Route messages received again (e.g. a retransmission) and not processed a second time.",
    );
    this.undeliveredNoSubscriberTotal = counter(
      "undelivered_no_subscriber_total",
      "Messages delivered to this node for which no local subscriber listened to the purpose.",
    );
    this.joinsStarted = counter("joins_started_total", "Join attempts started by this node.");
    this.joinsCompleted = counter("joins_completed_total", "Joins that completed (the node became ready).");
    this.joinsFailed = counter("joins_failed_total", "Joins that failed through every seed.");
    this.membershipChanges = labelled(
      "membership_changes_total",
      "Peers this node saw join, leave gracefully, or fail (found dead: silent, then unanswered probe).",
      ["change"],
    );
    for (const change of MEMBERSHIP_CHANGES) this.membershipChanges.inc({ change }, 0);
    this.leafSetChanges = counter("leaf_set_changes_total", "Changes to this node's leaf set.");
    this.authFailures = labelled(
      "authentication_failures_total",
      "Peer authentication failures, by reason.",
      ["reason"],
    );
    // Labelled as authentication failures are: a refused renewal names another node or none.
    this.certificateReloadsRefused = labelled(
      "certificate_reloads_refused_total",
      "Renewed peer certificates refused (per-node identities) for naming another node or none; the previous one stays in use.",
      ["reason"],
    );
    for (const reason of CERTIFICATE_RELOAD_REFUSALS) this.certificateReloadsRefused.inc({ reason }, 0);
    this.peerRpcs = labelled("peer_rpcs_total", "Node-to-node RPCs, by side, method and gRPC status code.", [
      "side",
      "method",
      "code",
    ]);
    this.clientRpcs = labelled(
      "client_rpcs_total",
      "Client-API RPCs served, by method and gRPC status code.",
      ["method", "code"],
    );

    this.hops = histogram(
      "delivered_message_hops",
      "Hops taken by messages delivered to this node.",
      HOP_BUCKETS,
    ).at({});
    this.deliveryLatency = histogram(
      "delivery_latency_seconds",
      "End-to-end time from send to acknowledged delivery, measured at the origin.",
      DELIVERY_LATENCY_BUCKETS,
    ).at({});
    this.peerRpcLatency = histogram(
      "peer_rpc_duration_seconds",
      "Round-trip time of outgoing node-to-node RPCs, by method.",
      RPC_LATENCY_BUCKETS,
      ["method"],
    );
    this.clientRpcLatency = histogram(
      "client_rpc_duration_seconds",
      "Time to answer client-API RPCs, by method (SendStream: each send on the stream).",
      DELIVERY_LATENCY_BUCKETS,
      ["method"],
    );
    this.joinDuration = histogram(
      "join_duration_seconds",
      "Time from starting a join to becoming ready.",
      JOIN_BUCKETS,
    ).at({});
    this.failureDetection = histogram(
      "failure_detection_seconds",
      "Time from a peer's last sign of life to this node declaring it dead.",
      FAILURE_DETECTION_BUCKETS,
    ).at({});

    this.registerStateGauges();
    const buildInfo = new Gauge<"version" | "node_id">({
      name: METRIC_PREFIX + "build_info",
      help: "Always 1; labels carry the Wendy version and this node's ID.",
      labelNames: ["version", "node_id"],
      registers,
    });
    buildInfo.set({ version: options.version, node_id: options.nodeId }, 1);

    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  /** The runtime registers how to read its state; it is called on every scrape. */
  setStateProvider(provider: NodeStateProvider): void {
    this.stateProvider = provider;
  }

  /** Prometheus text exposition of every metric. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type header value matching exposition(). */
  get contentType(): string {
    return this.registry.contentType;
  }

  messageSent(): void {
    this.messagesSent.inc();
  }

  messageForwarded(): void {
    this.messagesForwarded.inc();
  }

  /** A message was delivered here after `hops` hops. */
  messageDelivered(hops: number): void {
    this.messagesDelivered.inc();
    this.hops.observe(hops);
  }

  /** A route message was dropped; "duplicate" is the routing core refusing a message id it delivered before. */
  messageDropped(reason: MetricsDropReason): void {
    this.messagesDropped.inc({ reason: this.dropReasons.normalise(reason) });
  }

  /** The transport received a route message again (e.g. a retried hop) and did not pass it to the core. */
  duplicateSuppressed(): void {
    this.duplicatesSuppressed.inc();
  }

  /** Delivered here, but no local subscriber listens to its purpose (purpose is not a label: unbounded). */
  undeliveredNoSubscriber(): void {
    this.undeliveredNoSubscriberTotal.inc();
  }

  /** The origin saw the end-to-end acknowledgement `seconds` after sending. */
  observeDeliveryLatency(seconds: number): void {
    this.deliveryLatency.observe(seconds);
  }

  joinStarted(): void {
    this.joinsStarted.inc();
  }

  joinCompleted(durationSeconds: number): void {
    this.joinsCompleted.inc();
    this.joinDuration.observe(durationSeconds);
  }

  joinFailed(): void {
    this.joinsFailed.inc();
  }

  /** A peer joined or left gracefully (a failure goes through nodeFailureDetected). */
  membershipChanged(change: Exclude<MembershipChange, "failed">): void {
    this.membershipChanges.inc({ change });
  }

  /**
   * A peer was declared dead, `detectionSeconds` after its last sign of life when this node saw one (the
   * detection time is then observed; a peer never heard from counts without it).
   */
  nodeFailureDetected(detectionSeconds: number | undefined): void {
    this.membershipChanges.inc({ change: "failed" });
    if (detectionSeconds !== undefined) this.failureDetection.observe(detectionSeconds);
  }

  leafSetChanged(): void {
    this.leafSetChanges.inc();
  }

  /** A peer was refused; `reason` as the auth module names it ("bad-mac") or as its label ("bad_mac"). */
  authenticationFailed(reason: string): void {
    this.authFailures.inc({ reason: this.authReasons.normalise(authFailureLabel(reason)) });
  }

  /** A renewed peer certificate was refused; `reason` as the auth module names it ("identity-mismatch"). */
  certificateReloadRefused(reason: "missing-identity" | "identity-mismatch"): void {
    this.certificateReloadsRefused.inc({ reason: authFailureLabel(reason) });
  }

  /** This node answered a peer's RPC. `method` may be a bare name or a full gRPC path. */
  peerRpcServed(method: string, code: number | string): void {
    this.countPeerRpc("server", this.peerMethods.normalise(method), code);
  }

  /** An outgoing peer RPC finished after `seconds` (round trip, as the caller saw it). */
  peerRpcCompleted(method: string, code: number | string, seconds: number): void {
    const label = this.peerMethods.normalise(method);
    this.countPeerRpc("client", label, code);
    this.peerRpcLatency.observe({ method: label }, seconds);
  }

  clientRpcServed(method: string, code: number | string): void {
    this.clientRpcs.inc({ method: this.clientMethods.normalise(method), code: grpcCodeLabel(code) });
  }

  /** A client-API request was answered `seconds` after it arrived (unary calls, and each SendStream send). */
  observeClientRpcDuration(method: string, seconds: number): void {
    this.clientRpcLatency.observe({ method: this.clientMethods.normalise(method) }, seconds);
  }

  /** `method` is already a label value (normalised). */
  private countPeerRpc(side: RpcSide, method: string, code: number | string): void {
    this.peerRpcs.inc({ side: this.sides.normalise(side), method, code: grpcCodeLabel(code) });
  }

  private registerStateGauges(): void {
    const read = (): NodeStateSnapshot => this.stateProvider();
    const registers = [this.registry];
    const plain = (name: string, help: string, pick: (s: NodeStateSnapshot) => number): void => {
      new Gauge({
        name: METRIC_PREFIX + name,
        help,
        registers,
        collect() {
          this.set(pick(read()));
        },
      });
    };
    new Gauge<"side">({
      name: METRIC_PREFIX + "leaf_set_size",
      help: "Leaf-set members on each side of this node.",
      labelNames: ["side"],
      registers,
      collect() {
        const state = read();
        this.set({ side: "left" }, state.leafSetLeft);
        this.set({ side: "right" }, state.leafSetRight);
      },
    });
    plain("routing_table_entries", "Occupied routing-table slots.", (s) => s.routingTableEntries);
    plain("neighbourhood_set_size", "Members of the neighbourhood set.", (s) => s.neighbourhoodSetSize);
    plain("known_peers", "Distinct peers in any of this node's state tables.", (s) => s.knownPeers);
    plain("open_peer_connections", "Open gRPC channels to peers.", (s) => s.openPeerConnections);
    plain("subscribers", "Local client-API subscribers.", (s) => s.subscribers);
    plain(
      "client_queued_bytes",
      "Bytes held for clients on all client-port streams together (bounded by WENDY_CLIENT_MAX_QUEUED_BYTES).",
      (s) => s.clientQueuedBytes ?? 0,
    );
    plain("ready", "1 when joined with a confirmed leaf set, else 0.", (s) => (s.ready ? 1 : 0));
    plain("parked_hops", "Route hops waiting for a liveness verdict on their next hop.", (s) => s.parkedHops);
    const cumulative = (name: string, help: string, pick: (s: NodeStateSnapshot) => number): void => {
      new Counter({
        name: METRIC_PREFIX + name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(pick(read()));
        },
      });
    };
    cumulative(
      "reroutes_total",
      "Route messages sent around a next hop whose hop failed.",
      (s) => s.rerouted,
    );
    cumulative(
      "hop_retries_total",
      "Route hops sent again to the same next hop after a failure.",
      (s) => s.hopRetries,
    );
    cumulative(
      "hops_parked_total",
      "Route hops that waited for a liveness verdict on their next hop before going on.",
      (s) => s.hopsParked,
    );
    new Gauge<"ring">({
      name: METRIC_PREFIX + "ring_minimum",
      help:
        "1, labelled ring=<this node's ID>, on a ready node that holds the smallest ID of its ring (no leaf-set " +
        "member is smaller); absent on every other node. One series per ring: two mean a split.",
      labelNames: ["ring"],
      registers,
      collect() {
        const state = read();
        this.reset();
        if (state.ready && state.ringMinimum !== undefined) this.set({ ring: state.ringMinimum }, 1);
      },
    });
  }
}
