// The optional persistent copy of a node's key-value records, in LevelDB (the npm package classic-level) in
// a directory on the pod's volume, so a restarted node keeps what it held. The in-memory store stays the
// one that answers (same bounds, same synchronous rules); every change it keeps is queued here and written
// in order, many at a time, and a replica acknowledges a write only once it is written (flushed()).
//
// Why classic-level: LevelDB is a small, well-proven embedded ordered key-value store (atomic batches, a
// write-ahead log, a lock so two processes cannot share a directory); the Level organisation maintains the
// binding, it ships N-API prebuilt binaries for linux-x64 (glibc and musl) that load on every Node line
// from 18 on without a compiler, and it has no other native dependency.
import { mkdirSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import type { ClassicLevel } from "classic-level";
import { Record as WireRecord } from "../../gen/wendy/v1/kv_peer.js";
import type { NodeId } from "../../routing/id.js";
import type { KvRecord } from "../../kv/record.js";
import { WendyError } from "../errors.js";
import { decodeRecord, encodeRecord, idBytes } from "./wire.js";

/** What the in-memory store tells its persistent copy. */
export interface KvPersistence {
  /** `record` is now held for its key (replacing any older one). */
  put(record: KvRecord): void;
  /** Nothing is held for `key` any more. */
  delete(key: NodeId): void;
  /** Every version counter this node issued or forgot is at most `counter` (store.ts, versionFloor). */
  putVersionFloor(counter: bigint): void;
  /** Resolves once every change queued so far is written; rejects if writing one failed. */
  flushed(): Promise<void>;
}

/** The data directory could not be opened or read: the node does not start. */
export class KvDataDirError extends WendyError {
  override readonly name = "KvDataDirError";
  constructor(message: string) {
    super(message, status.FAILED_PRECONDITION);
  }
}

type Operation = { type: "put"; key: Buffer; value: Buffer } | { type: "del"; key: Buffer };

/** Where the version floor is kept: 19 bytes, so never a record's key (a 16-byte ID). */
const VERSION_FLOOR_KEY = Buffer.from("wendy/version-floor");

export class LevelKvPersistence implements KvPersistence {
  private pending: Operation[] = [];
  private queued = false;
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: ClassicLevel<Buffer, Buffer>,
    readonly directory: string,
  ) {}

  /** Opens (creating if missing) the store in `directory`; a locked or corrupt one is a KvDataDirError. */
  static async open(directory: string): Promise<LevelKvPersistence> {
    try {
      mkdirSync(directory, { recursive: true });
    } catch (error) {
      throw new KvDataDirError(`cannot create the key-value data directory ${directory}: ${reason(error)}`);
    }
    let db: ClassicLevel<Buffer, Buffer>;
    try {
      // Loaded on first use: a node in memory only never loads the native binding.
      const { ClassicLevel } = await import("classic-level");
      db = new ClassicLevel<Buffer, Buffer>(directory, { keyEncoding: "buffer", valueEncoding: "buffer" });
      await db.open();
    } catch (error) {
      throw new KvDataDirError(`cannot open the key-value data directory ${directory}: ${reason(error)}`);
    }
    return new LevelKvPersistence(db, directory);
  }

  /** Every record stored, in key order; a record that does not decode is a KvDataDirError. */
  async *records(maxValueBytes: number): AsyncGenerator<KvRecord> {
    try {
      for await (const [key, value] of this.db.iterator()) {
        if (key.equals(VERSION_FLOOR_KEY)) continue;
        const record = decodeRecord(WireRecord.decode(value), "stored record", maxValueBytes);
        if (!idBytes(record.key).equals(key))
          throw new Error(`record of key ${record.key.hex} stored elsewhere`);
        yield record;
      }
    } catch (error) {
      if (error instanceof KvDataDirError) throw error;
      throw new KvDataDirError(
        `cannot read the key-value data directory ${this.directory}: ${reason(error)}`,
      );
    }
  }

  /** The version floor last written (0 for none: a directory of an earlier version, or a new one). */
  async versionFloor(): Promise<bigint> {
    let stored: Buffer | undefined;
    try {
      stored = await this.db.get(VERSION_FLOOR_KEY);
    } catch (error) {
      throw new KvDataDirError(
        `cannot read the key-value data directory ${this.directory}: ${reason(error)}`,
      );
    }
    if (stored === undefined) return 0n;
    const text = stored.toString("ascii");
    if (!/^[0-9]{1,20}$/.test(text))
      throw new KvDataDirError(
        `the key-value data directory ${this.directory} holds a malformed version floor`,
      );
    return BigInt(text);
  }

  put(record: KvRecord): void {
    this.enqueue({
      type: "put",
      key: idBytes(record.key),
      value: Buffer.from(WireRecord.encode(encodeRecord(record)).finish()),
    });
  }

  delete(key: NodeId): void {
    this.enqueue({ type: "del", key: idBytes(key) });
  }

  putVersionFloor(counter: bigint): void {
    this.enqueue({ type: "put", key: VERSION_FLOOR_KEY, value: Buffer.from(counter.toString(), "ascii") });
  }

  flushed(): Promise<void> {
    return this.tail;
  }

  /** Writes what is queued, then closes the database. */
  async close(): Promise<void> {
    await this.tail.catch(() => undefined);
    await this.db.close();
  }

  /** Changes queued while a batch is written go in the next one, in order: a group commit. */
  private enqueue(operation: Operation): void {
    this.pending.push(operation);
    if (this.queued) return;
    this.queued = true;
    this.tail = this.tail
      .catch(() => undefined)
      .then(async () => {
        this.queued = false;
        const batch = this.pending;
        this.pending = [];
        try {
          await this.db.batch(batch);
        } catch (error) {
          throw new WendyError(
            `the key-value data directory ${this.directory} could not be written: ${reason(error)}`,
            status.INTERNAL,
          );
        }
      });
    // A failed batch is reported to whoever awaits flushed(); nobody may be waiting (a repair).
    this.tail.catch(() => undefined);
  }
}

/** LevelDB's own words (classic-level wraps them as the cause of a generic "failed to open"). */
function reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
