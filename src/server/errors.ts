// Typed errors of the embeddable API. Each carries the gRPC status code it maps to on the wire.
import { status } from "@grpc/grpc-js";

export class WendyError extends Error {
  override readonly name: string = "WendyError";
  constructor(
    message: string,
    readonly code: status,
  ) {
    super(message);
  }
}

/** A caller passed something malformed: a bad ID, a reserved purpose, an oversized payload. */
export class InvalidArgumentError extends WendyError {
  override readonly name = "InvalidArgumentError";
  constructor(message: string) {
    super(message, status.INVALID_ARGUMENT);
  }
}

/** The cluster is not in a state that allows the call (not listening, already stopped, not joined). */
export class NotReadyError extends WendyError {
  override readonly name = "NotReadyError";
  constructor(message: string) {
    super(message, status.FAILED_PRECONDITION);
  }
}

/** A bounded queue is full: the call was not accepted and may be retried later. */
export class ResourceExhaustedError extends WendyError {
  override readonly name = "ResourceExhaustedError";
  constructor(message: string) {
    super(message, status.RESOURCE_EXHAUSTED);
  }
}

/** Joining failed through every seed. */
export class JoinError extends WendyError {
  override readonly name = "JoinError";
  constructor(message: string) {
    super(message, status.UNAVAILABLE);
  }
}

/**
 * A node leaving the overlay refuses a routed message (or a join): it took nothing of it, so the sender
 * routes around it at once, as if the connection had been refused. On the wire: UNAVAILABLE, with the
 * trailer METADATA_REFUSED on a unary call, or the status code in a RouteStream rejection.
 */
export class LeavingError extends WendyError {
  override readonly name = "LeavingError";
  constructor(message: string) {
    super(message, status.UNAVAILABLE);
  }
}

/**
 * A node that listens but has not joined yet (Cluster.listen with joinFirst) refuses every peer message: it
 * is no member of any overlay, and taking a peer in now (one that still knew its address) would make it one
 * and spoil its own join. It took nothing, so the sender routes around it at once, as for LeavingError.
 */
export class NotJoinedError extends WendyError {
  override readonly name = "NotJoinedError";
  constructor(message: string) {
    super(message, status.UNAVAILABLE);
  }
}

/** Trailer of a unary call refused by a leaving node (see LeavingError) or one not joined yet. */
export const METADATA_REFUSED = "wendy-refused";
