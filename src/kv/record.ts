// What a replica holds for one key: a value or a tombstone, at a version.
import type { NodeId } from "../routing/id.js";
import { compareVersions, type Version } from "./version.js";

export interface KvRecord {
  readonly key: NodeId;
  readonly version: Version;
  /** Empty for a tombstone. */
  readonly value: Uint8Array;
  /** A deletion, kept so that it orders after the writes it deleted. */
  readonly deleted: boolean;
}

/** Whether `incoming` replaces `held` (the conflict rule: the higher version wins, always). */
export function supersedes(incoming: KvRecord, held: KvRecord | undefined): boolean {
  return held === undefined || compareVersions(incoming.version, held.version) > 0;
}

/** The newest of some records of one key; undefined for none. */
export function newestRecord(records: Iterable<KvRecord | undefined>): KvRecord | undefined {
  let newest: KvRecord | undefined;
  for (const r of records) if (r !== undefined && supersedes(r, newest)) newest = r;
  return newest;
}

/** Bytes a record costs a store: its key, value and version. */
export function recordBytes(record: KvRecord): number {
  return 16 + 16 + 8 + record.value.byteLength;
}
