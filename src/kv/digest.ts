// Anti-entropy digests: the keys two replicas share, split into 64 buckets by their first six bits, each
// bucket summarised by the XOR of a hash of each key and version. Equal buckets hold the same records (up to
// a 64-bit hash collision); only differing buckets are listed and exchanged.
import { createHash } from "node:crypto";
import type { KvRecord } from "./record.js";

export const DIGEST_BUCKETS = 64;

/** The bucket of a key: the top six bits of its first byte. */
export function bucketOf(keyHex: string): number {
  return Number.parseInt(keyHex.slice(0, 2), 16) >> 2;
}

// Records are immutable: a record's hash is computed once, not once per anti-entropy round.
const hashes = new WeakMap<object, bigint>();

/** The first 8 bytes of SHA-256(key 16 bytes, counter 8 bytes big-endian, writer 16 bytes, deleted 1 byte). */
export function recordHash(record: Pick<KvRecord, "key" | "version" | "deleted">): bigint {
  const known = hashes.get(record);
  if (known !== undefined) return known;
  const hash = hashOf(record);
  hashes.set(record, hash);
  return hash;
}

function hashOf(record: Pick<KvRecord, "key" | "version" | "deleted">): bigint {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt.asUintN(64, record.version.counter));
  const digest = createHash("sha256")
    .update(Buffer.from(record.key.hex, "hex"))
    .update(counter)
    .update(Buffer.from(record.version.writer.hex, "hex"))
    .update(Buffer.of(record.deleted ? 1 : 0))
    .digest();
  return digest.readBigUInt64BE(0);
}

/** The 64 bucket hashes of some records (distinct keys). */
export function digestOf(records: Iterable<Pick<KvRecord, "key" | "version" | "deleted">>): bigint[] {
  const buckets = new Array<bigint>(DIGEST_BUCKETS).fill(0n);
  for (const r of records) {
    const b = bucketOf(r.key.hex);
    buckets[b] = (buckets[b] as bigint) ^ recordHash(r);
  }
  return buckets;
}

/** The buckets whose hashes differ. */
export function differingBuckets(a: readonly bigint[], b: readonly bigint[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < DIGEST_BUCKETS; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
