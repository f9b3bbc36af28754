// Call traffic on the runtime's reserved purposes. A request travels to the key's owner; the answer travels
// back on another reserved purpose, routed to the caller's node ID (whose owner is the caller itself).
// Layouts (big-endian): request = version | call id (16) | purpose u32 | timeout ms u32 | payload;
// answer = version | call id (16) | status u8 | hops u16 | details length u16 | details | payload;
// cancel = version | call id (16).
import { status } from "@grpc/grpc-js";

export const CALL_REQUEST_PURPOSE = 1;
export const CALL_ANSWER_PURPOSE = 2;
export const CALL_CANCEL_PURPOSE = 3;

const VERSION = 1;
const CALL_ID_BYTES = 16;
const MAX_DETAILS_BYTES = 200;

export class CallEnvelopeError extends Error {
  override readonly name = "CallEnvelopeError";
}

export interface CallRequestEnvelope {
  readonly callId: string;
  readonly purpose: number;
  readonly timeoutMs: number;
  readonly payload: Uint8Array;
}

export interface CallAnswerEnvelope {
  readonly callId: string;
  readonly code: status;
  readonly hops: number;
  readonly details: string;
  readonly payload: Uint8Array;
}

export function encodeCallRequest(r: CallRequestEnvelope): Uint8Array {
  const head = Buffer.alloc(1 + CALL_ID_BYTES + 8);
  head.writeUInt8(VERSION, 0);
  writeCallId(head, r.callId);
  head.writeUInt32BE(r.purpose, 1 + CALL_ID_BYTES);
  head.writeUInt32BE(Math.min(Math.round(r.timeoutMs), 0xffffffff), 1 + CALL_ID_BYTES + 4);
  return Buffer.concat([head, r.payload]);
}

export function decodeCallRequest(bytes: Uint8Array): CallRequestEnvelope {
  const b = view(bytes, 1 + CALL_ID_BYTES + 8);
  return {
    callId: readCallId(b),
    purpose: b.readUInt32BE(1 + CALL_ID_BYTES),
    timeoutMs: b.readUInt32BE(1 + CALL_ID_BYTES + 4),
    payload: b.subarray(1 + CALL_ID_BYTES + 8),
  };
}

export function encodeCallAnswer(a: CallAnswerEnvelope): Uint8Array {
  const details = Buffer.from(a.details, "utf8").subarray(0, MAX_DETAILS_BYTES);
  const head = Buffer.alloc(1 + CALL_ID_BYTES + 5);
  head.writeUInt8(VERSION, 0);
  writeCallId(head, a.callId);
  head.writeUInt8(a.code, 1 + CALL_ID_BYTES);
  head.writeUInt16BE(Math.min(a.hops, 0xffff), 1 + CALL_ID_BYTES + 1);
  head.writeUInt16BE(details.length, 1 + CALL_ID_BYTES + 3);
  return Buffer.concat([head, details, a.payload]);
}

export function decodeCallAnswer(bytes: Uint8Array): CallAnswerEnvelope {
  const b = view(bytes, 1 + CALL_ID_BYTES + 5);
  const detailsLength = b.readUInt16BE(1 + CALL_ID_BYTES + 3);
  const start = 1 + CALL_ID_BYTES + 5;
  if (b.length < start + detailsLength) throw new CallEnvelopeError("call answer shorter than its details");
  return {
    callId: readCallId(b),
    code: b.readUInt8(1 + CALL_ID_BYTES),
    hops: b.readUInt16BE(1 + CALL_ID_BYTES + 1),
    details: b.subarray(start, start + detailsLength).toString("utf8"),
    payload: b.subarray(start + detailsLength),
  };
}

export function encodeCallCancel(callId: string): Uint8Array {
  const b = Buffer.alloc(1 + CALL_ID_BYTES);
  b.writeUInt8(VERSION, 0);
  writeCallId(b, callId);
  return b;
}

export function decodeCallCancel(bytes: Uint8Array): string {
  return readCallId(view(bytes, 1 + CALL_ID_BYTES));
}

/** Call ids are 32 lowercase hex digits (16 random bytes). */
export function isCallId(text: string): boolean {
  return /^[0-9a-f]{32}$/.test(text);
}

function view(bytes: Uint8Array, minLength: number): Buffer {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < minLength) throw new CallEnvelopeError(`call envelope of ${b.length} bytes is too short`);
  if (b.readUInt8(0) !== VERSION)
    throw new CallEnvelopeError(`unknown call envelope version ${b.readUInt8(0)}`);
  return b;
}

function writeCallId(b: Buffer, callId: string): void {
  Buffer.from(callId, "hex").copy(b, 1, 0, CALL_ID_BYTES);
}

function readCallId(b: Buffer): string {
  return b.subarray(1, 1 + CALL_ID_BYTES).toString("hex");
}
