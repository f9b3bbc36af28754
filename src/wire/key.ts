// Keys as clients give them to the Overlay service: a raw 16-byte ID or a name hashed to one.
import { NodeId } from "../routing/id.js";
import type { Key } from "../gen/wendy/v1/overlay.js";
import { WireFormatError } from "./errors.js";
import { decodeId } from "./validate.js";

/** Longest key name accepted, in UTF-8 bytes. */
export const MAX_KEY_NAME_BYTES = 1024;

/** The ring position of a client's key; a name is hashed exactly as NodeId.fromString does. */
export function decodeKey(key: Key | undefined, field: string): NodeId {
  const kind = key?.kind;
  if (kind === undefined) throw new WireFormatError(field, "is required: set either id or name");
  if (kind.$case === "id") return decodeId(kind.id, `${field}.id`);
  const size = Buffer.byteLength(kind.name, "utf8");
  if (size === 0 || size > MAX_KEY_NAME_BYTES) {
    throw new WireFormatError(
      `${field}.name`,
      `must be 1 to ${MAX_KEY_NAME_BYTES} bytes of UTF-8, got ${size}`,
    );
  }
  return NodeId.fromString(kind.name);
}

/** A Key message carrying the raw ID (what clients send when they already hold a NodeId). */
export function encodeKey(id: NodeId): Key {
  return { kind: { $case: "id", id: Buffer.from(id.hex, "hex") } };
}
