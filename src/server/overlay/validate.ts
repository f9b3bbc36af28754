// Request checks shared by the handlers. Each names the offending field in its message.
import type { NodeId } from "../../routing/id.js";
import type { Key } from "../../gen/wendy/v1/overlay.js";
import { decodeKey } from "../../wire/key.js";
import { applicationPurposeProblem, payloadProblem } from "../../wire/limits.js";
import { invalidArgument, resourceExhausted } from "./rpc-error.js";
import type { OverlayLimits } from "./limits.js";

/** The key's ring position; a missing or malformed key is INVALID_ARGUMENT. */
export function requireKey(key: Key | undefined, field = "key"): NodeId {
  return decodeKey(key, field);
}

/** An application purpose: 16..maxPurpose. 0..15 are the protocol's own. */
export function requirePurpose(purpose: number, limits: OverlayLimits, field = "purpose"): number {
  const problem = applicationPurposeProblem(purpose, limits.maxPurpose);
  if (problem !== undefined) throw invalidArgument(`${field}: ${problem}`);
  return purpose;
}

/** A list of distinct application purposes; `allowEmpty` for optional lists. */
export function requirePurposes(
  purposes: readonly number[],
  limits: OverlayLimits,
  field: string,
  allowEmpty: boolean,
): Set<number> {
  if (!allowEmpty && purposes.length === 0)
    throw invalidArgument(`${field}: at least one purpose is required`);
  purposes.forEach((p, i) => requirePurpose(p, limits, `${field}[${i}]`));
  return new Set(purposes);
}

/** Payloads above the limit are RESOURCE_EXHAUSTED, as grpc-js answers an oversized message. */
export function requirePayload(payload: Uint8Array, maxBytes: number, field = "payload"): Uint8Array {
  const problem = payloadProblem(payload.byteLength, maxBytes);
  if (problem !== undefined) throw resourceExhausted(`${field}: ${problem}`);
  return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
}

/**
 * The time to wait: the request's timeout (0 = `fallbackMs`), cut to what is left of the gRPC deadline.
 */
export function effectiveTimeoutMs(requestedMs: number, fallbackMs: number, deadline: Date | number): number {
  const asked = requestedMs > 0 ? requestedMs : fallbackMs;
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(at)) return asked;
  return Math.max(0, Math.min(asked, at - Date.now()));
}
