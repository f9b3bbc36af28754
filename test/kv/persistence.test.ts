// The store's persistent copy (LevelDB through classic-level) in a temporary directory: what the store kept
// and dropped is what a reopened directory gives back; a directory held by another handle, a corrupt one
// and a record that does not decode are clear KvDataDirErrors.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { KvRecord } from "../../src/kv/record.js";
import { KvDataDirError, LevelKvPersistence } from "../../src/server/kv/persistence.js";
import { MemoryKvStore } from "../../src/server/kv/store.js";

const writer = NodeId.fromString("writer");
const record = (key: string, counter: bigint, value: string, deleted = false): KvRecord => ({
  key: NodeId.fromString(key),
  version: { counter, writer },
  value: new TextEncoder().encode(deleted ? "" : value),
  deleted,
});
const limits = { maxKeys: 100, maxBytes: 100_000 };

const directories: string[] = [];
function directory(): string {
  const d = mkdtempSync(join(tmpdir(), "wendy-kv-persistence-"));
  directories.push(d);
  return join(d, "data");
}

afterEach(() => {
  for (const d of directories.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function recordsIn(persistence: LevelKvPersistence): Promise<KvRecord[]> {
  const out: KvRecord[] = [];
  for await (const r of persistence.records(1024)) out.push(r);
  return out;
}

async function readBack(dir: string): Promise<KvRecord[]> {
  const persistence = await LevelKvPersistence.open(dir);
  try {
    return await recordsIn(persistence);
  } finally {
    await persistence.close();
  }
}

/**
 * Reopens `dir` as a restarted node does (its records read back, a store on it with the version floor
 * restored), hands both to `check`, then closes the directory.
 */
async function afterReopen(
  dir: string,
  check: (records: KvRecord[], restarted: MemoryKvStore) => Promise<void>,
): Promise<void> {
  const reopened = await LevelKvPersistence.open(dir);
  try {
    const records = await recordsIn(reopened);
    const restarted = new MemoryKvStore(limits, reopened);
    restarted.restoreVersionFloor(await reopened.versionFloor());
    await check(records, restarted);
  } finally {
    await reopened.close();
  }
}

describe("the store's persistent copy", () => {
  it("a reopened directory gives back the newest record of every key kept, tombstones included, and none of the dropped keys", async () => {
    const dir = directory();
    const persistence = await LevelKvPersistence.open(dir);
    const store = new MemoryKvStore(limits, persistence);
    store.apply(record("a", 1n, "first"));
    store.apply(record("a", 3n, "third"));
    store.apply(record("a", 2n, "older, refused"));
    store.apply(record("b", 1n, "bee"));
    store.apply(record("c", 5n, "", true));
    store.apply(record("d", 1n, "handed over"));
    store.drop(NodeId.fromString("d"));
    await store.flushed();
    await persistence.close();

    const back = await readBack(dir);
    const byKey = new Map(back.map((r) => [r.key.hex, r]));
    expect(back).toHaveLength(3);
    expect(byKey.get(NodeId.fromString("a").hex)?.version.counter).toBe(3n);
    expect(new TextDecoder().decode(byKey.get(NodeId.fromString("a").hex)?.value)).toBe("third");
    expect(byKey.get(NodeId.fromString("a").hex)?.version.writer.hex).toBe(writer.hex);
    expect(new TextDecoder().decode(byKey.get(NodeId.fromString("b").hex)?.value)).toBe("bee");
    expect(byKey.get(NodeId.fromString("c").hex)?.deleted).toBe(true);
    expect(byKey.has(NodeId.fromString("d").hex)).toBe(false);

    // Restored records count against the bounds as the store's own do, and are not written again.
    const again = new MemoryKvStore(limits);
    for (const r of back) again.restore(r);
    expect(again.size).toBe(3);
    expect(again.bytes).toBe(back.reduce((n, r) => n + 16 + 16 + 8 + r.value.byteLength, 0));
  });

  it("a version issued before a close is below every version issued after the reopen, though no record of it was ever stored", async () => {
    const dir = directory();
    const key = NodeId.fromString("issued, never stored");
    const persistence = await LevelKvPersistence.open(dir);
    const store = new MemoryKvStore(limits, persistence);
    const first = await store.issueVersion(undefined, writer);
    const second = await store.issueVersion(first, writer);
    expect([first.counter, second.counter]).toEqual([1n, 2n]);
    // As after a crash between issuing and storing: the coordinator's own copy never reached the disk.
    await persistence.close();

    await afterReopen(dir, async (records, restarted) => {
      expect(records).toEqual([]);
      expect(restarted.get(key)).toBeUndefined();
      const after = await restarted.issueVersion(undefined, writer);
      expect(after.counter).toBeGreaterThan(second.counter);
    });
  });

  it("a tombstone removed before a close keeps new versions of its key above it after the reopen", async () => {
    const dir = directory();
    const persistence = await LevelKvPersistence.open(dir);
    const store = new MemoryKvStore(limits, persistence);
    const tombstone = record("gone", 7n, "", true);
    store.apply(tombstone);
    expect(store.removeTombstone(tombstone)).toBe(true);
    await store.flushed();
    await persistence.close();

    await afterReopen(dir, async (records, restarted) => {
      expect(records).toEqual([]);
      expect(restarted.versionFloor).toBeGreaterThanOrEqual(7n);
      expect((await restarted.issueVersion(undefined, writer)).counter).toBeGreaterThan(7n);
    });
  });

  it("a new directory's version floor is 0, and versions in memory only start at 1", async () => {
    const dir = directory();
    const persistence = await LevelKvPersistence.open(dir);
    expect(await persistence.versionFloor()).toBe(0n);
    await persistence.close();
    expect((await new MemoryKvStore(limits).issueVersion(undefined, writer)).counter).toBe(1n);
  });

  it("a directory another handle holds open is refused with a KvDataDirError naming the directory and the lock", async () => {
    const dir = directory();
    const first = await LevelKvPersistence.open(dir);
    const second = LevelKvPersistence.open(dir);
    await expect(second).rejects.toBeInstanceOf(KvDataDirError);
    await expect(second).rejects.toThrow(new RegExp(`${dir}.*lock`));
    await first.close();
  });

  it("a directory whose manifest is garbage is refused with a KvDataDirError naming the directory", async () => {
    const dir = directory();
    const persistence = await LevelKvPersistence.open(dir);
    const store = new MemoryKvStore(limits, persistence);
    store.apply(record("a", 1n, "x"));
    await store.flushed();
    await persistence.close();
    for (const file of readdirSync(dir).filter((f) => f.startsWith("MANIFEST-")))
      writeFileSync(join(dir, file), Buffer.alloc(256, 0xab));
    await expect(LevelKvPersistence.open(dir)).rejects.toThrow(
      new RegExp(`cannot open the key-value data directory ${dir}`),
    );
  });

  it("a stored value that is not a record fails the read-back with a KvDataDirError, not a crash", async () => {
    const dir = directory();
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: "buffer", valueEncoding: "buffer" });
    await db.open();
    await db.put(Buffer.alloc(16, 1), Buffer.from([0xff, 0xff, 0xff]));
    await db.close();
    await expect(readBack(dir)).rejects.toThrow(
      new RegExp(`cannot read the key-value data directory ${dir}`),
    );
  });

  it("a write that fails on disk rejects flushed() with INTERNAL and leaves no unhandled rejection", async () => {
    const dir = directory();
    const persistence = await LevelKvPersistence.open(dir);
    const store = new MemoryKvStore(limits, persistence);
    await persistence.close(); // every later batch fails: the database is closed
    store.apply(record("a", 1n, "x"));
    await expect(store.flushed()).rejects.toMatchObject({ code: 13 });
  });
});
