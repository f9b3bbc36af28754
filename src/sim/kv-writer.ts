// The writes of a key-value run and their ledger: every write carries a value of its own (its sequence
// number in the first 8 bytes), a key's writes are issued one after another (as by one client that waits
// for each answer), and the ledger remembers which writes each key got and the last one acknowledged. The
// read check then asks what a read of each key would answer from its k true replicas at the end: the last
// acknowledged write, a later write of the key (issued after it, acknowledged or not: the documented
// newer value), or something else, which the check counts as a fault.
import type { NodeId } from "../routing/id.js";
import { newestRecord, type KvRecord } from "../kv/record.js";
import { sameVersion } from "../kv/version.js";
import type { SimKv } from "./kv-layer.js";
import { trueReplicaSet } from "./kv-measure.js";
import type { Prng } from "./prng.js";
import type { Simulator } from "./simulator.js";

/** What the writes of one phase came to. */
export interface WriteTally {
  readonly issued: number;
  readonly acked: number;
  /** Writes of a key written before (issued, acknowledged). */
  readonly overwritesIssued: number;
  readonly overwritesAcked: number;
}

/** What a read of each key with an acknowledged write would answer from its k true replicas. */
export interface ReadCheck {
  readonly keys: number;
  /** The newest record the k hold is the last acknowledged write. */
  readonly atLatest: number;
  /** ... is a write issued after it (not acknowledged, or acknowledged after the ledger's last look). */
  readonly newer: number;
  /** ... is an earlier write than the last acknowledged one: an acknowledged write lost. */
  readonly behind: number;
  /** None of the k holds the key. */
  readonly missing: number;
  /** ... holds a value no write of the key carried. */
  readonly neverWritten: number;
  /** Two of the k hold the same version with different values. */
  readonly divergent: number;
  /** Keys where fewer than k of the true replicas hold the version read. */
  readonly short: number;
}

interface KeyLedger {
  readonly key: NodeId;
  /** Sequence numbers of the writes issued for the key, in order. */
  readonly writes: number[];
  lastAcked: number | undefined;
  busy: boolean;
}

const SEQ_BYTES = 8;

export class KvWriter {
  private readonly ledger = new Map<string, KeyLedger>();
  /** Keys written at least once, for picking one to overwrite. */
  private readonly written: KeyLedger[] = [];
  private seq = 0;
  private tally = { issued: 0, acked: 0, overwritesIssued: 0, overwritesAcked: 0 };

  constructor(
    private readonly kv: SimKv,
    private readonly random: Prng,
    private readonly valueBytes: number,
  ) {}

  /** A write of a new key now; false when its key is already being written (never, for a new key). */
  writeNew(key: NodeId): boolean {
    let entry = this.ledger.get(key.hex);
    if (entry === undefined) {
      entry = { key, writes: [], lastAcked: undefined, busy: false };
      this.ledger.set(key.hex, entry);
      this.written.push(entry);
    }
    return this.issue(entry);
  }

  /** An overwrite of a key written before, picked at random among those with no write in flight. */
  overwrite(): boolean {
    // Bounded: a few picks; with most keys idle the first one nearly always does.
    for (let attempt = 0; attempt < 8 && this.written.length > 0; attempt++) {
      const entry = this.written[this.random.int(this.written.length)] as KeyLedger;
      if (!entry.busy) return this.issue(entry);
    }
    return false;
  }

  /** Writes issued and acknowledged since the last call (one phase's). */
  takeTally(): WriteTally {
    const t = this.tally;
    this.tally = { issued: 0, acked: 0, overwritesIssued: 0, overwritesAcked: 0 };
    return t;
  }

  /** Reads every key with an acknowledged write from its k true replicas, as the ring has them now. */
  readCheck(sim: Simulator): ReadCheck {
    const k = this.kv.config.replicas;
    const c = {
      keys: 0,
      atLatest: 0,
      newer: 0,
      behind: 0,
      missing: 0,
      neverWritten: 0,
      divergent: 0,
      short: 0,
    };
    for (const [hex, entry] of this.ledger) {
      if (entry.lastAcked === undefined) continue;
      c.keys++;
      const held = trueReplicaSet(sim.truth, entry.key, k).map((m) =>
        this.kv.replica(m.index)?.store.get(hex),
      );
      const newest = newestRecord(held);
      if (newest === undefined) {
        c.missing++;
        continue;
      }
      const read = sequenceOf(newest);
      if (!entry.writes.includes(read)) c.neverWritten++;
      else if (read === entry.lastAcked) c.atLatest++;
      else if (entry.writes.indexOf(read) > entry.writes.indexOf(entry.lastAcked)) c.newer++;
      else c.behind++;
      const present = held.filter((r) => r !== undefined);
      if (present.some((r) => sameVersion(r.version, newest.version) && sequenceOf(r) !== read))
        c.divergent++;
      if (held.filter((r) => r !== undefined && sameVersion(r.version, newest.version)).length < k) c.short++;
    }
    return c;
  }

  private issue(entry: KeyLedger): boolean {
    if (entry.busy) return false;
    const seq = ++this.seq;
    const overwrite = entry.writes.length > 0;
    entry.writes.push(seq);
    entry.busy = true;
    this.tally.issued++;
    if (overwrite) this.tally.overwritesIssued++;
    this.kv.write(entry.key, valueOf(seq, this.valueBytes), (outcome) => {
      entry.busy = false;
      if (!outcome.acked) return;
      entry.lastAcked = seq;
      this.tally.acked++;
      if (overwrite) this.tally.overwritesAcked++;
    });
    return true;
  }
}

/** A value of `bytes` (at least 8) that names its write: the sequence number, then filler. */
function valueOf(seq: number, bytes: number): Uint8Array {
  const value = new Uint8Array(Math.max(SEQ_BYTES, bytes)).fill(0x61);
  new DataView(value.buffer).setBigUint64(0, BigInt(seq));
  return value;
}

function sequenceOf(record: KvRecord): number {
  if (record.value.byteLength < SEQ_BYTES) return -1;
  return Number(new DataView(record.value.buffer, record.value.byteOffset, SEQ_BYTES).getBigUint64(0));
}
