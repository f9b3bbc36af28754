// What an embedder may set on a Cluster, and the settings the runtime runs with, derived and checked once
// when the Cluster is made: a bad value fails at construction (InvalidArgumentError naming the option),
// not at listen() or deep inside the transport, and the layers below trust what they are given.
import type { Server } from "@grpc/grpc-js";
import { routingConfig } from "../../routing/config.js";
import {
  DEFAULT_ROUTING_CONFIG,
  MAX_LEAF_SET_SIZE,
  MIN_LEAF_SET_SIZE,
  MIN_LEAF_SET_SIZE_REASON,
  type RandomSource,
  type RoutingConfig,
} from "../../routing/types.js";
import { DEFAULT_WIRE_LIMITS, grpcMessageSizeLimit, type WireLimits } from "../../wire/limits.js";
import { isSharedSecretCredentials, type Credentials } from "../auth/credentials.js";
import { identityRequired, type PeerTlsConfig } from "../auth/tls.js";
import type { Clock } from "../clock.js";
import { InvalidArgumentError } from "../errors.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import { checkInboundLimits, defaultInboundLimits, type InboundLimits } from "../transport/inbound-limits.js";
import { asError } from "../../shared/as-error.js";

/** The subset of a pino logger the runtime uses; any pino logger fits. */
export interface Logger {
  debug(object: object, message: string): void;
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
}

export interface ClusterOptions {
  /** Where the runtime logs (a pino logger fits); silent by default. */
  readonly logger?: Logger;
  /**
   * The routing protocol's settings (RoutingConfig documents each and its default), as the simulator takes
   * them; e.g. `{ leafSetSize: 16 }`. leafSetSize must be even, 4..128. The runtime always sets
   * `applicationAcks` (acks wait for the applications) and `pauseThresholdMs` (max of the failure timeout
   * and the heartbeat interval) itself.
   */
  readonly routing?: Partial<RoutingConfig>;
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
  /**
   * Called as the peer port closes, before it waits for open calls: a service added by configureServer
   * that keeps long-lived streams from peers (the key-value store's KvStream) ends them here, or the close
   * would wait out its grace for streams that never end by themselves.
   */
  readonly onPeerPortClosing?: () => void;
}

/** The settings a Cluster runs with, all checked. */
export interface ClusterSettings {
  readonly config: RoutingConfig;
  readonly limits: WireLimits;
  readonly inboundLimits: InboundLimits;
}

/** Checks `options` (and whether `credentials` may travel without TLS) and derives the settings. */
export function clusterSettings(
  options: ClusterOptions,
  credentials: Credentials | undefined,
): ClusterSettings {
  if (credentials !== undefined && !isSharedSecretCredentials(credentials)) {
    if (options.tls?.enabled !== true && options.allowInsecure !== true)
      throw new InvalidArgumentError(
        "bearer credentials need TLS (options.tls): without it their bytes cross the network in clear " +
          "and anyone on the path can replay them; set allowInsecure: true to accept that",
      );
  }
  const limits: WireLimits = {
    ...DEFAULT_WIRE_LIMITS,
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_WIRE_LIMITS.maxPayloadBytes,
  };
  const chosen: RoutingConfig = { ...DEFAULT_ROUTING_CONFIG, ...definedOnly(options.routing ?? {}) };
  // The machine asks for a tick at least every quarter pause threshold: a gap as long as the failure timeout
  // means this process itself was paused (SIGSTOP, a stalled event loop), and its peers may have routed
  // around it meanwhile. The end-to-end ack waits for the applications' answer to a delivery (see the
  // Cluster's deliver).
  // With per-node identities an answer proves who gave it, so a node named by another is taken into the
  // routing state only once it answered in its own name (identityRequired also refuses identities without
  // mutual TLS, here at construction).
  const wanted: RoutingConfig = {
    ...chosen,
    applicationAcks: true,
    pauseThresholdMs: Math.max(chosen.failureTimeoutMs, chosen.heartbeatIntervalMs),
    verifyLearnedNodes: chosen.verifyLearnedNodes || identityRequired(options.tls ?? { enabled: false }),
  };
  validateConfig(wanted, limits);
  // The core's own rules (leaf-set shape, maintenance interval) are checked by the core's builder, once.
  let config: RoutingConfig;
  try {
    config = routingConfig(wanted);
  } catch (error) {
    throw new InvalidArgumentError(asError(error).message);
  }
  const inboundLimits = {
    ...defaultInboundLimits(grpcMessageSizeLimit(limits)),
    ...definedOnly(options.inboundLimits ?? {}),
  };
  try {
    checkInboundLimits(inboundLimits, grpcMessageSizeLimit(limits));
  } catch (error) {
    throw new InvalidArgumentError(`inboundLimits: ${asError(error).message}`);
  }
  return { config, limits, inboundLimits };
}

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
  const leafSetProblem = leafSetSizeProblem(c.leafSetSize);
  if (leafSetProblem !== undefined) throw new InvalidArgumentError(`leafSetSize ${leafSetProblem}`);
  if (!Number.isInteger(c.maxHops) || c.maxHops < 1 || c.maxHops > limits.maxHops) {
    throw new InvalidArgumentError(`maxHops must be an integer in 1..${limits.maxHops}, got ${c.maxHops}`);
  }
}

/** The core's largest leaf-set size (a leaf set then fits one wire list, maxNodeListLength 256, twice over). */
export { MAX_LEAF_SET_SIZE };

/**
 * The leaf-set size rule, written once for both edges that take one (ClusterOptions here, the daemon's
 * WENDY_LEAF_SET_SIZE): why `l` is not a valid size, or undefined when it is.
 */
export function leafSetSizeProblem(l: number): string | undefined {
  if (!Number.isInteger(l) || l % 2 !== 0 || l > MAX_LEAF_SET_SIZE)
    return `must be an even integer in ${MIN_LEAF_SET_SIZE}..${MAX_LEAF_SET_SIZE} (l/2 on each side), got ${l}`;
  if (l < MIN_LEAF_SET_SIZE) return `must be ${MIN_LEAF_SET_SIZE_REASON}; got ${l}`;
  return undefined;
}
