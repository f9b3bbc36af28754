// Splits records into Replicate requests that fit one message and the per-request record bound. Pure, so
// the runtime and the simulator send the very same requests.
import { recordBytes, type KvRecord } from "./record.js";

/** Records per Replicate or Fetch request, at most (kv_peer.proto). */
export const MAX_RECORDS_PER_REQUEST = 512;

/** Bytes a record is counted for in a batch: its own bytes plus a margin for the message's framing. */
export const RECORD_FRAMING_BYTES = 64;

export function batchRecords(records: readonly KvRecord[], maxBytes: number): KvRecord[][] {
  const batches: KvRecord[][] = [];
  let current: KvRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = recordBytes(r) + RECORD_FRAMING_BYTES;
    if (current.length > 0 && (current.length >= MAX_RECORDS_PER_REQUEST || bytes + size > maxBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
