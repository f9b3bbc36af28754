// Pure conversions between the routing core's types and the generated wendy.v1 protobuf messages.
// Encoding trusts the core (only values the wire cannot carry are refused); decoding trusts nothing and
// throws WireFormatError for anything malformed, missing or out of bounds.
import type { NodeId } from "../routing/id.js";
import {
  FIRST_APPLICATION_PURPOSE,
  MAX_MESSAGE_COPY,
  type DropNotice,
  type NoticedDropReason,
  type NodeInfo,
  type PeerMessage,
  type Refusal,
  type RouteMessage,
  type RowEntries,
} from "../routing/types.js";
import * as peer from "../gen/wendy/v1/peer.js";
import * as wire from "../gen/wendy/v1/types.js";
import { WireFormatError } from "./errors.js";
import { DEFAULT_WIRE_LIMITS, MAX_ROWS, MAX_ROW_ENTRIES, type WireLimits } from "./limits.js";
import type { PeerMethod } from "./methods.js";
import {
  checkAddress,
  checkIncarnation,
  checkListLength,
  checkMillis,
  checkPayload,
  checkText,
  checkUint,
  decodeId,
  requirePresent,
} from "./validate.js";
import { asError } from "../shared/as-error.js";

/** A protocol message together with the node that sent it (the sender travels in every request). */
export interface PeerEnvelope {
  readonly sender: NodeInfo;
  readonly message: PeerMessage;
}

/** The generated request type of each PeerService RPC. */
export interface PeerRequestByMethod {
  join: peer.JoinRequest;
  joinState: peer.JoinStateRequest;
  probe: peer.ProbeRequest;
  probeReply: peer.ProbeReplyRequest;
  announce: peer.AnnounceRequest;
  heartbeat: peer.HeartbeatRequest;
  requestLeafSet: peer.RequestLeafSetRequest;
  shareLeafSet: peer.ShareLeafSetRequest;
  requestRow: peer.RequestRowRequest;
  shareRow: peer.ShareRowRequest;
  route: peer.RouteRequest;
  ack: peer.AckRequest;
  leave: peer.LeaveRequest;
}

/** An RPC name with its request: what to pass to `PeerServiceClient[method](request, ...)`. */
export type PeerRequest = {
  [M in PeerMethod]: { readonly method: M; readonly request: PeerRequestByMethod[M] };
}[PeerMethod];

// ---------------------------------------------------------------------------------------------- encoding

function bytesOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function idBytes(id: NodeId): Buffer {
  return Buffer.from(id.hex, "hex");
}

/**
 * Encoded forms of the NodeInfo objects seen, which are immutable and reused (this node as every batch's
 * sender, an origin decoded once per peer): encoding them again per message was measurable under load.
 * Callers must not mutate what encodeNodeInfo returns.
 */
const encodedNodes = new WeakMap<NodeInfo, wire.NodeInfo>();

export function encodeNodeInfo(node: NodeInfo): wire.NodeInfo {
  let encoded = encodedNodes.get(node);
  if (encoded === undefined) {
    encoded = encodeNodeInfoOnce(node);
    encodedNodes.set(node, encoded);
  }
  return encoded;
}

function encodeNodeInfoOnce(node: NodeInfo): wire.NodeInfo {
  if (!Number.isSafeInteger(node.incarnation) || node.incarnation < 0) {
    throw new WireFormatError(
      "incarnation",
      `cannot encode ${node.incarnation}: not an integer in [0, 2^53 - 1]`,
    );
  }
  return {
    id: idBytes(node.id),
    localAddress: node.localAddress,
    globalAddress: node.globalAddress,
    region: node.region,
    incarnation: BigInt(node.incarnation),
  };
}

function encodeNodes(nodes: readonly NodeInfo[]): wire.NodeInfo[] {
  return nodes.map(encodeNodeInfo);
}

