// Bounds applied when decoding wire messages: anything outside them is rejected rather than trusted.
import { DIGIT_BASE, ID_DIGITS } from "../routing/id.js";
import { FIRST_APPLICATION_PURPOSE } from "../routing/types.js";

export interface WireLimits {
  /** Largest application payload accepted, in bytes. Default 4 MiB. */
  readonly maxPayloadBytes: number;
  /** Most NodeInfos (or node IDs) in one list: leaf set, neighbourhood set, removed nodes. Default 256. */
  readonly maxNodeListLength: number;
  /** Highest purpose accepted on a route message. Default 65535. */
  readonly maxPurpose: number;
  /** Highest hop count (and hop limit) accepted. Default 1024. */
  readonly maxHops: number;
  /** Longest message id, in UTF-16 code units. Default 128. */
  readonly maxMessageIdLength: number;
  /** Longest "host:port" address. Default 255. */
  readonly maxAddressLength: number;
  /** Longest region name. Default 64. */
  readonly maxRegionLength: number;
  /** Most route messages in one RouteStream batch. Default 1024. */
  readonly maxBatchMessages: number;
}

export const DEFAULT_WIRE_LIMITS: WireLimits = {
  maxPayloadBytes: 4 * 1024 * 1024,
  maxNodeListLength: 256,
  maxPurpose: 0xffff,
  maxHops: 1024,
  maxMessageIdLength: 128,
  maxAddressLength: 255,
  maxRegionLength: 64,
  maxBatchMessages: 1024,
};

/** Pastry's table shape (b = 4) fixes these; they are not configurable. */
export const MAX_ROWS = ID_DIGITS;
export const MAX_ROW_ENTRIES = DIGIT_BASE;

/** Headroom for everything around the payload (ids, NodeInfos, framing) in one gRPC message. */
const ENVELOPE_HEADROOM_BYTES = 256 * 1024;

/**
 * The gRPC max receive/send message length to configure on channels and servers so that a route message
 * with a maximal payload is not refused by grpc-js (whose own default is 4 MiB) before the codec sees it.
 */
export function grpcMessageSizeLimit(limits: WireLimits = DEFAULT_WIRE_LIMITS): number {
  return limits.maxPayloadBytes + ENVELOPE_HEADROOM_BYTES;
}

/**
 * The application-purpose rule, written once for every edge that takes a purpose (the client port, the
 * embedding API, forward hooks, the CLI): why `purpose` is not one, or undefined when it is. 0..15 are
 * the protocol's own; each edge words the refusal its own way (status code, field name).
 */
export function applicationPurposeProblem(purpose: number, maxPurpose: number): string | undefined {
  const range = `application purposes are ${FIRST_APPLICATION_PURPOSE}..${maxPurpose}`;
  if (!Number.isInteger(purpose)) return `${purpose} is not an integer (${range})`;
  if (purpose < FIRST_APPLICATION_PURPOSE) return `${purpose} is reserved for the protocol (${range})`;
  if (purpose > maxPurpose) return `${purpose} is above the highest purpose ${maxPurpose} (${range})`;
  return undefined;
}

/** The payload-size rule, for the same edges: why `bytes` is too large, or undefined when it fits. */
export function payloadProblem(bytes: number, maxPayloadBytes: number): string | undefined {
  return bytes > maxPayloadBytes ? `${bytes} bytes exceeds the limit of ${maxPayloadBytes} bytes` : undefined;
}
