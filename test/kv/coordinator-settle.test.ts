// A read's wait for the replicas beyond its quorum: while the neighbourhood may still be re-replicating (a
// leaf-set change lately) a read asks every replica and waits for them up to the settle time, so a fresh or
// stale replica cannot hide the newest record held elsewhere; in a settled neighbourhood it asks R replicas
// first and answers when those R answers hold one and the same record, asking the others when they
// disagree or one is slower than the hedge time; a replica that answers after the read with an older
// record is still read-repaired. There, a write without precondition
// is versioned above the owner's own copy without a version read (when it holds one), and written again
// after one when a replica holds a newer version.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import type { KvRecord } from "../../src/kv/record.js";
import { kvReplication } from "../../src/kv/replica-set.js";
import type { FetchRequest, FetchResponse, ReplicateRequest } from "../../src/gen/wendy/v1/kv_peer.js";
import { KvCoordinator, type KvReadResult, type KvWriteResult } from "../../src/server/kv/coordinator.js";
import type { KvOverlay } from "../../src/server/kv/overlay.js";
import type { KvPeers } from "../../src/server/kv/peer-client.js";
import { MemoryKvStore } from "../../src/server/kv/store.js";
import { decodeRecord, encodeRecord, encodeVersion } from "../../src/server/kv/wire.js";

const info = (name: string, port: number): NodeInfo => ({
  id: NodeId.fromString(name),
  localAddress: `127.0.0.1:${port}`,
  globalAddress: `127.0.0.1:${port}`,
  region: "",
  incarnation: 1,
});
const self = info("self", 1);
const quick = info("quick", 2);
const slow = info("slow", 3);
const key = NodeId.fromString("k");
const candidates = [self, quick, slow];
const overlay: KvOverlay = {
  self: () => self,
  ready: () => true,
  owner: () => self,
  replicas: () => [self, quick, slow],
  replicaCandidates: () => candidates,
  leafSet: () => ({ left: [quick], right: [slow] }),
};
const record = (counter: bigint, value: number): KvRecord => ({
  key,
  version: { counter, writer: self.id },
  value: new Uint8Array([value]),
  deleted: false,
});

const notCalled = (): Promise<never> => Promise.reject(new Error("not called"));

/** The coordinator at `self` over `store`; of the peer calls only Fetch and Replicate are expected. */
function coordinatorOver(
  store: MemoryKvStore,
  peers: Pick<KvPeers, "fetch" | "replicate">,
  settled: boolean,
  readSettleMs: number,
  readHedgeMs?: number,
): KvCoordinator {
  return new KvCoordinator(
    overlay,
    store,
    { coordinate: notCalled, digest: notCalled, close: () => {}, ...peers },
    {
      replication: kvReplication(32, {}),
      readSettleMs,
      ...(readHedgeMs === undefined ? {} : { readHedgeMs }),
      neighbourhoodSettled: () => settled,
      replicaTimeoutMs: 20_000,
      maxBatchBytes: 1 << 20,
    },
    { written: () => {}, readRepaired: () => {} },
  );
}

/**
 * A coordinator of replicas `self` (holding `mine`), `quick` (answers `quickHas` at once, or after
 * `quickMs`) and `slow` (answers `slowHas` after `slowMs`), in that order of closeness to the key; records
 * which replicas were asked and what is sent to each by read repair.
 */
function setup(options: {
  settled: boolean;
  mine: KvRecord | undefined;
  quickHas: KvRecord | undefined;
  slowHas: KvRecord;
  slowMs: number;
  quickMs?: number;
  quickFails?: boolean;
  hedgeMs?: number;
}): { coordinator: KvCoordinator; repaired: Map<string, KvRecord[]>; asked: Set<string> } {
  const store = new MemoryKvStore();
  if (options.mine !== undefined) store.apply(options.mine);
  const repaired = new Map<string, KvRecord[]>();
  const asked = new Set<string>();
  const answer = (held: KvRecord | undefined, request: FetchRequest): FetchResponse => ({
    records: held === undefined ? [] : [encodeRecord(held, !request.versionsOnly)],
    omitted: [],
  });
  const after = (ms: number, held: KvRecord | undefined, request: FetchRequest): Promise<FetchResponse> =>
    ms === 0
      ? Promise.resolve(answer(held, request))
      : new Promise((resolve) => setTimeout(() => resolve(answer(held, request)), ms));
  const peers: Pick<KvPeers, "fetch" | "replicate"> = {
    fetch: (to: NodeInfo, request: FetchRequest) => {
      asked.add(to.id.hex);
      if (to.id.equals(quick.id) && options.quickFails === true)
        return Promise.reject(new Error("quick is down"));
      return to.id.equals(quick.id)
        ? after(options.quickMs ?? 0, options.quickHas, request)
        : after(options.slowMs, options.slowHas, request);
    },
    replicate: (to: NodeInfo, request: ReplicateRequest) => {
      const records = request.records.map((r, i) => decodeRecord(r, `records[${i}]`, 1 << 20));
      repaired.set(to.id.hex, [...(repaired.get(to.id.hex) ?? []), ...records]);
      return Promise.resolve({ held: [] });
    },
  };
  return {
    coordinator: coordinatorOver(store, peers, options.settled, 10_000, options.hedgeMs),
    repaired,
    asked,
  };
}

