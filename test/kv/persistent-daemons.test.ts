// Real `wendy start` daemons with WENDY_KV_DATA_DIR: a replica killed with SIGKILL and started again on the
// same directory holds its keys as soon as it starts (read back from disk before it serves, so before any
// repair could have sent them), then catches up on what was written while it was down; a second daemon on a
// directory in use, and a daemon on a corrupt directory, do not start and say why.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { LOG_KV_STORE_OPENED } from "../../src/server/daemon/daemon.js";
import type { LogLine } from "../../src/server/daemon/demo/daemon-process.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";
import { DaemonRing, type KvInspector, type RingNode } from "./daemon-ring.js";

const K = 3;
const SIZE = 4;
let ring: DaemonRing;
let inspector: KvInspector;
let root: string;
const clients = new Map<string, WendyClient>();
const dataDir = (i: number): string => join(root, `kv-${i}`);
const withData = (i: number): Record<string, string> => ({ WENDY_KV_DATA_DIR: dataDir(i) });

function client(node: RingNode): WendyClient {
  let c = clients.get(node.client);
  if (c === undefined) clients.set(node.client, (c = new WendyClient(node.client)));
  return c;
}

/** What `node` holds of `keys`: value and version counter, by key name. */
async function heldBy(node: RingNode, keys: readonly string[]): Promise<Map<string, string>> {
  const records = await inspector.held(
    node,
    keys.map((k) => NodeId.fromString(k)),
  );
  const out = new Map<string, string>();
  for (const k of keys) {
    const r = records.get(NodeId.fromString(k).hex);
    if (r !== undefined) out.set(k, `${Buffer.from(r.value).toString()}@${r.version.counter}`);
  }
  return out;
}

/** Keys whose k closest live nodes do not all hold exactly `expected`'s value. */
async function misplaced(expected: ReadonlyMap<string, string>): Promise<string[]> {
  const keys = [...expected.keys()];
  const held = new Map<number, Map<string, string>>();
  for (const node of ring.live()) held.set(node.index, await heldBy(node, keys));
  return keys.filter((k) =>
    ring
      .replicasOf(NodeId.fromString(k), K)
      .some((n) => held.get(n.index)?.get(k)?.split("@")[0] !== expected.get(k)),
  );
}

/** The "could not start" line's error of a daemon that exits, and its exit code. */
async function startFailure(
  i: number,
  env: Record<string, string>,
): Promise<{ code: number | null; err: string }> {
  const process = ring.spawn(i, env);
  const exit = await process.exited;
  ring.nodes[i]!.process = undefined;
  const fatal = process.lines.find((l: LogLine) => l.msg === "could not start");
  return { code: exit.code, err: String(fatal?.err ?? process.stderr.join("\n")) };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "wendy-kv-data-"));
  // Anti-entropy every hour: the restarted node's keys can only come from its directory or re-replication.
  ring = DaemonRing.create(SIZE + 1, testSecret("kv persistent daemons"), {
    WENDY_KV_ANTI_ENTROPY_MS: "3600000",
  });
  await ring.start(0, withData(0));
  await Promise.all([1, 2, 3].map((i) => ring.start(i, withData(i))));
  inspector = ring.inspector();
}, 240_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  inspector?.close();
  await ring?.closeAll();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe("the key-value store with a data directory, on real daemons", () => {
  it("a replica killed with SIGKILL and restarted on its directory holds its keys on start, read back from disk, then catches up on what was written meanwhile", async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `kept-${i}`);
    const expected = new Map(keys.map((k) => [k, `value of ${k}`]));
    const nodes = ring.nodes;
    for (const [i, k] of keys.entries()) await client(nodes[i % SIZE]!).kv.put(k, expected.get(k)!);
    await waitFor(
      "every key on its 3 replicas",
      async () => ((await misplaced(expected)).length === 0 ? true : undefined),
      30_000,
    );
    const victim = 3;
    const before = await heldBy(nodes[victim]!, keys);
    expect(before.size).toBeGreaterThan(0);
    await ring.kill(victim);

    // Written while the victim is down: new values for some of its keys.
    const changed = [...before.keys()].slice(0, 5);
    for (const k of changed) {
      expected.set(k, `new value of ${k}`);
      await client(nodes[0]!).kv.put(k, expected.get(k)!);
    }

    const process = ring.spawn(victim, withData(victim));
    const opened = await process.waitForLine((l) => l.msg === LOG_KV_STORE_OPENED, 180_000, "store opened");
    // Read back before the node listened: nothing could have been sent to it yet.
    expect(opened.records).toBe(before.size);
    await ring.ready(victim);
    const after = await heldBy(nodes[victim]!, keys);
    for (const [k, v] of before) if (!changed.includes(k)) expect(after.get(k)).toBe(v);

    await waitFor(
      "the restarted node to catch up on the keys written while it was down",
      async () => ((await misplaced(expected)).length === 0 ? true : undefined),
      60_000,
    );
    for (const k of changed)
      expect((await client(nodes[victim]!).kv.get(k))?.value.toString()).toBe(expected.get(k));
  });

  it("a daemon given a data directory another daemon holds does not start, and says the directory is locked", async () => {
    const failure = await startFailure(SIZE, withData(0));
    expect(failure.code).toBe(1);
    expect(failure.err).toContain(`cannot open the key-value data directory ${dataDir(0)}`);
    expect(failure.err).toMatch(/lock/);
  });

  it("a daemon given a corrupt data directory does not start, and names the directory", async () => {
    const corrupt = join(root, "corrupt");
    const seed = ring.spawn(SIZE, { WENDY_KV_DATA_DIR: corrupt });
    await seed.waitForLine((l) => l.msg === LOG_KV_STORE_OPENED, 180_000, "store opened");
    await ring.kill(SIZE);
    for (const file of readdirSync(corrupt).filter((f) => f.startsWith("MANIFEST-")))
      writeFileSync(join(corrupt, file), Buffer.alloc(256, 0xab));
    const failure = await startFailure(SIZE, { WENDY_KV_DATA_DIR: corrupt });
    expect(failure.code).toBe(1);
    expect(failure.err).toContain(`cannot open the key-value data directory ${corrupt}`);
  });
});
