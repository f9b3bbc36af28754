// A client's request at the node that received it: handed on towards the key's owner, which coordinates it
// over the key's replica set: a version read from a quorum, the precondition checked, the write sent to
// every replica and acknowledged at W; a read answered from at least R replicas, with read repair.
import { status } from "@grpc/grpc-js";
import type { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import { newestRecord, supersedes, type KvRecord } from "../../kv/record.js";
import { Quorum, versionReadQuorum } from "../../kv/quorum.js";
import type { KvReplication } from "../../kv/replica-set.js";
import { knowsReplicaSet } from "../../kv/coverage.js";
import { AnswerTimes, type HedgeBounds } from "../../kv/hedge.js";
import { formatVersion, sameVersion, type Version } from "../../kv/version.js";
import { NotJoinedError, WendyError } from "../errors.js";
import type { KvOverlay } from "./overlay.js";
import { KvPeerBatches } from "./peer-batches.js";
import { KvPeerError, type KvPeers } from "./peer-client.js";
import type { MemoryKvStore } from "./store.js";
import type { CoordinateRequest, CoordinateResponse } from "../../gen/wendy/v1/kv_peer.js";

export type Precondition =
  { readonly kind: "version"; readonly version: Version } | { readonly kind: "absent" };

export type KvOperation =
  | {
      readonly kind: "put";
      readonly key: NodeId;
      readonly value: Uint8Array;
      readonly precondition?: Precondition | undefined;
    }
  | { readonly kind: "get"; readonly key: NodeId }
  | { readonly kind: "delete"; readonly key: NodeId; readonly precondition?: Precondition | undefined };

export interface KvWriteResult {
  readonly version: Version;
  readonly acknowledgements: number;
  readonly coordinator: NodeInfo;
}

export interface KvReadResult {
  readonly record: KvRecord;
  readonly answers: number;
  readonly coordinator: NodeInfo;
}

export type KvResult = KvWriteResult | KvReadResult;

export interface CoordinatorOptions {
  readonly replication: KvReplication;
  /** After a read quorum answered, how long to wait for the other replicas (a fresh replica may be empty). */
  readonly readSettleMs: number;
  /**
   * True while this node's view of the ring has been unchanged long enough for re-replication to have
   * filled every replica: a read then answers at its quorum, without the settle wait (the quorums alone
   * meet every acknowledged write); the replicas that answer later are still read-repaired. Default: never.
   */
  readonly neighbourhoodSettled?: () => boolean;
  /**
   * In a settled neighbourhood, how long a read waits for the R replicas it asked first before asking the
   * others; default: from the replicas' answer times (AnswerTimes, within READ_HEDGE_BOUNDS).
   */
  readonly readHedgeMs?: number;
  /** Timeout of one call to a replica. */
  readonly replicaTimeoutMs: number;
  /** Bytes of records per Replicate request at most. */
  readonly maxBatchBytes: number;
}

/** Bounds of a read's wait for the replicas it asked first (see AnswerTimes). */
export const READ_HEDGE_BOUNDS: HedgeBounds = { minMs: 5, maxMs: 1000 };

/** Hand-ons towards the owner at most (each to a node numerically closer to the key). */
export const MAX_COORDINATE_HOPS = 32;

/** What the coordinator tells the rest of the store. */
export interface CoordinatorHooks {
  /** A write reached every replica of `set` (true) or not all (false). */
  written(record: KvRecord, set: readonly NodeInfo[], everywhere: boolean): void;
  /** Replicas found stale by a read were sent the newest record. */
  readRepaired(count: number): void;
}

/** Forwards to the owner with the operation encoded as a CoordinateRequest. */
export type Forward = (
  owner: NodeInfo,
  request: CoordinateRequest,
  timeoutMs: number,
) => Promise<CoordinateResponse>;

export class KvCoordinator {
  private readonly writeLocks = new Map<string, Promise<unknown>>();
  private readonly batches: KvPeerBatches;
  /** How quickly replicas have answered reads: when a read asks the others too. */
  private readonly answerTimes = new AnswerTimes(READ_HEDGE_BOUNDS);

  constructor(
    private readonly overlay: KvOverlay,
    private readonly store: MemoryKvStore,
    peers: KvPeers,
    private readonly options: CoordinatorOptions,
    private readonly hooks: CoordinatorHooks,
  ) {
    this.batches = new KvPeerBatches(peers, () => overlay.self(), {
      timeoutMs: options.replicaTimeoutMs,
      maxBatchBytes: options.maxBatchBytes,
    });
  }

  /**
   * Runs `op` at the key's owner: here when this node owns the key, otherwise handed on. A read is run here
   * too when this node's leaf set names the key's whole replica set (the replicas are asked directly, one
   * hop fewer); writes always go to the owner, which orders the writes of each key.
   */
  async execute(
    op: KvOperation,
    timeoutMs: number,
    hops: number,
    forward: (owner: NodeInfo, hops: number, timeoutMs: number) => Promise<KvResult>,
  ): Promise<KvResult> {
    const deadline = performance.now() + timeoutMs;
    // Bounded by the deadline: a hand-on refused because the owner just died is retried once routing
    // has noticed (owner() then names the next closest node). A read is retried too when its hand-on may
    // have arrived (the owner died with the call in flight: "Connection dropped"), since reading twice
    // changes nothing; a write is not, as it may have been applied.
    for (let attempt = 0; ; attempt++) {
      if (!this.overlay.ready()) throw new NotJoinedError("this node has not joined the overlay yet");
      if (op.kind === "get") {
        // Computed once for both the check and the read; asked before the owner, since a node that knows
        // the set reads here whoever owns the key.
        const set = this.replicaSet(op.key);
        if (this.knowsReplicaSet(op.key, set)) return this.get(op.key, deadline, set);
      }
      const owner = this.overlay.owner(op.key);
      if (owner.id.equals(this.overlay.self().id)) return this.coordinate(op, deadline);
      if (hops + 1 > MAX_COORDINATE_HOPS)
        throw unavailable(`no owner found for key ${op.key.hex} within ${MAX_COORDINATE_HOPS} hops`);
      const left = deadline - performance.now();
      if (left <= 0) throw unavailable(`the key's owner ${owner.id.hex} could not be reached in time`);
      try {
        return await forward(owner, hops + 1, left);
      } catch (error) {
        if (!retriable(op, error) || performance.now() + 100 >= deadline) throw error;
        await sleep(Math.min(100 * 2 ** attempt, 1000, deadline - performance.now() - 50));
      }
    }
  }

  private coordinate(op: KvOperation, deadline: number): Promise<KvResult> {
    if (op.kind === "get") return this.get(op.key, deadline);
    // Writes of one key through this coordinator are serialized: versions and preconditions are read
    // after the previous write of the key was decided.
    const hex = op.key.hex;
    const previous = this.writeLocks.get(hex) ?? Promise.resolve();
    const run = previous.then(
      () => this.write(op, deadline),
      () => this.write(op, deadline),
    );
    const tail = run.then(ignore, ignore);
    this.writeLocks.set(hex, tail);
    void tail.then(() => {
      if (this.writeLocks.get(hex) === tail) this.writeLocks.delete(hex);
    });
    return run;
  }

  private replicaSet(key: NodeId): NodeInfo[] {
    return this.overlay.replicas(key, this.options.replication.replicas);
  }

  /** Whether this node's leaf set spans the key's neighbourhood, so its replica set is the owner's. */
  private knowsReplicaSet(key: NodeId, set: readonly NodeInfo[]): boolean {
    const { left, right } = this.overlay.leafSet();
    return knowsReplicaSet(
      left.map((n) => n.id),
      right.map((n) => n.id),
      key,
      set.map((n) => n.id),
      this.options.replication.replicas,
    );
  }

  private async write(op: Exclude<KvOperation, { kind: "get" }>, deadline: number): Promise<KvWriteResult> {
    const set = this.replicaSet(op.key);
    if (op.precondition === undefined && this.options.neighbourhoodSettled?.() === true) {
      const written = await this.writeFromOwnCopy(op, set, deadline);
      if (written !== undefined) return written;
    }
    const { replicas: k, writeQuorum, readQuorum } = this.options.replication;
    const read = await this.read(
      op.key,
      set,
      Math.min(set.length, versionReadQuorum(k, writeQuorum, readQuorum)),
      deadline,
      true,
    );
    const current = newestRecord(read.records.values());
    if (op.precondition !== undefined) checkPrecondition(op.precondition, current);
    const self = this.overlay.self();
    const record: KvRecord = {
      key: op.key,
      // Above the store's version floor too (store.ts): a removed tombstone's copy may linger on a replica
      // the read did not hear, and a restarted node must not issue a counter it issued before.
      version: await this.store.issueVersion(current?.version, self.id),
      value: op.kind === "put" ? op.value : new Uint8Array(),
      deleted: op.kind === "delete",
    };
    const acknowledgements = await this.replicate(record, set, Math.min(set.length, writeQuorum), deadline);
    if (acknowledgements === SUPERSEDED)
      throw new Error("a write after a version read is acknowledged by any answer");
    return { version: record.version, acknowledgements, coordinator: self };
  }

  /**
   * A write without precondition in a settled neighbourhood, versioned above this node's own copy instead
   * of a version read (one round trip fewer): as the key's owner since the neighbourhood settled it
   * coordinated the key's writes and applied each here first. Only when it holds a copy. Acknowledged only
   * by replicas that keep this very version, so a newer acknowledged write it did not see (W + W > k: one of its replicas is asked here
   * too) refuses it; then undefined, and the caller writes again after a version read. Undefined too when
   * this node's own store cannot keep it.
   */
  private async writeFromOwnCopy(
    op: Exclude<KvOperation, { kind: "get" }>,
    set: readonly NodeInfo[],
    deadline: number,
  ): Promise<KvWriteResult | undefined> {
    const self = this.overlay.self();
    const own = this.store.get(op.key);
    // No copy here (a node restarted empty, a key never written): the versions are read first.
    if (own === undefined || !set.some((n) => n.id.equals(self.id))) return undefined;
    const record: KvRecord = {
      key: op.key,
      version: await this.store.issueVersion(own.version, self.id),
      value: op.kind === "put" ? op.value : new Uint8Array(),
      deleted: op.kind === "delete",
    };
    // Kept here first, so that no later write of this node reuses its version.
    try {
      if (this.store.apply(record) !== record) return undefined;
    } catch {
      return undefined;
    }
    const needed = Math.min(set.length, this.options.replication.writeQuorum);
    const acknowledgements = await this.replicate(record, set, needed, deadline, true);
    if (acknowledgements === SUPERSEDED) return undefined;
    return { version: record.version, acknowledgements, coordinator: self };
  }

  private async get(key: NodeId, deadline: number, set = this.replicaSet(key)): Promise<KvReadResult> {
    const decided: { newest?: KvRecord } = {};
    const read = await this.read(
      key,
      set,
      Math.min(set.length, this.options.replication.readQuorum),
      deadline,
      false,
      // A replica that answers after the read resolved is repaired like the others (one that answers
      // before this continuation runs is in read.records already).
      (node, record) => {
        const newest = decided.newest;
        if (newest !== undefined && supersedes(newest, record)) this.repair([node], newest);
      },
    );
    const newest = newestRecord(read.records.values());
    decided.newest = newest;
    if (newest !== undefined) this.repairStale(newest, set, read.records);
    if (newest === undefined || newest.deleted) {
      throw new WendyError(
        `no value under key ${key.hex}${newest?.deleted ? " (deleted)" : ""}`,
        status.NOT_FOUND,
      );
    }
    return { record: newest, answers: read.answered, coordinator: this.overlay.self() };
  }

  /** Sends the newest record to the replicas that answered with an older one or none. */
  private repairStale(
    newest: KvRecord,
    set: readonly NodeInfo[],
    answers: ReadonlyMap<string, KvRecord | undefined>,
  ): void {
    this.repair(
      set.filter((n) => answers.has(n.id.hex) && supersedes(newest, answers.get(n.id.hex))),
      newest,
    );
  }

  private repair(stale: readonly NodeInfo[], newest: KvRecord): void {
    if (stale.length === 0) return;
    this.hooks.readRepaired(stale.length);
    for (const node of stale) void this.storeAt(node, newest).catch(ignore);
  }

  /**
   * Asks the members of `set` for the key's record; resolves once `needed` answered and the others
   * answered too or the settle time passed, or, in a settled neighbourhood, once `needed` answered with one
   * and the same record (an absent key is worth the wait: a replica restarted empty answers so too); fails
   * once `needed` can no longer answer. An answer that comes after the read resolved goes to `late`.
   *
   * In a settled neighbourhood any `needed` replicas meet every acknowledged write (R + W > k), so a Get
   * asks only `needed` first: this node first when it is a member (its copy costs no message), then the
   * closest. The others are asked once one of those fails, their answers do not agree on one record, or
   * they have not all answered within the hedge time (AnswerTimes).
   */
  private read(
    key: NodeId,
    set: readonly NodeInfo[],
    needed: number,
    deadline: number,
    versionsOnly: boolean,
    late?: (node: NodeInfo, record: KvRecord | undefined) => void,
  ): Promise<{ records: Map<string, KvRecord | undefined>; answered: number }> {
    const records = new Map<string, KvRecord | undefined>();
    const quorum = new Quorum(set.length, Math.max(1, needed));
    const settle = this.options.neighbourhoodSettled?.() !== true;
    const order = settle ? set : selfFirst(set, this.overlay.self());
    return new Promise((resolve, reject) => {
      let done = false;
      let settleTimer: NodeJS.Timeout | undefined;
      let hedgeTimer: NodeJS.Timeout | undefined;
      let asked = 0;
      const finish = (error?: Error): void => {
        if (done) return;
        done = true;
        clearTimeout(deadlineTimer);
        clearTimeout(settleTimer);
        clearTimeout(hedgeTimer);
        if (error) reject(error);
        else resolve({ records, answered: quorum.answered });
      };
      const deadlineTimer = setTimeout(
        () =>
          quorum.state === "reached"
            ? finish()
            : finish(
                unavailable(
                  `only ${quorum.answered} of ${needed} replicas answered in time for key ${key.hex}`,
                ),
              ),
        Math.max(0, deadline - performance.now()),
      );
      const check = (): void => {
        if (quorum.state === "failed")
          return finish(
            unavailable(`only ${quorum.answered} of ${needed} replicas could answer for key ${key.hex}`),
          );
        if (quorum.state !== "reached") return;
        if (quorum.settled || (!settle && agreeOnARecord(records.values()))) return finish();
        askAll();
        settleTimer ??= setTimeout(() => finish(), this.options.readSettleMs);
      };
      const ask = (node: NodeInfo): void => {
        const remote = !node.id.equals(this.overlay.self().id);
        const sent = performance.now();
        this.recordAt(node, key, versionsOnly).then(
          (record) => {
            if (remote) this.answerTimes.observe(performance.now() - sent);
            records.set(node.id.hex, record);
            if (done) return late?.(node, record);
            quorum.succeeded();
            check();
          },
          () => {
            quorum.failed();
            askAll();
            check();
          },
        );
      };
      const askAll = (): void => {
        clearTimeout(hedgeTimer);
        while (asked < order.length && !done) ask(order[asked++]!);
      };
      // A write's version read asks every replica at once: it is mostly of a key not written yet, whose
      // absent answers would have the others asked anyway (see above), one round trip later.
      const first = settle || versionsOnly ? order.length : Math.min(order.length, Math.max(1, needed));
      while (asked < first) ask(order[asked++]!);
      if (asked < order.length && !done)
        hedgeTimer = setTimeout(askAll, this.options.readHedgeMs ?? this.answerTimes.hedgeMs());
    });
  }

  /**
   * Stores `record` at every member of `set`; resolves with the acknowledgements once `needed` stored it.
   * With `exact`, only a replica that keeps this very version acknowledges; when too few can and one holds
   * a newer version, resolves SUPERSEDED.
   */
  private replicate(
    record: KvRecord,
    set: readonly NodeInfo[],
    needed: number,
    deadline: number,
    exact = false,
  ): Promise<number | typeof SUPERSEDED> {
    const quorum = new Quorum(set.length, Math.max(1, needed));
    let full: WendyError | undefined;
    let everywhere = true;
    let superseded = false;
    const all = set.map((node) =>
      this.storeAt(node, record).then(
        (held) => {
          if (!exact || (held !== undefined && sameVersion(held, record.version)))
            return void quorum.succeeded();
          everywhere = false;
          superseded ||= held !== undefined;
          quorum.failed();
        },
        (error: unknown) => {
          everywhere = false;
          quorum.failed();
          if (error instanceof WendyError && error.code === status.RESOURCE_EXHAUSTED) full ??= error;
        },
      ),
    );
    void Promise.all(all).then(() => this.hooks.written(record, set, everywhere));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            unavailable(`only ${quorum.answered} of ${needed} replicas stored key ${record.key.hex} in time`),
          ),
        Math.max(0, deadline - performance.now()),
      );
      const check = (): void => {
        if (quorum.state === "reached") {
          clearTimeout(timer);
          resolve(quorum.answered);
        } else if (quorum.state === "failed") {
          clearTimeout(timer);
          if (superseded) return resolve(SUPERSEDED);
          const why = `only ${quorum.answered} of ${needed} replicas stored key ${record.key.hex}`;
          reject(
            full === undefined
              ? unavailable(why)
              : new WendyError(`${why}: ${full.message}`, status.RESOURCE_EXHAUSTED),
          );
        }
      };
      for (const p of all) void p.then(check);
    });
  }

  private recordAt(node: NodeInfo, key: NodeId, versionsOnly: boolean): Promise<KvRecord | undefined> {
    if (node.id.equals(this.overlay.self().id)) return Promise.resolve(this.store.get(key));
    return this.batches.fetch(node, key, versionsOnly);
  }

  /** Resolves with the version `node` holds once it stored `record` (or held a newer one). */
  private storeAt(node: NodeInfo, record: KvRecord): Promise<Version | undefined> {
    if (node.id.equals(this.overlay.self().id)) {
      let kept: KvRecord;
      try {
        kept = this.store.apply(record);
      } catch (error) {
        return Promise.reject(error);
      }
      // Counted as held only once on disk when the node has a data directory (resolves at once without one).
      return this.store.flushed().then(() => kept.version);
    }
    return this.batches.store(node, record);
  }
}

