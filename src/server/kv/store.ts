// The records this node holds, in memory, within a bound on records and bytes: past either a new record is
// refused (RESOURCE_EXHAUSTED) rather than anything being evicted, since an evicted replica is a lost one.
// With a persistent copy (persistence.ts) every change is also queued to disk; flushed() says when written,
// and so is a floor under the versions this node issues, so that a restarted node never issues one it
// issued before (see issueVersion).
import { status } from "@grpc/grpc-js";
import type { NodeId } from "../../routing/id.js";
import { recordBytes, supersedes, type KvRecord } from "../../kv/record.js";
import { nextVersion, type Version } from "../../kv/version.js";
import { WendyError } from "../errors.js";
import type { KvPersistence } from "./persistence.js";

export interface KvStoreLimits {
  /** Records held at most, tombstones included. */
  readonly maxKeys: number;
  /** Bytes of keys, versions and values held at most. */
  readonly maxBytes: number;
}

export const DEFAULT_KV_STORE_LIMITS: KvStoreLimits = { maxKeys: 100_000, maxBytes: 256 * 1024 * 1024 };

export class KvStoreFullError extends WendyError {
  override readonly name = "KvStoreFullError";
  constructor(message: string) {
    super(message, status.RESOURCE_EXHAUSTED);
  }
}

const WRITTEN = Promise.resolve();
/** Removed tombstones remembered (MemoryKvStore.removedLately): several removal rounds' worth (512 each). */
const REMEMBERED_REMOVALS = 8192;
/**
 * How far ahead of the highest counter issued the floor on disk is written: one disk write per this many
 * counters rather than one per write; the price is that a restarted node's counters jump by up to as much.
 */
export const VERSION_FLOOR_RESERVE = 1024n;

export class MemoryKvStore {
  private readonly records = new Map<string, KvRecord>();
  private held = 0;
  /** When each tombstone held was stored here (this process's monotonic clock). */
  private readonly tombstoneSince = new Map<string, number>();
  private removedCounter = 0n;
  /** The floor read back from disk at start-up: every counter issued or removed before it is at most this. */
  private restartFloor = 0n;
  /** The floor written to disk (or queued): every counter issued or removed in this run is at most this. */
  private reservedFloor = 0n;
  /** Resolves once reservedFloor is on disk. */
  private reservation: Promise<void> = WRITTEN;
  /**
   * Tombstones removed here lately, by key. A copy sent back by a replica that still held one (its
   * anti-entropy or re-replication ran before its own removal round) is not kept again: kept, it would start
   * its grace over here and then be pushed back to the replica that meanwhile removed it, and so on.
   * Bounded; the oldest are forgotten first.
   */
  private readonly removedLately = new Map<string, KvRecord>();
  /** Told when the store goes from holding nothing to holding a record (see onFirstRecord). */
  private readonly firstRecordListeners: (() => void)[] = [];

