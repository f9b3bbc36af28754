// Sends records to one peer in Replicate requests that fit a message: the one send loop of re-replication
// and anti-entropy (the batching rule is src/kv/batches.ts, shared with the simulator).
import type { NodeInfo as WireNodeInfo } from "../../gen/wendy/v1/types.js";
import type { NodeInfo } from "../../routing/types.js";
import { batchRecords } from "../../kv/batches.js";
import type { KvRecord } from "../../kv/record.js";
import type { KvPeers } from "./peer-client.js";
import { encodeRecord } from "./wire.js";

export interface SendResult {
  /** Records the peer confirmed. */
  readonly sent: number;
  /** Keys (hex) of the records whose request failed. */
  readonly failed: readonly string[];
}

/** Every batch is tried (a failed one does not stop the rest); returns what was confirmed and what failed. */
export async function sendRecords(
  peers: KvPeers,
  node: NodeInfo,
  sender: WireNodeInfo,
  records: readonly KvRecord[],
  options: { readonly maxBatchBytes: number; readonly timeoutMs: number },
): Promise<SendResult> {
  let sent = 0;
  const failed: string[] = [];
  for (const batch of batchRecords(records, options.maxBatchBytes)) {
    try {
      await peers.replicate(node, { sender, records: batch.map((r) => encodeRecord(r)) }, options.timeoutMs);
      sent += batch.length;
    } catch {
      failed.push(...batch.map((r) => r.key.hex));
    }
  }
  return { sent, failed };
}