/** Round-trip times travel as whole microseconds, 0 for none, clamped to what a uint32 holds. */
const MAX_ROUND_TRIP_MICROS = 0xffff_ffff;

function roundTripMicros(ms: number | undefined): number {
  if (ms === undefined || !(ms > 0)) return 0;
  return Math.min(MAX_ROUND_TRIP_MICROS, Math.max(1, Math.round(ms * 1000)));
}

export function encodeRowEntries(row: RowEntries): wire.RowEntries {
  return {
    row: row.row,
    entries: encodeNodes(row.entries),
    roundTripMicros: row.rttMs === undefined ? [] : row.rttMs.map(roundTripMicros),
  };
}

export function encodeRouteMessage(message: RouteMessage): wire.RouteMessage {
  return {
    id: message.id,
    key: idBytes(message.key),
    purpose: message.purpose,
    payload: bytesOf(message.payload),
    origin: encodeNodeInfo(message.origin),
    hops: message.hops,
    maxHops: message.maxHops,
    wantAck: message.wantAck,
    copy: message.copy ?? 0,
  };
}

/** The RPC to call and its request for one protocol message from `sender`. */
export function encodePeerMessage(sender: NodeInfo, message: PeerMessage): PeerRequest {
  const from = encodeNodeInfo(sender);
  switch (message.type) {
    case "join":
      return {
        method: "join",
        request: { sender: from, joiner: encodeNodeInfo(message.joiner), hops: message.hops },
      };
    case "joinState":
      return {
        method: "joinState",
        request: {
          sender: from,
          rows: message.rows.map(encodeRowEntries),
          neighbours: encodeNodes(message.neighbours),
          leafSet: encodeNodes(message.leafSet),
          final: message.final,
        },
      };
    case "probe":
      return {
        method: "probe",
        request: { sender: from, sentAtMs: message.sentAt, joining: message.joining },
      };
    case "probeReply":
      return {
        method: "probeReply",
        request: {
          sender: from,
          echoSentAtMs: message.echoSentAt,
          leafSet: encodeNodes(message.leafSet),
          ready: message.ready,
          removed: (message.removed ?? []).map(idBytes),
        },
      };
    case "announce":
      return { method: "announce", request: { sender: from } };
    case "heartbeat":
      return { method: "heartbeat", request: { sender: from } };
    case "leafSetRequest":
      return { method: "requestLeafSet", request: { sender: from } };
    case "leafSet":
      return {
        method: "shareLeafSet",
        request: {
          sender: from,
          leafSet: encodeNodes(message.leafSet),
          removed: message.removed.map(idBytes),
        },
      };
    case "rowRequest":
      return { method: "requestRow", request: { sender: from, row: message.row } };
    case "row":
      return { method: "shareRow", request: { sender: from, row: encodeRowEntries(message.row) } };
    case "route":
      return { method: "route", request: { sender: from, message: encodeRouteMessage(message.message) } };
    case "ack":
      return { method: "ack", request: { sender: from, ...encodeAck(message) } };
    case "leave":
      return { method: "leave", request: { sender: from, leafSet: encodeNodes(message.leafSet) } };
  }
}

/** A RouteStream batch of route hops from `sender`, with what rides along (see RouteBatch). */
export function encodeRouteBatch(
  sender: NodeInfo,
  messages: readonly RouteMessage[],
  acks: readonly BatchedAck[] = [],
  direct: readonly DirectMessage[] = [],
  reverseAcks: readonly ReverseAcks[] = [],
  heartbeats: readonly string[] = [],
): peer.RouteBatch {
  return {
    sender: encodeNodeInfo(sender),
    messages: messages.map(encodeRouteMessage),
    acks: acks.map(encodeAck),
    direct: direct.map((d) => ({ id: d.id, purpose: d.purpose, payload: bytesOf(d.payload) })),
    reverseAcks: reverseAcks.map((r) => ({ stream: r.stream, response: bytesOf(r.response) })),
    heartbeats: [...heartbeats],
  };
}

