// A coordinator's reads and writes at other replicas, coalesced per peer until the end of the event loop's
// turn (src/shared/end-of-turn.ts): alone, a read or write leaves at once (the same turn); under load, every
// read of a turn for one peer travels in one Fetch and every write in one Replicate, so the calls, their
// signatures and their HTTP/2 streams grow with the peers asked, not with the requests served.
import type { NodeId } from "../../routing/id.js";
import type { NodeInfo } from "../../routing/types.js";
import type { KvRecord } from "../../kv/record.js";
import type { Version } from "../../kv/version.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { MAX_RECORDS_PER_REQUEST, batchRecords, chunks } from "./batches.js";
import type { KvPeers } from "./peer-client.js";
import { decodeRecord, decodeVersion, encodeRecord, idBytes } from "./wire.js";

export interface PeerBatchOptions {
  /** Timeout of one call to a replica. */
  readonly timeoutMs: number;
  /** Bytes of records per Replicate request at most. */
  readonly maxBatchBytes: number;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface FetchQueue {
  readonly node: NodeInfo;
  readonly versionsOnly: boolean;
  /** Waiters by key hex: two reads of one key in a turn ask for it once. */
  readonly keys: Map<string, { key: NodeId; waiters: Waiter<KvRecord | undefined>[] }>;
}

interface StoreQueue {
  readonly node: NodeInfo;
  readonly records: { record: KvRecord; waiter: Waiter<Version | undefined> }[];
}

export class KvPeerBatches {
  private fetches = new Map<string, FetchQueue>();
  private stores = new Map<string, StoreQueue>();
  private readonly flush = new EndOfTurnFlush(() => this.sendAll());

  constructor(
    private readonly peers: KvPeers,
    private readonly self: () => NodeInfo,
    private readonly options: PeerBatchOptions,
  ) {}

  /** The record `node` holds for `key` (versions only: value left empty), or undefined when none. */
  fetch(node: NodeInfo, key: NodeId, versionsOnly: boolean): Promise<KvRecord | undefined> {
    const at = `${node.id.hex}:${node.incarnation}:${versionsOnly ? "v" : "r"}`;
    let queue = this.fetches.get(at);
    if (queue === undefined) {
      queue = { node, versionsOnly, keys: new Map() };
      this.fetches.set(at, queue);
    }
    let entry = queue.keys.get(key.hex);
    if (entry === undefined) {
      entry = { key, waiters: [] };
      queue.keys.set(key.hex, entry);
    }
    const waiters = entry.waiters;
    this.flush.schedule();
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  /**
   * Resolves once `node` stored `record` or held a newer version of its key, with the version it holds
   * (undefined when its answer did not say).
   */
  store(node: NodeInfo, record: KvRecord): Promise<Version | undefined> {
    const at = `${node.id.hex}:${node.incarnation}`;
    let queue = this.stores.get(at);
    if (queue === undefined) {
      queue = { node, records: [] };
      this.stores.set(at, queue);
    }
    const records = queue.records;
    this.flush.schedule();
    return new Promise((resolve, reject) => records.push({ record, waiter: { resolve, reject } }));
  }

  private sendAll(): void {
    const fetches = this.fetches;
    const stores = this.stores;
    this.fetches = new Map();
    this.stores = new Map();
    for (const queue of fetches.values())
      for (const group of chunks([...queue.keys.values()], MAX_RECORDS_PER_REQUEST))
        this.sendFetch(queue.node, queue.versionsOnly, group);
    for (const queue of stores.values()) {
      // batchRecords keeps the order and splits into consecutive runs: the waiters follow by position.
      let at = 0;
      for (const batch of batchRecords(
        queue.records.map((r) => r.record),
        this.options.maxBatchBytes,
      )) {
        const waiters = queue.records.slice(at, at + batch.length).map((r) => r.waiter);
        at += batch.length;
        this.sendStore(queue.node, batch, waiters);
      }
    }
  }

  private sendFetch(
    node: NodeInfo,
    versionsOnly: boolean,
    group: readonly { key: NodeId; waiters: Waiter<KvRecord | undefined>[] }[],
  ): void {
    const request = {
      sender: encodeNodeInfo(this.self()),
      keys: group.map((g) => idBytes(g.key)),
      versionsOnly,
    };
    this.peers
      .fetch(node, request, this.options.timeoutMs)
      .then((response) => {
        const found = new Map<string, KvRecord>();
        response.records.forEach((r, i) => {
          const record = decodeRecord(r, `records[${i}]`, Number.MAX_SAFE_INTEGER);
          found.set(record.key.hex, record);
        });
        const omitted = new Set(response.omitted.map((k) => Buffer.from(k).toString("hex")));
        for (const { key, waiters } of group) {
          // Held, but too large to travel with the rest: asked again alone (an answer of one key is whole).
          if (omitted.has(key.hex) && group.length > 1)
            this.sendFetch(node, versionsOnly, [{ key, waiters }]);
          else for (const w of waiters) w.resolve(found.get(key.hex));
        }
      })
      // A failed call, or an answer that does not decode: every read still waiting fails with it.
      .catch((error: unknown) => {
        for (const g of group) for (const w of g.waiters) w.reject(error);
      });
  }

  private sendStore(
    node: NodeInfo,
    batch: readonly KvRecord[],
    waiters: readonly Waiter<Version | undefined>[],
  ): void {
    const request = { sender: encodeNodeInfo(this.self()), records: batch.map((r) => encodeRecord(r)) };
    this.peers.replicate(node, request, this.options.timeoutMs).then(
      (response) => {
        waiters.forEach((w, i) => {
          const held = response.held[i];
          try {
            w.resolve(held === undefined ? undefined : decodeVersion(held, `held[${i}]`));
          } catch {
            w.resolve(undefined);
          }
        });
      },
      (error: unknown) => {
        for (const w of waiters) w.reject(error);
      },
    );
  }
}
