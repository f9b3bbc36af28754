// Subscribe, Receive and WatchOwnership describe this node alone: the deliveries for the keys it owns, the range it
// owns. A client reaching the node through a load-balanced client Service lands on whichever pod took its
// connection and would silently miss every other node's keys, so such a stream is refused unless the
// operator allows remote clients (one that dials one node directly, on purpose).
import { isIP } from "node:net";
import { failedPrecondition, type OverlayRpcError } from "./rpc-error.js";

/** The daemon variable that lets clients off loopback open these streams. */
export const REMOTE_STREAMS_VARIABLE = "WENDY_CLIENT_REMOTE_SUBSCRIBE";

/**
 * Whether a gRPC peer (grpc-js `getPeer()`: "address:port", or no address for a Unix socket) is this
 * machine: 127.0.0.0/8, ::1, or an IPv4-mapped loopback address.
 */
export function isLoopbackPeer(peer: string): boolean {
  if (peer === "unknown") return true; // a Unix-domain socket: only this machine can open it
  const colon = peer.lastIndexOf(":");
  const host = (colon < 0 ? peer : peer.slice(0, colon)).replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const v4 = host.startsWith("::ffff:") ? host.slice("::ffff:".length) : host;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  return host === "::1";
}

/** Throws FAILED_PRECONDITION for a stream of this node's own view opened from off the node. */
export function requireLocalClient(rpc: string, peer: string, allowRemote: boolean): void {
  const refusal = remoteClientRefusal(rpc, peer, allowRemote);
  if (refusal !== undefined) throw refusal;
}

/** The FAILED_PRECONDITION for such a stream opened from off the node, or undefined when it may open. */
export function remoteClientRefusal(
  rpc: string,
  peer: string,
  allowRemote: boolean,
): OverlayRpcError | undefined {
  if (allowRemote || isLoopbackPeer(peer)) return undefined;
  return failedPrecondition(
    `${rpc} is served only to clients on this node's loopback (this one is ${peer}): it carries this ` +
      `node's own share of the keys, so through a load-balanced client Service it would miss every key ` +
      `another node owns. Run the subscriber beside the node (in its pod, on 127.0.0.1), or set ` +
      `${REMOTE_STREAMS_VARIABLE}=true on a node that such a client dials directly.`,
  );
}
