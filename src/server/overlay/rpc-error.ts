// Errors as the client sees them: every failure leaves the service as a gRPC status with a clear message.
import { status, type ServerErrorResponse } from "@grpc/grpc-js";
import { WendyError } from "../errors.js";
import { WireFormatError } from "../../wire/errors.js";
import { asError } from "../../shared/as-error.js";

/** A failure with the status code to answer it with. */
export class OverlayRpcError extends Error {
  override readonly name = "OverlayRpcError";
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export function invalidArgument(message: string): OverlayRpcError {
  return new OverlayRpcError(status.INVALID_ARGUMENT, message);
}

export function failedPrecondition(message: string): OverlayRpcError {
  return new OverlayRpcError(status.FAILED_PRECONDITION, message);
}

export function resourceExhausted(message: string): OverlayRpcError {
  return new OverlayRpcError(status.RESOURCE_EXHAUSTED, message);
}

export function deadlineExceeded(message: string): OverlayRpcError {
  return new OverlayRpcError(status.DEADLINE_EXCEEDED, message);
}

/** Maps anything thrown by a handler (or by the cluster) to a status; unknown errors become INTERNAL. */
export function toServiceError(error: unknown): ServerErrorResponse {
  if (error instanceof OverlayRpcError || error instanceof WendyError) {
    return { name: error.name, message: error.message, code: error.code, details: error.message };
  }
  if (error instanceof WireFormatError) {
    return {
      name: error.name,
      message: error.message,
      code: status.INVALID_ARGUMENT,
      details: error.message,
    };
  }
  const message = asError(error).message;
  return { name: "Error", message, code: status.INTERNAL, details: `internal error: ${message}` };
}