/** An end-to-end acknowledgement as it rides in a batch (RouteBatch.acks) or a response (RouteStreamResponse.acks). */
export function encodeAck(ack: BatchedAck): peer.EndToEndAck {
  return {
    messageId: ack.messageId,
    hops: ack.hops,
    refusalCode: ack.refusal?.code ?? 0,
    refusalReason: ack.refusal?.reason ?? "",
    droppedCopy: ack.undelivered?.copy ?? 0,
    droppedReason:
      ack.undelivered === undefined
        ? peer.DropReason.DROP_REASON_UNSPECIFIED
        : DROP_REASONS[ack.undelivered.reason],
  };
}

// ---------------------------------------------------------------------------------------------- decoding

/** Decoded nodes by their wire fields, per limits (a node valid under one set may not be under another). */
const decodedNodes = new WeakMap<WireLimits, Map<string, NodeInfo>>();
/** Distinct nodes remembered per limits; a peer population far above it just decodes afresh. */
const DECODED_NODES_CACHED = 4096;

/**
 * A node as the core sees it. Every batch carries its sender and every message its origin, usually the same
 * few nodes, so a node already decoded (and checked) is returned as the same object.
 */
export function decodeNodeInfo(
  node: wire.NodeInfo | undefined,
  field: string,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): NodeInfo {
  const n = requirePresent(node, field);
  const id = n.id;
  // Lengths make the key unambiguous whatever the strings hold.
  const cacheKey =
    id.length === 16
      ? `${Buffer.from(id.buffer, id.byteOffset, 16).toString("hex")}${n.incarnation}:${n.region.length}:${n.region}${n.localAddress.length}:${n.localAddress}${n.globalAddress}`
      : undefined;
  let cache = decodedNodes.get(limits);
  const cached = cacheKey === undefined ? undefined : cache?.get(cacheKey);
  if (cached !== undefined) return cached;
  const decoded = decodeNodeInfoOnce(n, field, limits);
  if (cacheKey !== undefined) {
    if (cache === undefined) {
      cache = new Map();
      decodedNodes.set(limits, cache);
    }
    if (cache.size >= DECODED_NODES_CACHED) cache.clear();
    cache.set(cacheKey, decoded);
  }
  return decoded;
}

function decodeNodeInfoOnce(n: wire.NodeInfo, field: string, limits: WireLimits): NodeInfo {
  return {
    id: decodeId(n.id, `${field}.id`),
    localAddress: checkAddress(n.localAddress, limits.maxAddressLength, `${field}.local_address`),
    globalAddress: checkAddress(n.globalAddress, limits.maxAddressLength, `${field}.global_address`),
    region: checkText(n.region, limits.maxRegionLength, `${field}.region`, true),
    incarnation: checkIncarnation(n.incarnation, `${field}.incarnation`),
  };
}

function decodeNodes(nodes: readonly wire.NodeInfo[], field: string, limits: WireLimits): NodeInfo[] {
  checkListLength(nodes, limits.maxNodeListLength, field);
  return nodes.map((n, i) => decodeNodeInfo(n, `${field}[${i}]`, limits));
}

function decodeRow(row: number, field: string): number {
  return checkUint(row, MAX_ROWS - 1, field);
}

export function decodeRowEntries(
  row: wire.RowEntries | undefined,
  field: string,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): RowEntries {
  const r = requirePresent(row, field);
  checkListLength(r.entries, MAX_ROW_ENTRIES, `${field}.entries`);
  const decoded = {
    row: decodeRow(r.row, `${field}.row`),
    entries: r.entries.map((n, i) => decodeNodeInfo(n, `${field}.entries[${i}]`, limits)),
  };
  const micros = r.roundTripMicros;
  if (micros.length === 0) return decoded;
  if (micros.length !== r.entries.length) {
    throw new WireFormatError(
      `${field}.round_trip_micros`,
      `has ${micros.length} values for ${r.entries.length} entries (must be none or one per entry)`,
    );
  }
  return { ...decoded, rttMs: micros.map((us) => (us === 0 ? undefined : us / 1000)) };
}

