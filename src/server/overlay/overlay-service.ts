// Registers wendy.v1.OverlayService (plus grpc.health.v1 and server reflection) on a client-port server.
import type { ChannelOptions, Server } from "@grpc/grpc-js";
import type { OverlayServiceServer } from "../../gen/wendy/v1/overlay.js";
import { OVERLAY_SERVICE } from "../../wire/client-port-streams.js";
import type { Cluster } from "../cluster.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import { addLazyReflection } from "../reflection.js";
import { grpcMessageSizeLimit } from "../../wire/limits.js";
import { DEFAULT_WIRE_LIMITS } from "../../wire/limits.js";
import { TokenCheck } from "./auth.js";
import { callHandler } from "./call.js";
import { CallBroker } from "./calls.js";
import type { OverlayContext } from "./context.js";
import { decideForwardHandler } from "./decide-forward.js";
import { ClientPortHealth } from "./health.js";
import { DEFAULT_OVERLAY_LIMITS, type OverlayLimits } from "./limits.js";
import { QueuedBytes } from "./queued-bytes.js";
import { remoteClientRefusal, requireLocalClient } from "./local-only.js";
import { toServiceError } from "./rpc-error.js";
import { lookupHandler } from "./lookup.js";
import { OwnershipHub } from "./ownership.js";
import { replicasHandler } from "./replicas.js";
import { replyHandler } from "./reply.js";
import { sendHandler } from "./send.js";
import { SendStreams } from "./send-stream.js";
import { CallStreams } from "./call-stream.js";
import { statusHandler } from "./status.js";
import { subscribeHandler } from "./subscribe.js";
import { DeliveryHub } from "./deliveries.js";
import { receiveHandler } from "./receive.js";
import { watchEventsHandler } from "./watch-events.js";
import { watchOwnershipHandler } from "./watch-ownership.js";
import { WatcherHub } from "./watchers.js";
import { decodeInHandlers, rawRequestStream } from "../transport/decode-in-handler.js";

export interface OverlayServiceOptions {
  readonly cluster: Cluster;
  readonly metrics?: WendyMetrics;
  /**
   * When set, every OverlayService call must carry `authorization: Bearer <token>`; a TokenCheck shared
   * with other services can change its tokens while the node runs.
   */
  readonly token?: string | TokenCheck;
  /** Overrides of DEFAULT_OVERLAY_LIMITS; maxPayloadBytes must match the cluster's. */
  readonly limits?: Partial<OverlayLimits>;
  /** Also serve grpc.health.v1 and server reflection on this server. Default true. */
  readonly healthAndReflection?: boolean;
  /**
   * Serve Subscribe, Receive and WatchOwnership to clients off loopback too. Default false: those streams carry this
   * node's share of the keys only, which a client behind a load-balanced Service would take for the whole.
   */
  readonly allowRemoteStreams?: boolean;
  /** Where internal failures (e.g. a malformed call envelope from a peer) are reported. */
  readonly onError?: (error: Error) => void;
}

/** The running service, for the daemon (metrics, shutdown) and tests. */
export interface OverlayServiceHandle {
  /** Open Subscribe and Receive streams. */
  readonly subscriberCount: number;
  /** Open SendStream streams. */
  readonly sendStreamCount: number;
  /** Open WatchEvents streams. */
  readonly watcherCount: number;
  /** Open WatchOwnership streams. */
  readonly ownershipWatcherCount: number;
  /** Deliveries no subscriber wanted, since start. */
  readonly undeliveredCount: bigint;
  /** Bytes held now for clients on all client-port streams together (the maxQueuedBytes budget). */
  readonly queuedBytes: number;
  /** That budget itself, for the client port's other streams (KvService.OperationStream) to share. */
  readonly byteBudget: QueuedBytes;
  /**
   * The node is leaving: deliveries no application holds are refused at once (UNAVAILABLE) rather than
   * after the delivery grace; those an application holds may still be acknowledged.
   */
  drain(): void;
  /** Ends every stream and fails waiting calls; call before shutting the server down. */
  close(): void;
}

