// Typed client errors, one per gRPC status a Wendy node answers with, so callers can `instanceof` them.
import { status, type ServiceError } from "@grpc/grpc-js";
import { asError } from "../shared/as-error.js";

export class WendyClientError extends Error {
  override readonly name: string = "WendyClientError";
  constructor(
    message: string,
    /** The gRPC status code. */
    readonly code: status,
  ) {
    super(message);
  }
}

/** The request was malformed: missing key, wrong key length, reserved purpose. */
export class InvalidArgumentError extends WendyClientError {
  override readonly name = "InvalidArgumentError";
}
/** The node cannot do it in its current state: no subscriber for the purpose, unknown call id. */
export class FailedPreconditionError extends WendyClientError {
  override readonly name = "FailedPreconditionError";
}
/** A limit was hit: payload too large, too many subscribers or pending calls, a too-slow stream. */
export class ResourceExhaustedError extends WendyClientError {
  override readonly name = "ResourceExhaustedError";
}
/** No answer or acknowledgement in time. */
export class DeadlineExceededError extends WendyClientError {
  override readonly name = "DeadlineExceededError";
}
/** The bearer token is missing or wrong. */
export class UnauthenticatedError extends WendyClientError {
  override readonly name = "UnauthenticatedError";
}
/** The node cannot be reached (not running, restarting) or the message could not be routed. */
export class UnavailableError extends WendyClientError {
  override readonly name = "UnavailableError";
}
/** The thing asked for does not exist (e.g. a forward decision that already timed out). */
export class NotFoundError extends WendyClientError {
  override readonly name = "NotFoundError";
}
/** The call was cancelled. */
export class CancelledError extends WendyClientError {
  override readonly name = "CancelledError";
}

const BY_CODE: Partial<Record<status, new (message: string, code: status) => WendyClientError>> = {
  [status.INVALID_ARGUMENT]: InvalidArgumentError,
  [status.FAILED_PRECONDITION]: FailedPreconditionError,
  [status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [status.UNAUTHENTICATED]: UnauthenticatedError,
  [status.UNAVAILABLE]: UnavailableError,
  [status.NOT_FOUND]: NotFoundError,
  [status.CANCELLED]: CancelledError,
};

/** The typed error for a status code and its message (e.g. one send's result on a SendStream). */
export function clientErrorFor(code: status, message: string): WendyClientError {
  const Type = BY_CODE[code] ?? WendyClientError;
  return new Type(message, code);
}

/** The typed error for a failed gRPC call. */
export function clientErrorFrom(error: unknown): WendyClientError {
  if (error instanceof WendyClientError) return error;
  if (isServiceError(error)) return clientErrorFor(error.code, error.details || error.message);
  return new WendyClientError(asError(error).message, status.UNKNOWN);
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && typeof (error as Partial<ServiceError>).code === "number";
}
