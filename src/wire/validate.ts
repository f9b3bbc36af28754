// Field checks shared by the decoders. Each throws WireFormatError naming the offending field.
import { ID_BYTES, NodeId } from "../routing/id.js";
import { WireFormatError } from "./errors.js";

export function requirePresent<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new WireFormatError(field, "is required but missing");
  return value;
}

export function decodeId(bytes: Uint8Array, field: string): NodeId {
  if (bytes.length !== ID_BYTES) {
    throw new WireFormatError(field, `must be exactly ${ID_BYTES} bytes, got ${bytes.length}`);
  }
  return NodeId.fromBytes(bytes);
}

export function checkUint(value: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new WireFormatError(field, `must be an integer in [0, ${max}], got ${value}`);
  }
  return value;
}

export function checkListLength<T>(list: readonly T[], max: number, field: string): readonly T[] {
  if (list.length > max)
    throw new WireFormatError(field, `has ${list.length} entries, at most ${max} allowed`);
  return list;
}

export function checkText(value: string, maxLength: number, field: string, allowEmpty: boolean): string {
  if (!allowEmpty && value.length === 0) throw new WireFormatError(field, "must not be empty");
  if (value.length > maxLength) {
    throw new WireFormatError(field, `is ${value.length} characters long, at most ${maxLength} allowed`);
  }
  return value;
}

const PORT_RE = /^[0-9]{1,5}$/;

/** "host:port" with a non-empty host (IPv6 in brackets) and a port in [1, 65535]. */
export function checkAddress(value: string, maxLength: number, field: string): string {
  checkText(value, maxLength, field, false);
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, Math.max(colon, 0));
  const port = value.slice(colon + 1);
  const portNumber = Number(port);
  if (colon <= 0 || !PORT_RE.test(port) || portNumber < 1 || portNumber > 65535 || /\s/.test(host)) {
    throw new WireFormatError(field, `must be "host:port", got ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

export function checkPayload(bytes: Uint8Array, maxBytes: number, field: string): Uint8Array {
  if (bytes.length > maxBytes) {
    throw new WireFormatError(field, `is ${bytes.length} bytes, at most ${maxBytes} allowed`);
  }
  // A plain view on the same memory: no copy, and no Buffer type leaking into the core.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function checkMillis(value: number, field: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new WireFormatError(field, `must be a finite, non-negative number of milliseconds, got ${value}`);
  }
  return value;
}

export function checkIncarnation(value: bigint, field: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new WireFormatError(field, `must be in [0, 2^53 - 1], got ${value}`);
  }
  return Number(value);
}