function decodeMessageId(id: string, field: string, limits: WireLimits): string {
  return checkText(id, limits.maxMessageIdLength, field, false);
}

export function decodeRouteMessage(
  message: wire.RouteMessage | undefined,
  field: string,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): RouteMessage {
  const m = requirePresent(message, field);
  return {
    id: decodeMessageId(m.id, `${field}.id`, limits),
    key: decodeId(m.key, `${field}.key`),
    purpose: checkUint(m.purpose, limits.maxPurpose, `${field}.purpose`),
    payload: checkPayload(m.payload, limits.maxPayloadBytes, `${field}.payload`),
    origin: decodeNodeInfo(m.origin, `${field}.origin`, limits),
    hops: checkUint(m.hops, limits.maxHops, `${field}.hops`),
    maxHops: checkUint(m.maxHops, limits.maxHops, `${field}.max_hops`),
    wantAck: m.wantAck,
    ...(m.copy === 0 ? {} : { copy: checkUint(m.copy, MAX_MESSAGE_COPY, `${field}.copy`) }),
  };
}

function decodeMessage(request: PeerRequest, limits: WireLimits): PeerMessage {
  switch (request.method) {
    case "join": {
      const r = request.request;
      return {
        type: "join",
        joiner: decodeNodeInfo(r.joiner, "joiner", limits),
        hops: checkUint(r.hops, limits.maxHops, "hops"),
      };
    }
    case "joinState": {
      const r = request.request;
      checkListLength(r.rows, MAX_ROWS, "rows");
      return {
        type: "joinState",
        rows: r.rows.map((row, i) => decodeRowEntries(row, `rows[${i}]`, limits)),
        neighbours: decodeNodes(r.neighbours, "neighbours", limits),
        leafSet: decodeNodes(r.leafSet, "leaf_set", limits),
        final: r.final,
      };
    }
    case "probe":
      return {
        type: "probe",
        sentAt: checkMillis(request.request.sentAtMs, "sent_at_ms"),
        joining: request.request.joining,
      };
    case "probeReply": {
      const r = request.request;
      checkListLength(r.removed, limits.maxNodeListLength, "removed");
      return {
        type: "probeReply",
        echoSentAt: checkMillis(r.echoSentAtMs, "echo_sent_at_ms"),
        leafSet: decodeNodes(r.leafSet, "leaf_set", limits),
        ready: r.ready,
        removed: r.removed.map((id, i) => decodeId(id, `removed[${i}]`)),
      };
    }
    case "announce":
      return { type: "announce" };
    case "heartbeat":
      return { type: "heartbeat" };
    case "requestLeafSet":
      return { type: "leafSetRequest" };
    case "shareLeafSet": {
      const r = request.request;
      checkListLength(r.removed, limits.maxNodeListLength, "removed");
      return {
        type: "leafSet",
        leafSet: decodeNodes(r.leafSet, "leaf_set", limits),
        removed: r.removed.map((id, i) => decodeId(id, `removed[${i}]`)),
      };
    }
    case "requestRow":
      return { type: "rowRequest", row: decodeRow(request.request.row, "row") };
    case "shareRow":
      return { type: "row", row: decodeRowEntries(request.request.row, "row", limits) };
    case "route":
      return { type: "route", message: decodeRouteMessage(request.request.message, "message", limits) };
    case "ack":
      return { type: "ack", ...decodeAck(request.request, "", limits) };
    case "leave":
      return { type: "leave", leafSet: decodeNodes(request.request.leafSet, "leaf_set", limits) };
  }
}

/** Validates one received PeerService request and converts it to the core's sender and message. */
export function decodePeerRequest(
  request: PeerRequest,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): PeerEnvelope {
  const sender = decodeNodeInfo(request.request.sender, "sender", limits);
  return { sender, message: decodeMessage(request, limits) };
}