  constructor(
    private readonly limits: KvStoreLimits = DEFAULT_KV_STORE_LIMITS,
    private readonly persistence?: KvPersistence,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Tombstones held, each with how long it has been held here. */
  *tombstones(): Generator<{ readonly record: KvRecord; readonly heldForMs: number }> {
    const now = this.now();
    for (const [hex, since] of this.tombstoneSince) {
      const record = this.records.get(hex);
      if (record !== undefined) yield { record, heldForMs: now - since };
    }
  }

  get tombstoneCount(): number {
    return this.tombstoneSince.size;
  }

  /**
   * Forgets a tombstone (tombstone.ts decided it may go) unless something newer arrived meanwhile, and
   * remembers its counter: a write this node coordinates later is versioned above it (versionFloor), so it
   * wins over a copy of the tombstone still held by a replica the write's version read did not hear.
   */
  removeTombstone(tombstone: KvRecord): boolean {
    const held = this.records.get(tombstone.key.hex);
    if (held === undefined || !held.deleted || supersedes(held, tombstone)) return false;
    // On disk no later than the removal (the queue is written in order, many changes to one batch).
    void this.reserve(held.version.counter);
    this.drop(tombstone.key, tombstone);
    if (held.version.counter > this.removedCounter) this.removedCounter = held.version.counter;
    this.removedLately.delete(held.key.hex);
    this.removedLately.set(held.key.hex, held);
    if (this.removedLately.size > REMEMBERED_REMOVALS) {
      const oldest = this.removedLately.keys().next();
      if (oldest.done !== true) this.removedLately.delete(oldest.value);
    }
    return true;
  }

  /**
   * New versions are written above this: the highest counter of a tombstone removed here, and after a
   * restart with a data directory, the floor written before (above every counter issued or removed then).
   */
  get versionFloor(): bigint {
    return this.removedCounter > this.restartFloor ? this.removedCounter : this.restartFloor;
  }

  /** Takes the version floor read back from the persistent copy at start-up. */
  restoreVersionFloor(floor: bigint): void {
    if (floor > this.restartFloor) this.restartFloor = floor;
    if (floor > this.reservedFloor) this.reservedFloor = floor;
  }

  /**
   * The version of a write this node coordinates after reading `current` (the newest a quorum holds): one
   * above it and above versionFloor. With a persistent copy, resolves only once the floor on disk covers
   * it: a node restarted after a crash (its last writes perhaps never stored anywhere, nor read back) then
   * issues higher counters, never the same counter again with another value.
   */
  async issueVersion(current: Version | undefined, writer: NodeId): Promise<Version> {
    const version = nextVersion([current, { counter: this.versionFloor, writer }], writer);
    await this.reserve(version.counter);
    return version;
  }

  /** Makes the floor on disk at least `counter` (some reserve ahead); resolves once written. */
  private reserve(counter: bigint): Promise<void> {
    const persistence = this.persistence;
    if (persistence === undefined || counter <= this.reservedFloor) return this.reservation;
    const before = this.reservedFloor;
    this.reservedFloor = counter + VERSION_FLOOR_RESERVE;
    persistence.putVersionFloor(this.reservedFloor);
    const reservation = persistence.flushed();
    this.reservation = reservation;
    // Not written: the next counter reserves again (and whoever waited on this one fails its write).
    reservation.catch(() => {
      if (this.reservation === reservation) {
        this.reservedFloor = before;
        this.reservation = WRITTEN;
      }
    });
    return reservation;
  }

  /** Resolves once every change kept so far is on disk (at once without a persistent copy). */
  flushed(): Promise<void> {
    return this.persistence?.flushed() ?? WRITTEN;
  }

  /** Takes a record read back from the persistent copy at start-up (not written again). */
  restore(record: KvRecord): void {
    this.keep(record, this.records.get(record.key.hex));
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * Calls `listener` each time a record is kept while the store held none: background work that sleeps
   * while there is nothing to work on learns that there is.
   */
  onFirstRecord(listener: () => void): void {
    this.firstRecordListeners.push(listener);
  }

  get bytes(): number {
    return this.held;
  }

  get(key: NodeId): KvRecord | undefined {
    return this.records.get(key.hex);
  }

  getHex(hex: string): KvRecord | undefined {
    return this.records.get(hex);
  }

  /**
   * Keeps `record` if it is newer than what is held (the conflict rule); returns what is held afterwards.
   * Throws KvStoreFullError when keeping it would pass a bound.
   */
  apply(record: KvRecord): KvRecord {
    const held = this.records.get(record.key.hex);
    if (held === undefined && record.deleted) {
      // A copy of a tombstone removed here counts as held: this node already agreed it may go.
      const removed = this.removedLately.get(record.key.hex);
      if (removed !== undefined && !supersedes(record, removed)) return record;
    }
    if (!supersedes(record, held)) return held as KvRecord;
    this.keep(record, held);
    this.persistence?.put(record);
    return record;
  }

  private keep(record: KvRecord, held: KvRecord | undefined): void {
    const growth = recordBytes(record) - (held === undefined ? 0 : recordBytes(held));
    if (held === undefined && this.records.size >= this.limits.maxKeys)
      throw new KvStoreFullError(`this node's store is full: ${this.limits.maxKeys} keys`);
    if (this.held + growth > this.limits.maxBytes)
      throw new KvStoreFullError(`this node's store is full: ${this.limits.maxBytes} bytes`);
    this.records.set(record.key.hex, record);
    this.removedLately.delete(record.key.hex);
    this.held += growth;
    if (record.deleted) this.tombstoneSince.set(record.key.hex, this.now());
    else this.tombstoneSince.delete(record.key.hex);
    if (held === undefined && this.records.size === 1)
      for (const listener of this.firstRecordListeners) listener();
  }

  /** Forgets a key (handed over to its replica set), unless a newer record arrived meanwhile. */
  drop(key: NodeId, ifVersionAtMost?: KvRecord): void {
    const held = this.records.get(key.hex);
    if (held === undefined) return;
    if (ifVersionAtMost !== undefined && supersedes(held, ifVersionAtMost)) return;
    this.records.delete(key.hex);
    this.tombstoneSince.delete(key.hex);
    this.held -= recordBytes(held);
    this.persistence?.delete(key);
  }

  all(): IterableIterator<KvRecord> {
    return this.records.values();
  }

  hexKeys(): string[] {
    return [...this.records.keys()];
  }
}
