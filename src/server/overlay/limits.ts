// Bounds of the client-facing Overlay service: what a co-located client may ask for and how much memory a
// slow client may pin on the node.
import { DEFAULT_WIRE_LIMITS } from "../../wire/limits.js";

export interface OverlayLimits {
  /** Largest application payload (must match the cluster's maxPayloadBytes). Default 4 MiB. */
  readonly maxPayloadBytes: number;
  /** Highest application purpose accepted. Default 65535. */
  readonly maxPurpose: number;
  /** Deliveries or events queued for one stream before the stream is cut off. Default 1024. */
  readonly maxStreamBufferMessages: number;
  /** Payload bytes queued for one stream before the stream is cut off. Default 16 MiB. */
  readonly maxStreamBufferBytes: number;
  /**
   * Sends on one SendStream received but not yet answered, at most; further ones are refused with
   * RESOURCE_EXHAUSTED (and a stream whose client reads no results is cut off at twice this). Default 1024.
   */
  readonly maxSendStreamInFlight: number;
  /** Open Subscribe streams at most (further ones: RESOURCE_EXHAUSTED). Default 1024. */
  readonly maxSubscribers: number;
  /** Open WatchEvents streams at most. Default 256. */
  readonly maxWatchers: number;
  /** Calls waiting for an answer, on either side, at most. Default 10000. */
  readonly maxPendingCalls: number;
  /** Call timeout when the request gives none. Default 10 s. */
  readonly defaultCallTimeoutMs: number;
  /** Send's acknowledgement timeout when the request gives none. Default 10 s. */
  readonly defaultAckTimeoutMs: number;
  /** How long a forward waits for DecideForward before it continues unchanged. Default 500 ms. */
  readonly forwardDecisionTimeoutMs: number;
  /** Forward decisions outstanding at most; beyond, forwards continue without asking. Default 10000. */
  readonly maxPendingForwards: number;
  /** Largest replica count a client may ask for. Default 256. */
  readonly maxReplicas: number;
  /**
   * How long a delivery may wait at this node for a subscriber to take it (none attached, its group lost
   * its members, or every member is at its unacknowledged limit) before it is refused. Default 5000 ms.
   */
  readonly deliveryGraceMs: number;
  /** Deliveries held here, not yet acknowledged by an application, at most. Default 10000. */
  readonly maxHeldDeliveries: number;
  /** Payload bytes of those held deliveries, at most. Default 64 MiB. */
  readonly maxHeldDeliveryBytes: number;
}

export const DEFAULT_OVERLAY_LIMITS: OverlayLimits = {
  maxPayloadBytes: DEFAULT_WIRE_LIMITS.maxPayloadBytes,
  maxPurpose: DEFAULT_WIRE_LIMITS.maxPurpose,
  maxStreamBufferMessages: 1024,
  maxStreamBufferBytes: 16 * 1024 * 1024,
  maxSendStreamInFlight: 1024,
  maxSubscribers: 1024,
  maxWatchers: 256,
  maxPendingCalls: 10_000,
  defaultCallTimeoutMs: 10_000,
  defaultAckTimeoutMs: 10_000,
  forwardDecisionTimeoutMs: 500,
  maxPendingForwards: 10_000,
  maxReplicas: DEFAULT_WIRE_LIMITS.maxNodeListLength,
  deliveryGraceMs: 5000,
  maxHeldDeliveries: 10_000,
  maxHeldDeliveryBytes: 64 * 1024 * 1024,
};

/** A Receive subscriber's unacknowledged deliveries when it asks for no other number, and the most it may ask. */
export const DEFAULT_MAX_UNACKNOWLEDGED = 64;
export const MAX_UNACKNOWLEDGED = 1024;
/** Longest subscriber group name, in bytes of UTF-8. */
export const MAX_GROUP_NAME_BYTES = 128;

/** Bytes a Call adds around the payload (its envelope on a reserved purpose). */
export const CALL_ENVELOPE_BYTES = 256;

/** The largest payload a Call request or answer may carry. */
export function maxCallPayloadBytes(limits: OverlayLimits): number {
  return limits.maxPayloadBytes - CALL_ENVELOPE_BYTES;
}
