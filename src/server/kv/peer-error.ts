// A failed key-value call to a peer (unary or on the KvStream), as the coordinator acts on it.
import { type Metadata, type status } from "@grpc/grpc-js";
import { WendyError } from "../errors.js";
import { noConnection, refusedByPeer } from "../transport/peer-failure.js";

/**
 * A failed call to a peer, with its gRPC code (UNAVAILABLE and DEADLINE_EXCEEDED when it never answered) and
 * whether it surely never reached the peer's store (no connection, no session, or the peer refused it as not
 * joined, leaving or not running): only then may a hand-on be retried elsewhere at once.
 */
export class KvPeerError extends WendyError {
  override readonly name = "KvPeerError";
  readonly neverArrived: boolean;
  constructor(
    message: string,
    code: status,
    readonly metadata?: Metadata,
    neverArrived = noConnection(code, message) || refusedByPeer(code, metadata),
  ) {
    super(message, code);
    this.neverArrived = neverArrived;
  }
}
