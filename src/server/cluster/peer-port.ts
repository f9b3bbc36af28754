// The peer port's gRPC server: PeerService with its limits and hooks, health and reflection, bound on every
// bind host (the first may pick a free port, the others take the same one), and its shutdown within a grace
// period. It moves bytes; what a peer's message means is the Cluster's and the core's business.
import { Server, status, type ServerCredentials } from "@grpc/grpc-js";
import type { NodeInfo } from "../../routing/types.js";
import { grpcMessageSizeLimit, type WireLimits } from "../../wire/limits.js";
import type { CallVerifier } from "../transport/call-auth.js";
import type { AuthFailureReason } from "../auth/failures.js";
import { checkClaim } from "../auth/node-identity.js";
import { identityRequired, peerServerCredentials } from "../auth/tls.js";
import { WendyError } from "../errors.js";
import { hostPort } from "../node.js";
import type { HealthStatus } from "../transport/health.js";
import { InboundGuard, inboundServerOptions, type InboundLimits } from "../transport/inbound-limits.js";
import { InboundPeers } from "../transport/inbound-peers.js";
import { forceShutdownOutsideHttp2Input } from "../transport/force-shutdown.js";
import {
  addPeerService,
  type PeerMessageSink,
  type PeerServiceHandle,
  type PeerServiceOptions,
} from "../transport/peer-server.js";
import { addLazyReflection } from "../reflection.js";
import type { ClusterOptions } from "./options.js";

export interface PeerPortOptions {
  readonly options: ClusterOptions;
  /** The port asked for (0: any free one). */
  readonly port: number;
  readonly limits: WireLimits;
  readonly inboundLimits: InboundLimits;
  readonly verifier: CallVerifier;
  readonly health: HealthStatus;
  readonly sink: PeerMessageSink;
  readonly onAuthFailure: (reason: AuthFailureReason) => void;
  /** A peer's incoming connection broke (its process died). */
  readonly connectionLost: (peer: NodeInfo) => void;
  /** RouteStream's optional features: direct messages, acknowledgements carried on the stream back. */
  readonly streams?: PeerServiceOptions["streams"];
}

export interface PeerPort {
  readonly server: Server;
  readonly peerService: PeerServiceHandle;
  /** The port bound. */
  readonly port: number;
}

/** Makes the peer port's server and binds it. */
export async function openPeerPort(o: PeerPortOptions): Promise<PeerPort> {
  const options = o.options;
  const server = new Server({
    "grpc.max_receive_message_length": grpcMessageSizeLimit(o.limits),
    "grpc.max_send_message_length": grpcMessageSizeLimit(o.limits),
    ...inboundServerOptions(o.inboundLimits),
  });
  // A peer's incoming connection that breaks (its process died) gets it probed at once, as a broken
  // outgoing one does (the pool's onConnectionLost).
  const inboundPeers = new InboundPeers(o.connectionLost);
  const peerService = addPeerService(server, {
    verifier: o.verifier,
    ...(identityRequired(options.tls ?? { enabled: false }) ? { checkSender: checkClaim } : {}),
    limits: o.limits,
    sink: o.sink,
    ...(o.streams === undefined ? {} : { streams: o.streams }),
    hooks: {
      onServed: (path, code) => options.metrics?.peerRpcServed(path, code),
      onAuthFailure: o.onAuthFailure,
      onPeerCall: (remote, sender) => inboundPeers.note(remote, sender),
    },
  });
  if (options.serveHealth !== false) o.health.addTo(server);
  if (options.serveReflection !== false) {
    addLazyReflection(server);
  }
  options.configureServer?.(server);
  const credentials = peerServerCredentials(options.tls ?? { enabled: false });
  const bindHosts = [options.bindHost ?? "0.0.0.0"].flat();
  // The first address may pick a free port; every further one binds that same port.
  let port = o.port;
  for (const host of bindHosts) {
    port = await bind(server, hostPort(host, port), credentials);
  }
  new InboundGuard(o.inboundLimits, {
    onRefused: (limit) => options.logger?.debug({ limit }, "peer connection broke an inbound limit"),
  }).attach(server);
  inboundPeers.attach(server);
  return { server, peerService, port };
}

/**
 * Closes the server: at once (`force`), or letting open calls finish within `graceMs`. Resolves true when
 * it closed by itself, false when it had to be cut off.
 */
export function closePeerPort(server: Server, force: boolean, graceMs: number): Promise<boolean> {
  if (force) return forceShutdownOutsideHttp2Input(server).then(() => false);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      void forceShutdownOutsideHttp2Input(server).then(() => resolve(false));
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
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
