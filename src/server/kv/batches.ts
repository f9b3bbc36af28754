// The batching rule lives in src/kv (pure, shared with the simulator); re-exported for the runtime's modules.
// Here too: a Fetch answer cut to fit one gRPC message.
import type { FetchResponse } from "../../gen/wendy/v1/kv_peer.js";
import { batchRecords } from "../../kv/batches.js";
import type { KvRecord } from "../../kv/record.js";
import { encodeRecord, idBytes } from "./wire.js";

export { batchRecords, chunks, MAX_RECORDS_PER_REQUEST } from "../../kv/batches.js";

/**
 * The answer to a Fetch of the `held` records: with values, as many as `maxBytes` allows (the first always),
 * the keys of the rest listed as omitted for the asker to fetch again.
 */
export function answerFetch(
  held: readonly KvRecord[],
  versionsOnly: boolean,
  maxBytes: number,
): FetchResponse {
  // One record (a Get's Fetch) always fits whole.
  if (versionsOnly || held.length <= 1)
    return { records: held.map((r) => encodeRecord(r, !versionsOnly)), omitted: [] };
  const [fits, ...more] = batchRecords(held, maxBytes);
  return {
    records: (fits ?? []).map((r) => encodeRecord(r, true)),
    omitted: more.flat().map((r) => idBytes(r.key)),
  };
}
