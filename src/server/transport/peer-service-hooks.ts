// What the peer port reports to its owner about the calls it served: shared by the unary PeerService
// handlers (peer-server.ts) and the RouteStream receiver (route-stream.ts), so that neither imports the other
// for it.
import type { status } from "@grpc/grpc-js";
import type { AuthFailureReason } from "../auth/failures.js";

export interface PeerServerHooks {
  /** Every call served, with its final status code. */
  onServed?(path: string, code: status): void;
  onAuthFailure?(reason: AuthFailureReason): void;
}
