// The batching rule lives in src/kv (pure, shared with the simulator); re-exported for the runtime's modules.
export { batchRecords, chunks, MAX_RECORDS_PER_REQUEST } from "../../kv/batches.js";