/** Server options so that a maximal payload is not refused by grpc-js's own 4 MiB default first. */
export function overlayServerOptions(limits: Partial<OverlayLimits> = {}): ChannelOptions {
  const size = grpcMessageSizeLimit({
    ...DEFAULT_WIRE_LIMITS,
    maxPayloadBytes: limits.maxPayloadBytes ?? DEFAULT_OVERLAY_LIMITS.maxPayloadBytes,
  });
  return { "grpc.max_receive_message_length": size, "grpc.max_send_message_length": size };
}

/**
 * Mounts the service for `options.cluster`. One per cluster: call traffic arrives on reserved purposes, and
 * the cluster hands each reserved purpose to a single handler.
 */
export function addOverlayService(server: Server, options: OverlayServiceOptions): OverlayServiceHandle {
  const { cluster, metrics } = options;
  const limits: OverlayLimits = { ...DEFAULT_OVERLAY_LIMITS, ...definedOnly(options.limits ?? {}) };
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
  const deliveries = new DeliveryHub(limits, () => cluster.info().id.hex, metrics);
  const queuedBytes = new QueuedBytes(limits.maxQueuedBytes);
  const watchers = new WatcherHub(cluster, limits, queuedBytes);
  const ownership = new OwnershipHub(cluster, limits);
  const calls = new CallBroker(cluster, deliveries, limits, onError);
  cluster.registerApplication(deliveries.application());
  cluster.registerApplication(watchers.application());
  cluster.registerApplication(ownership.application());
  const ctx: OverlayContext = {
    cluster,
    limits,
    queuedBytes,
    deliveries,
    calls,
    watchers,
    ownership,
    requireLocalClient: (rpc, peer) => requireLocalClient(rpc, peer, options.allowRemoteStreams ?? false),
    remoteClientRefusal: (rpc, peer) => {
      const refusal = remoteClientRefusal(rpc, peer, options.allowRemoteStreams ?? false);
      return refusal === undefined ? undefined : toServiceError(refusal);
    },
    metrics,
    token: options.token instanceof TokenCheck ? options.token : new TokenCheck(options.token),
  };
  const sendStreams = new SendStreams(ctx);
  const callStreams = new CallStreams(ctx);
  const implementation: OverlayServiceServer = {
    send: sendHandler(ctx),
    sendStream: rawRequestStream(sendStreams.handler),
    subscribe: subscribeHandler(ctx),
    receive: rawRequestStream(receiveHandler(ctx)),
    call: callHandler(ctx),
    callStream: rawRequestStream(callStreams.handler),
    reply: replyHandler(ctx),
    lookup: lookupHandler(ctx),
    replicas: replicasHandler(ctx),
    status: statusHandler(ctx),
    watchEvents: watchEventsHandler(ctx),
    decideForward: decideForwardHandler(ctx),
    watchOwnership: watchOwnershipHandler(ctx),
  };
  // Requests are decoded in the handlers, so malformed bytes are INVALID_ARGUMENT rather than INTERNAL.
  const strict = decodeInHandlers(OVERLAY_SERVICE, implementation);
  server.addService(strict.definition, strict.implementation);
  const health = new ClientPortHealth(cluster.health);
  if (options.healthAndReflection !== false) {
    health.addTo(server);
    addLazyReflection(server);
  }
  return {
    get subscriberCount() {
      return deliveries.count;
    },
    get sendStreamCount() {
      return sendStreams.count;
    },
    get watcherCount() {
      return watchers.count;
    },
    get ownershipWatcherCount() {
      return ownership.count;
    },
    get undeliveredCount() {
      return deliveries.undeliveredCount;
    },
    get queuedBytes() {
      return queuedBytes.bytes;
    },
    byteBudget: queuedBytes,
    drain() {
      deliveries.drain();
    },
    close() {
      sendStreams.closeAll();
      callStreams.closeAll();
      calls.close();
      watchers.close();
      ownership.close();
      deliveries.close();
      health.close();
    },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
