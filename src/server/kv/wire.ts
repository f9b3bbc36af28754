// The key-value store's protobuf messages to and from the records and versions of src/kv.
import type { NodeId } from "../../routing/id.js";
import type { Record as WireRecord } from "../../gen/wendy/v1/kv_peer.js";
import type { Version as WireVersion } from "../../gen/wendy/v1/kv.js";
import type { KvRecord } from "../../kv/record.js";
import type { Version } from "../../kv/version.js";
import { WireFormatError } from "../../wire/errors.js";
import { decodeId } from "../../wire/validate.js";

const MAX_COUNTER = (1n << 64n) - 1n;

export function encodeVersion(v: Version): WireVersion {
  return { counter: v.counter, writer: Buffer.from(v.writer.hex, "hex") };
}

export function decodeVersion(v: WireVersion | undefined, field: string): Version {
  if (v === undefined) throw new WireFormatError(field, "is required");
  if (v.counter < 1n || v.counter > MAX_COUNTER)
    throw new WireFormatError(`${field}.counter`, `must be 1..2^64-1, got ${v.counter}`);
  return { counter: v.counter, writer: decodeId(v.writer, `${field}.writer`) };
}

export function encodeRecord(r: KvRecord, withValue = true): WireRecord {
  return {
    key: Buffer.from(r.key.hex, "hex"),
    version: encodeVersion(r.version),
    value: withValue ? Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength) : Buffer.alloc(0),
    deleted: r.deleted,
  };
}

export function decodeRecord(r: WireRecord, field: string, maxValueBytes: number): KvRecord {
  if (r.value.byteLength > maxValueBytes)
    throw new WireFormatError(`${field}.value`, `${r.value.byteLength} bytes exceeds ${maxValueBytes}`);
  if (r.deleted && r.value.byteLength > 0)
    throw new WireFormatError(`${field}.value`, "must be empty for a tombstone");
  return {
    key: decodeId(r.key, `${field}.key`),
    version: decodeVersion(r.version, `${field}.version`),
    value: new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength),
    deleted: r.deleted,
  };
}

export function idBytes(id: NodeId): Buffer {
  return Buffer.from(id.hex, "hex");
}