/**
 * Parses raw request bytes for `method` and validates them: every failure, including a protobuf parse
 * error, comes out as WireFormatError.
 */
export function decodePeerRequestBytes(
  method: PeerMethod,
  bytes: Uint8Array,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): PeerEnvelope {
  return decodePeerRequest(parsePeerRequest(method, bytes), limits);
}

/** The generated protobuf decoder for `method`'s request, with parse errors turned into WireFormatError. */
export function parsePeerRequest(method: PeerMethod, bytes: Uint8Array): PeerRequest {
  try {
    return {
      method,
      request: peer.PeerServiceService[method].requestDeserialize(bytesOf(bytes)),
    } as PeerRequest;
  } catch (err) {
    throw new WireFormatError("(request)", `not a valid ${method} request: ${asError(err).message}`);
  }
}

/** One message of a batch that failed validation; the rest of the batch is still usable. */
export interface RejectedRoute {
  readonly messageId: string;
  readonly reason: string;
}

/** An end-to-end acknowledgement carried in a RouteStream batch. */
export interface BatchedAck {
  readonly messageId: string;
  readonly hops: number;
  /** Set when the delivering node's application refused the message. */
  readonly refusal?: Refusal;
  /** Set when this is a drop notice from a node on the way (never with `refusal`). */
  readonly undelivered?: DropNotice;
}

const DROP_REASONS: Readonly<Record<NoticedDropReason, peer.DropReason>> = {
  ttl: peer.DropReason.DROP_REASON_TTL,
  undeliverable: peer.DropReason.DROP_REASON_UNDELIVERABLE,
  queue_full: peer.DropReason.DROP_REASON_QUEUE_FULL,
};

/** A message for the receiving node itself, on a reserved purpose (RouteBatch.direct). */
export interface DirectMessage {
  readonly id: string;
  readonly purpose: number;
  readonly payload: Uint8Array;
}

/** A RouteStream response riding in a batch going the other way (RouteBatch.reverse_acks). */
export interface ReverseAcks {
  /** The token its stream's opener named the stream with. */
  readonly stream: string;
  /** The serialized, signed RouteStreamResponse. */
  readonly response: Uint8Array;
}

/** Longest stream token accepted in reverse acknowledgements (the runtime's are 32 hex digits). */
export const MAX_STREAM_TOKEN_LENGTH = 64;

export interface DecodedRouteBatch {
  readonly sender: NodeInfo;
  readonly messages: readonly RouteMessage[];
  readonly rejected: readonly RejectedRoute[];
  readonly acks: readonly BatchedAck[];
  readonly direct: readonly DirectMessage[];
  readonly reverseAcks: readonly ReverseAcks[];
  /** Ids of the sender's heartbeats (RouteBatch.heartbeats). */
  readonly heartbeats: readonly string[];
}

/**
 * Validates a RouteStream batch. A bad sender or an oversized batch rejects the whole batch (throws); a bad
 * individual message is listed in `rejected` so the others are still acknowledged one by one.
 */
