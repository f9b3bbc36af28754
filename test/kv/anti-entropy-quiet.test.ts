// Anti-entropy at rest: two nodes that agree do not ask each other again while nothing changed on either
// side, a change on one side is compared at that node's next round, and a quiet pair is still compared
// now and then; with nothing stored the rounds sleep until the first record. Two KvAntiEntropy instances joined by an in-memory KvPeers (no sockets, no timers: rounds
// are run by hand, or by fake timers).
import { describe, expect, it, vi } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { Placement } from "../../src/kv/placement.js";
import type { KvRecord } from "../../src/kv/record.js";
import { KvAntiEntropy } from "../../src/server/kv/anti-entropy.js";
import type { KvOverlay } from "../../src/server/kv/overlay.js";
import type { KvPeers } from "../../src/server/kv/peer-client.js";
import { MemoryKvStore } from "../../src/server/kv/store.js";
import { decodeRecord, encodeRecord } from "../../src/server/kv/wire.js";

function info(name: string): NodeInfo {
  const id = NodeId.fromString(name);
  return { id, localAddress: name, globalAddress: name, region: "r", incarnation: 1 };
}

interface Side {
  readonly self: NodeInfo;
  readonly store: MemoryKvStore;
  entropy?: KvAntiEntropy;
  /** Rounds begun (each asks whether the node is ready first). */
  rounds: number;
}

/** Two nodes, each the other's only leaf-set member and replica partner (k = 2: every key on both). */
function pair(intervalMs: number): { a: Side; b: Side; digests: NodeInfo[] } {
  const a: Side = { self: info("a"), store: new MemoryKvStore(), rounds: 0 };
  const b: Side = { self: info("b"), store: new MemoryKvStore(), rounds: 0 };
  const digests: NodeInfo[] = [];
  const sideOf = (node: NodeInfo): Side => (node.id.equals(a.self.id) ? a : b);
  for (const [me, other] of [
    [a, b],
    [b, a],
  ] as const) {
    // One array for the test's life: the placement's cache is keyed on it, as on the routing node's.
    const candidates = [me.self, other.self];
    const overlay: KvOverlay = {
      self: () => me.self,
      ready: () => {
        me.rounds++;
        return true;
      },
      owner: () => me.self,
      replicas: () => [me.self, other.self],
      replicaCandidates: () => candidates,
      leafSet: () => ({ left: [other.self], right: [other.self] }),
    };
    const peers: KvPeers = {
      digest: (to, request) => {
        digests.push(to);
        return Promise.resolve(sideOf(to).entropy!.answer(me.self, request));
      },
      fetch: (to, request) => {
        const there = sideOf(to).store;
        const records = request.keys
          .map((key) => there.get(NodeId.fromBytes(key)))
          .filter((r): r is KvRecord => r !== undefined)
          .map((r) => encodeRecord(r));
        return Promise.resolve({ records, omitted: [] });
      },
      replicate: (to, request) => {
        const there = sideOf(to).store;
        const held = request.records.map(
          (r, i) => there.apply(decodeRecord(r, `records[${i}]`, 1 << 20)).version,
        );
        return Promise.resolve({
          held: held.map((v) => ({ counter: v.counter, writer: Buffer.from(v.writer.toBytes()) })),
        });
      },
      coordinate: () => Promise.reject(new Error("not used")),
      close: () => undefined,
    };
    const placement = new Placement(() => candidates, 2);
    me.entropy = new KvAntiEntropy(
      overlay,
      me.store,
      peers,
      placement,
      { intervalMs, maxRecords: 512, replicaTimeoutMs: 1000, maxBatchBytes: 1 << 20, replicas: 2 },
      { repaired: () => undefined, received: () => undefined },
    );
  }
  return { a, b, digests };
}

function record(key: string, counter: bigint, writer: NodeInfo): KvRecord {
  return {
    key: NodeId.fromString(key),
    version: { counter, writer: writer.id },
    value: new TextEncoder().encode(key),
    deleted: false,
  };
}

describe("anti-entropy at rest", () => {
  it("asks a partner that agreed again only once its own side of what they share changed", async () => {
    const { a, b, digests } = pair(60_000);
    a.store.apply(record("k1", 1n, a.self));
    b.store.apply(record("k1", 1n, a.self));
    await a.entropy!.round();
    expect(digests).toHaveLength(1);
    // Nothing changed on a's side: no call, round after round.
    for (let i = 0; i < 5; i++) await a.entropy!.round();
    expect(digests).toHaveLength(1);
    // A newer version written at a alone: a's next round compares and pushes it to b.
    a.store.apply(record("k1", 2n, a.self));
    await a.entropy!.round();
    expect(digests).toHaveLength(2);
    expect(b.store.get(NodeId.fromString("k1"))?.version.counter).toBe(2n);
    // Both sides equal again: quiet.
    await a.entropy!.round();
    expect(digests).toHaveLength(3);
    await a.entropy!.round();
    expect(digests).toHaveLength(3);
  });

  it("a change on the partner's side is compared by the partner, which then brings it over", async () => {
    const { a, b, digests } = pair(60_000);
    await a.entropy!.round();
    await b.entropy!.round();
    expect(digests).toHaveLength(2);
    b.store.apply(record("k2", 1n, b.self));
    await a.entropy!.round();
    expect(digests).toHaveLength(2);
    await b.entropy!.round();
    expect(digests).toHaveLength(3);
    expect(a.store.get(NodeId.fromString("k2"))?.version.counter).toBe(1n);
  });

  it("still compares a quiet pair once per thirty rounds' time", async () => {
    const { a, digests } = pair(1);
    await a.entropy!.round();
    expect(digests).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await a.entropy!.round();
    expect(digests).toHaveLength(2);
  });

  it("with nothing stored, rounds sleep thirty rounds' time; the first record stored wakes them", async () => {
    vi.useFakeTimers();
    const { a, b, digests } = pair(1000);
    try {
      a.entropy!.start();
      await vi.advanceTimersByTimeAsync(20_000);
      // One round an interval after the start, then asleep.
      expect(a.rounds).toBe(1);
      expect(digests).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(15_000);
      // The sleep's end: one round more, then asleep again.
      expect(a.rounds).toBe(2);
      a.store.apply(record("k1", 1n, a.self));
      await vi.advanceTimersByTimeAsync(1_000);
      expect(a.rounds).toBe(3);
      expect(b.store.get(NodeId.fromString("k1"))?.version.counter).toBe(1n);
    } finally {
      a.entropy!.stop();
      vi.useRealTimers();
    }
  });
});
