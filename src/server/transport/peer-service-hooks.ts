// What the peer port reports to its owner about the calls it served: shared by the unary PeerService
// handlers (peer-server.ts) and the RouteStream receiver (route-stream.ts), so that neither imports the other
// for it.
import type { status } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { NodeInfo } from "../../routing/types.js";
import type { AuthFailureReason } from "../auth/failures.js";
import type { ClaimRefusal } from "../auth/node-identity.js";

export interface PeerServerHooks {
  /** Every call served, with its final status code. */
  onServed?(path: string, code: status): void;
  onAuthFailure?(reason: AuthFailureReason): void;
  /** An authenticated peer message from `sender` over the connection whose remote end is `remote`. */
  onPeerCall?(remote: string, sender: NodeInfo): void;
}

/**
 * Checks a caller's claim about itself against the certificate its connection showed (per-node identities:
 * checkClaim of node-identity.ts); undefined: the claim holds.
 */
export type SenderCheck = (
  sender: NodeInfo,
  certificate: PeerCertificate | undefined,
) => ClaimRefusal | undefined;
