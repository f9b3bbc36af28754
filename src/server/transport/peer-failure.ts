// A node-to-node call that failed, as the runtime acts on it: its gRPC status, and whether it surely never
// reached the peer (then the message can be re-routed at once, with nothing possibly delivered twice). The
// transport decides that here, once, from what grpc-js reports; nothing above reads grpc-js's message text.
import type { Metadata } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { METADATA_REFUSED } from "../errors.js";

/**
 * grpc-js has no typed reason for "no connection could be made": its UNAVAILABLE details say so in words
 * (the channel's "No connection established", or the socket's ECONNREFUSED).
 */
const NO_CONNECTION = /No connection established|ECONNREFUSED/;

/** grpc-js's words for a call whose connection closed under it: the peer's end went away mid-call. */
const CONNECTION_DROPPED = /Connection dropped/;

export abstract class PeerFailure extends Error {
  /** True when the call surely never reached the peer; a timeout or a torn stream may have delivered it. */
  readonly neverArrived: boolean;
  /**
   * True when the connection closed under the call (not a timeout): it may have arrived, but nothing says
   * the peer is slow. A probe that failed so is retried on a fresh connection at once (a dead process then
   * refuses it) instead of after its timeout.
   */
  readonly connectionBroken: boolean;

  protected constructor(
    readonly code: status,
    message: string,
    neverArrived: boolean,
  ) {
    super(message);
    this.neverArrived = neverArrived;
    this.connectionBroken = !neverArrived && code === status.UNAVAILABLE && CONNECTION_DROPPED.test(message);
  }
}

/**
 * A call meant for one node, not made: the session with its address was opened by another node (the address
 * passed to a new process, or a stale entry names the wrong address). It surely never reached the node meant,
 * which is routed around; and nothing the address answers counts as that node's sign of life.
 */
export class WrongNodeError extends PeerFailure {
  override readonly name = "WrongNodeError";
  constructor(address: string, meant: string, found: string) {
    super(status.UNAVAILABLE, wrongNode(address, meant, found), true);
  }
}

/** Why a call or hop meant for `meant` was not sent to `address`, where node `found` answers. */
export function wrongNode(address: string, meant: string, found: string): string {
  return `${address} is node ${found}, not ${meant}: not sent`;
}

/** True when a failure with this status and text means no connection to the peer was made. */
export function noConnection(code: status, text: string): boolean {
  return code === status.UNAVAILABLE && NO_CONNECTION.test(text);
}

/** True when the peer refused the call itself (it is leaving, or not joined): it took nothing. */
export function refusedByPeer(code: status, metadata: Metadata | undefined): boolean {
  return code === status.UNAVAILABLE && (metadata?.get(METADATA_REFUSED).length ?? 0) > 0;
}
