// Conversions between the client's plain types and the generated wire messages.
import { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import type { Key } from "../gen/wendy/v1/overlay.js";
import type { NodeInfo as WireNodeInfo } from "../gen/wendy/v1/types.js";
import { decodeNodeInfo } from "../wire/codec.js";
import { status } from "@grpc/grpc-js";
import { WendyClientError } from "./errors.js";
import { asError } from "../shared/as-error.js";

/**
 * A key: a NodeId (the raw 128-bit ID), 16 raw bytes, or a name that the node hashes like NodeId.fromString.
 */
export type KeyLike = NodeId | Uint8Array | string;

export function toWireKey(key: KeyLike): Key {
  if (key instanceof NodeId) return { kind: { $case: "id", id: Buffer.from(key.hex, "hex") } };
  if (typeof key === "string") return { kind: { $case: "name", name: key } };
  return { kind: { $case: "id", id: Buffer.from(key.buffer, key.byteOffset, key.byteLength) } };
}

/** A node as the client sees it (same shape as the routing core's NodeInfo). */
export function fromWireNode(node: WireNodeInfo | undefined, field: string): NodeInfo {
  try {
    return decodeNodeInfo(node, field);
  } catch (error) {
    throw new WendyClientError(
      `the node answered with a malformed ${field}: ${asError(error).message}`,
      status.INTERNAL,
    );
  }
}

export function toBuffer(bytes: Uint8Array | string): Buffer {
  return typeof bytes === "string"
    ? Buffer.from(bytes, "utf8")
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function keyFromBytes(bytes: Uint8Array): NodeId {
  return NodeId.fromBytes(bytes);
}
