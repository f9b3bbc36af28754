// Splits records into Replicate requests and Fetch answers that fit one gRPC message and the per-request record bound.
import type { FetchResponse } from "../../gen/wendy/v1/kv_peer.js";
import type { KvRecord } from "../../kv/record.js";
import { recordBytes } from "../../kv/record.js";
import { encodeRecord, idBytes } from "./wire.js";

/** Records per Replicate or Fetch request, at most (kv_peer.proto). */
export const MAX_RECORDS_PER_REQUEST = 512;

export function batchRecords(records: readonly KvRecord[], maxBytes: number): KvRecord[][] {
  const batches: KvRecord[][] = [];
  let current: KvRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = recordBytes(r) + 64;
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

/**
 * The answer to a Fetch of the `held` records: with values, as many as `maxBytes` allows (the first always),
 * the keys of the rest listed as omitted for the asker to fetch again.
 */
export function answerFetch(
  held: readonly KvRecord[],
  versionsOnly: boolean,
  maxBytes: number,
): FetchResponse {
  if (versionsOnly) return { records: held.map((r) => encodeRecord(r, false)), omitted: [] };
  const [fits, ...more] = batchRecords(held, maxBytes);
  return {
    records: (fits ?? []).map((r) => encodeRecord(r, true)),
    omitted: more.flat().map((r) => idBytes(r.key)),
  };
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