export function decodeRouteBatch(
  batch: peer.RouteBatch,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): DecodedRouteBatch {
  const sender = decodeNodeInfo(batch.sender, "sender", limits);
  checkListLength(batch.messages, limits.maxBatchMessages, "messages");
  const messages: RouteMessage[] = [];
  const rejected: RejectedRoute[] = [];
  batch.messages.forEach((m, i) => {
    try {
      messages.push(decodeRouteMessage(m, `messages[${i}]`, limits));
    } catch (err) {
      if (!(err instanceof WireFormatError)) throw err;
      rejected.push({ messageId: m.id.slice(0, limits.maxMessageIdLength), reason: err.message });
    }
  });
  checkListLength(batch.acks, limits.maxBatchMessages, "acks");
  const acks = batch.acks.map((a, i) => decodeAck(a, `acks[${i}].`, limits));
  checkListLength(batch.direct, limits.maxBatchMessages, "direct");
  const direct = batch.direct.map((d, i) => ({
    id: decodeMessageId(d.id, `direct[${i}].id`, limits),
    purpose: checkRange(d.purpose, 1, FIRST_APPLICATION_PURPOSE - 1, `direct[${i}].purpose`),
    payload: checkPayload(d.payload, limits.maxPayloadBytes, `direct[${i}].payload`),
  }));
  checkListLength(batch.reverseAcks, limits.maxBatchMessages, "reverse_acks");
  const reverseAcks = batch.reverseAcks.map((r, i) => ({
    stream: checkText(r.stream, MAX_STREAM_TOKEN_LENGTH, `reverse_acks[${i}].stream`, false),
    response: r.response,
  }));
  checkListLength(batch.heartbeats, limits.maxBatchMessages, "heartbeats");
  const heartbeats = batch.heartbeats.map((id, i) => decodeMessageId(id, `heartbeats[${i}]`, limits));
  return { sender, messages, rejected, acks, direct, reverseAcks, heartbeats };
}

function checkRange(value: number, min: number, max: number, field: string): number {
  if (value < min) throw new WireFormatError(field, `${value} is below ${min}`);
  return checkUint(value, max, field);
}

/** gRPC status codes are 0..16; 0 means acknowledged, so a refusal is 1..16. */
const MAX_STATUS_CODE = 16;
/** A refusal's reason is a sentence for the sender, not a payload. */
const MAX_REFUSAL_REASON_LENGTH = 1024;

/**
 * Validates the end-to-end acknowledgements of a RouteStream response (RouteStreamResponse.acks): at most
 * `accepted` of them, each only beside its hop's accepted id. Throws WireFormatError on the first bad one.
 */
export function decodeResponseAcks(
  acks: readonly peer.EndToEndAck[],
  accepted: number,
  limits: WireLimits = DEFAULT_WIRE_LIMITS,
): BatchedAck[] {
  checkListLength(acks, Math.min(accepted, limits.maxBatchMessages), "acks");
  return acks.map((a, i) => decodeAck(a, `acks[${i}].`, limits));
}

function decodeAck(a: peer.EndToEndAck, prefix: string, limits: WireLimits): BatchedAck {
  const messageId = decodeMessageId(a.messageId, `${prefix}message_id`, limits);
  const hops = checkUint(a.hops, limits.maxHops, `${prefix}hops`);
  const code = checkUint(a.refusalCode, MAX_STATUS_CODE, `${prefix}refusal_code`);
  const reason = checkText(a.refusalReason, MAX_REFUSAL_REASON_LENGTH, `${prefix}refusal_reason`, true);
  const undelivered = decodeDropNotice(a, prefix);
  if (undelivered !== undefined) {
    if (code !== 0) throw new WireFormatError(`${prefix}dropped_copy`, "a drop notice carries no refusal");
    return { messageId, hops, undelivered };
  }
  return code === 0 ? { messageId, hops } : { messageId, hops, refusal: { code, reason } };
}

/** A drop notice's copy and reason: both set, or neither (an acknowledgement or a refusal). */
function decodeDropNotice(a: peer.EndToEndAck, prefix: string): DropNotice | undefined {
  const copy = checkUint(a.droppedCopy, MAX_MESSAGE_COPY, `${prefix}dropped_copy`);
  const reason = (Object.keys(DROP_REASONS) as NoticedDropReason[]).find(
    (r) => DROP_REASONS[r] === a.droppedReason,
  );
  if (copy === 0 && a.droppedReason === peer.DropReason.DROP_REASON_UNSPECIFIED) return undefined;
  if (copy === 0) throw new WireFormatError(`${prefix}dropped_reason`, "set without dropped_copy");
  if (reason === undefined)
    throw new WireFormatError(`${prefix}dropped_reason`, `${String(a.droppedReason)} is no drop reason`);
  return { copy, reason };
}