const get = async (coordinator: KvCoordinator): Promise<KvReadResult> =>
  (await coordinator.execute({ kind: "get", key }, 30_000, 0, () =>
    Promise.reject(new Error("no hand-on")),
  )) as KvReadResult;

describe("a read's wait for the replicas beyond R", () => {
  it("after a leaf-set change, waits for the slow replica and answers with the newer record it holds", async () => {
    const { coordinator } = setup({
      settled: false,
      mine: record(1n, 1),
      quickHas: record(1n, 1),
      slowHas: record(2n, 2),
      slowMs: 100,
    });
    const read = await get(coordinator);
    expect(read.record.version.counter).toBe(2n);
    expect([...read.record.value]).toEqual([2]);
    expect(read.answers).toBe(3);
  });

  it("after a leaf-set change, asks every replica at once", async () => {
    const { coordinator, asked } = setup({
      settled: false,
      mine: record(1n, 1),
      quickHas: record(1n, 1),
      slowHas: record(1n, 1),
      slowMs: 10,
    });
    await get(coordinator);
    expect(asked).toEqual(new Set([quick.id.hex, slow.id.hex]));
  });

  it("in a settled neighbourhood, answers from R replicas that agree without asking the third", async () => {
    const { coordinator, asked } = setup({
      settled: true,
      mine: record(1n, 1),
      quickHas: record(1n, 1),
      slowHas: record(1n, 1),
      slowMs: 60_000,
    });
    const read = await get(coordinator);
    expect(read.record.version.counter).toBe(1n);
    expect(read.answers).toBe(2);
    expect(asked).toEqual(new Set([quick.id.hex]));
  });

  it("in a settled neighbourhood, asks the third replica at once when one asked first fails", async () => {
    const { coordinator, asked } = setup({
      settled: true,
      mine: record(2n, 2),
      quickHas: undefined,
      quickFails: true,
      slowHas: record(2n, 2),
      slowMs: 10,
      hedgeMs: 60_000,
    });
    const read = await get(coordinator);
    expect(read.record.version.counter).toBe(2n);
    expect(read.answers).toBe(2);
    expect(asked).toEqual(new Set([quick.id.hex, slow.id.hex]));
  });

  it("in a settled neighbourhood, asks the third replica when the two asked hold no record, and answers with its record", async () => {
    const { coordinator, asked } = setup({
      settled: true,
      mine: undefined,
      quickHas: undefined,
      slowHas: record(4n, 4),
      slowMs: 10,
    });
    const read = await get(coordinator);
    expect(read.record.version.counter).toBe(4n);
    expect(read.answers).toBe(3);
    expect(asked).toEqual(new Set([quick.id.hex, slow.id.hex]));
  });

  it("in a settled neighbourhood, waits for the slow replica when the quick answers disagree", async () => {
    const { coordinator } = setup({
      settled: true,
      mine: record(1n, 1),
      quickHas: record(2n, 2),
      slowHas: record(3n, 3),
      slowMs: 100,
    });
    const read = await get(coordinator);
    expect(read.record.version.counter).toBe(3n);
    expect(read.answers).toBe(3);
  });

  it("in a settled neighbourhood, asks the third replica when one asked first is slower than the hedge time, and read-repairs the slow one when it answers after the read with an older record", async () => {
    const { coordinator, repaired, asked } = setup({
      settled: true,
      mine: record(3n, 3),
      quickHas: record(1n, 1),
      quickMs: 300,
      slowHas: record(3n, 3),
      slowMs: 0,
      hedgeMs: 20,
    });
    const read = await get(coordinator);
    expect(read.record.version.counter).toBe(3n);
    expect(read.answers).toBe(2);
    expect(asked).toEqual(new Set([quick.id.hex, slow.id.hex]));
    expect(repaired.has(quick.id.hex)).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(repaired.get(quick.id.hex)?.map((r) => r.version.counter)).toEqual([3n]);
    expect(repaired.has(slow.id.hex)).toBe(false);
  });
});

