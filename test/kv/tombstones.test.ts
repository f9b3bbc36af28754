// Tombstone removal: the rule (src/kv/tombstone.ts), the store's side (ages, the version floor), and on real
// Clusters in one process: a deleted key's tombstone leaves every replica after the grace, and a later put
// of the key is versioned above the removed tombstone and read back.
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { KvRecord } from "../../src/kv/record.js";
import { tombstoneRemovable } from "../../src/kv/tombstone.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { Cluster } from "../../src/server/cluster.js";
import { KvNode, type KvReadResult, type KvWriteResult } from "../../src/server/kv/index.js";
import { MemoryKvStore } from "../../src/server/kv/store.js";
import { Node } from "../../src/server/node.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";

const writer = NodeId.fromString("writer");
const key = NodeId.fromString("deleted key");
const at = (counter: bigint, deleted: boolean): KvRecord => ({
  key,
  version: { counter, writer },
  value: new Uint8Array(deleted ? 0 : 3),
  deleted,
});
const v = (counter: bigint) => ({ counter, writer });

describe("the tombstone removal rule", () => {
  const tombstone = at(5n, true);
  it("keeps a tombstone until the grace has passed", () => {
    expect(tombstoneRemovable(tombstone, 999, 1000, [v(5n), v(5n)])).toBe(false);
    expect(tombstoneRemovable(tombstone, 1000, 1000, [v(5n), v(5n)])).toBe(true);
  });

  it("keeps it while another member holds an older version (the write it deleted) or could not be asked", () => {
    expect(tombstoneRemovable(tombstone, 5000, 1000, [v(5n), v(4n)])).toBe(false);
    expect(tombstoneRemovable(tombstone, 5000, 1000, [v(5n), "unknown"])).toBe(false);
  });

  it("removes it when every other member holds it, something newer, or nothing", () => {
    expect(tombstoneRemovable(tombstone, 5000, 1000, [v(5n), v(9n), undefined])).toBe(true);
    expect(tombstoneRemovable(tombstone, 5000, 1000, [])).toBe(true);
  });

  it("never removes a value", () => {
    expect(tombstoneRemovable(at(5n, false), 5000, 1000, [v(5n)])).toBe(false);
  });
});

describe("the store's tombstones", () => {
  it("are aged from when they were stored, removed only if nothing newer arrived, and raise the version floor", () => {
    let now = 0;
    const store = new MemoryKvStore({ maxKeys: 10, maxBytes: 10_000 }, undefined, () => now);
    store.apply(at(4n, false));
    store.apply(at(5n, true));
    now = 700;
    expect([...store.tombstones()].map((t) => t.heldForMs)).toEqual([700]);
    expect(store.removeTombstone(at(4n, true))).toBe(false); // an older tombstone than the one held
    expect(store.removeTombstone(at(5n, true))).toBe(true);
    expect(store.size).toBe(0);
    expect(store.tombstoneCount).toBe(0);
    expect(store.versionFloor).toBe(5n);
    store.apply(at(6n, false));
    expect(store.removeTombstone(at(6n, true))).toBe(false); // a value is never removed
    expect(store.size).toBe(1);
  });
});

describe("a tombstone removed here", () => {
  it("is not kept again when a replica sends a copy back, while a newer tombstone or a value is", () => {
    const store = new MemoryKvStore({ maxKeys: 10, maxBytes: 10_000 }, undefined, () => 0);
    store.apply(at(5n, true));
    expect(store.removeTombstone(at(5n, true))).toBe(true);
    expect(store.apply(at(5n, true))).toEqual(at(5n, true)); // answered as held: this node agreed it may go
    expect(store.apply(at(4n, true)).version.counter).toBe(4n);
    expect(store.size).toBe(0);
    expect(store.tombstoneCount).toBe(0);
    store.apply(at(6n, true));
    expect(store.get(key)?.version.counter).toBe(6n);
    expect(store.removeTombstone(at(6n, true))).toBe(true);
    store.apply(at(7n, false));
    expect(store.get(key)?.deleted).toBe(false);
  });
});

const credentials = new PassphraseCredentials(testSecret("kv tombstones"));
const running: { cluster: Cluster; kv: KvNode }[] = [];

afterEach(async () => {
  for (const m of running.splice(0)) {
    m.kv.stop();
    await m.cluster.kill();
  }
});

async function start(name: string, seed?: Cluster): Promise<{ cluster: Cluster; kv: KvNode }> {
  const node = new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1", port: 0 });
  const late: { kv?: KvNode } = {};
  const cluster = new Cluster(node, credentials, {
    bindHost: "127.0.0.1",
    routing: { leafSetSize: 8, heartbeatIntervalMs: 200, failureTimeoutMs: 1000 },
    configureServer: (server) => late.kv?.addPeerServiceTo(server),
  });
  const kv = new KvNode(cluster, { antiEntropyIntervalMs: 200, tombstoneGraceMs: 1000 });
  late.kv = kv;
  await cluster.listen();
  kv.start();
  if (seed !== undefined) await cluster.join([seed.info().localAddress]);
  const member = { cluster, kv };
  running.push(member);
  return member;
}

describe("tombstones on real Clusters", () => {
  it("a deleted key's tombstone leaves all its replicas after the grace, and a later put of the key is versioned above it and read back", async () => {
    const first = await start("tomb-0");
    const members = [first];
    for (let i = 1; i < 4; i++) members.push(await start(`tomb-${i}`, first.cluster));
    await waitFor(
      "every node to know the others",
      () => (members.every((m) => m.cluster.knownPeers().length === 3) ? true : undefined),
      10_000,
    );
    const text = (s: string): Uint8Array => new TextEncoder().encode(s);
    await members[0]!.kv.run({ kind: "put", key, value: text("doomed") }, 5000);
    const deleted = (await members[1]!.kv.run({ kind: "delete", key }, 5000)) as KvWriteResult;
    await waitFor(
      "3 replicas to hold the tombstone",
      () => (members.filter((m) => m.kv.store.get(key)?.deleted).length === 3 ? true : undefined),
      5000,
    );
    expect(members.reduce((n, m) => n + m.kv.stats().tombstones, 0)).toBe(3);
    await waitFor(
      "no node to hold anything of the key",
      () => (members.every((m) => m.kv.store.get(key) === undefined) ? true : undefined),
      15_000,
    );
    expect(members.reduce((n, m) => n + m.kv.stats().tombstonesRemoved, 0)).toBeGreaterThanOrEqual(3);
    expect(members.every((m) => m.kv.stats().tombstones === 0)).toBe(true);
    const again = (await members[2]!.kv.run(
      { kind: "put", key, value: text("reborn") },
      5000,
    )) as KvWriteResult;
    expect(again.version.counter).toBeGreaterThan(deleted.version.counter);
    const read = (await members[3]!.kv.run({ kind: "get", key }, 5000)) as KvReadResult;
    expect(new TextDecoder().decode(read.record.value)).toBe("reborn");
  });
});