/** `set` with `self` moved to the front when it is a member, the others in their order. */
function selfFirst(set: readonly NodeInfo[], self: NodeInfo): readonly NodeInfo[] {
  const at = set.findIndex((n) => n.id.equals(self.id));
  return at <= 0 ? set : [set[at]!, ...set.slice(0, at), ...set.slice(at + 1)];
}

/** True when every answer so far holds a record, all of one version. */
function agreeOnARecord(answers: Iterable<KvRecord | undefined>): boolean {
  let first: KvRecord | undefined;
  for (const record of answers) {
    if (record === undefined) return false;
    first ??= record;
    if (!sameVersion(first.version, record.version)) return false;
  }
  return first !== undefined;
}

/** A write refused by a replica holding a newer version (replicate with `exact`). */
const SUPERSEDED = Symbol("superseded");

function checkPrecondition(precondition: Precondition, current: KvRecord | undefined): void {
  if (precondition.kind === "absent") {
    if (current !== undefined && !current.deleted)
      throw new WendyError(
        `the key holds a value (version ${formatVersion(current.version)})`,
        status.ABORTED,
      );
    return;
  }
  if (current === undefined || !sameVersion(current.version, precondition.version)) {
    throw new WendyError(
      `the key's version is ${formatVersion(current?.version)}, not ${formatVersion(precondition.version)}`,
      status.ABORTED,
    );
  }
}

function unavailable(message: string): WendyError {
  return new WendyError(message, status.UNAVAILABLE);
}

/** True when a hand-on surely never reached its node (nothing listened, or it refused as it leaves). */
function neverArrived(error: unknown): boolean {
  return error instanceof KvPeerError && error.neverArrived;
}

/** True when a failed hand-on may be tried again: it never arrived, or it was a read the owner lost. */
function retriable(op: KvOperation, error: unknown): boolean {
  if (neverArrived(error)) return true;
  return op.kind === "get" && error instanceof KvPeerError && error.code === status.UNAVAILABLE;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function ignore(): void {}