/**
 * A coordinator (the key's owner) of replicas `self`, `quick` and `slow`, each holding the given record at
 * first and keeping what a Replicate sends when it is newer (the conflict rule); counts the Fetch calls.
 */
function writeSetup(settled: boolean, held: { self: KvRecord; quick: KvRecord; slow: KvRecord }) {
  const store = new MemoryKvStore();
  store.apply(held.self);
  const replicas = new Map<string, MemoryKvStore>();
  for (const [node, record] of [
    [quick, held.quick],
    [slow, held.slow],
  ] as const) {
    const replica = new MemoryKvStore();
    replica.apply(record);
    replicas.set(node.id.hex, replica);
  }
  let fetches = 0;
  const peers: Pick<KvPeers, "fetch" | "replicate"> = {
    fetch: (to: NodeInfo, request: FetchRequest) => {
      fetches++;
      const r = replicas.get(to.id.hex)!.get(key);
      return Promise.resolve({
        records: r === undefined ? [] : [encodeRecord(r, !request.versionsOnly)],
        omitted: [],
      });
    },
    replicate: (to: NodeInfo, request: ReplicateRequest) => {
      const replica = replicas.get(to.id.hex)!;
      const held = request.records.map((r, i) =>
        encodeVersion(replica.apply(decodeRecord(r, `records[${i}]`, 1 << 20)).version),
      );
      return Promise.resolve({ held });
    },
  };
  return {
    coordinator: coordinatorOver(store, peers, settled, 50),
    replicas,
    own: store,
    fetches: () => fetches,
  };
}

const put = async (coordinator: KvCoordinator, value: number): Promise<KvWriteResult> =>
  (await coordinator.execute({ kind: "put", key, value: new Uint8Array([value]) }, 30_000, 0, () =>
    Promise.reject(new Error("no hand-on")),
  )) as KvWriteResult;

describe("a write without precondition in a settled neighbourhood", () => {
  it("is versioned above the owner's own copy without a version read, and stored at every replica", async () => {
    const { coordinator, replicas, fetches } = writeSetup(true, {
      self: record(4n, 4),
      quick: record(4n, 4),
      slow: record(4n, 4),
    });
    const written = await put(coordinator, 9);
    expect(written.version.counter).toBe(5n);
    expect(fetches()).toBe(0);
    for (const replica of replicas.values()) expect(replica.get(key)?.version.counter).toBe(5n);
  });

  it("is written again above a newer version its replicas hold that the owner's copy lacks", async () => {
    const newer = { ...record(7n, 7), version: { counter: 7n, writer: quick.id } };
    const { coordinator, replicas, fetches } = writeSetup(true, {
      self: record(4n, 4),
      quick: newer,
      slow: newer,
    });
    const written = await put(coordinator, 9);
    expect(written.version.counter).toBe(8n);
    expect(fetches()).toBeGreaterThan(0);
    for (const replica of replicas.values()) {
      expect(replica.get(key)?.version.counter).toBe(8n);
      expect([...(replica.get(key)?.value ?? [])]).toEqual([9]);
    }
  });

  it("when the owner holds no copy of the key (restarted empty), reads the replicas' versions first", async () => {
    const newer = { ...record(7n, 7), version: { counter: 7n, writer: quick.id } };
    const store = writeSetup(true, { self: newer, quick: newer, slow: newer });
    store.own.drop(key);
    const written = await put(store.coordinator, 9);
    expect(written.version.counter).toBe(8n);
    expect(store.fetches()).toBe(2);
  });

  it("after a leaf-set change, reads the replicas' versions first", async () => {
    const newer = { ...record(7n, 7), version: { counter: 7n, writer: quick.id } };
    const { coordinator, fetches } = writeSetup(false, { self: record(4n, 4), quick: newer, slow: newer });
    const written = await put(coordinator, 9);
    expect(written.version.counter).toBe(8n);
    expect(fetches()).toBe(2);
  });
});
