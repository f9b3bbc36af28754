// The key-value store across real `wendy start` daemons: the TypeScript client and the `wendy kv` commands
// against any node, compare-and-set, deletion; then a replica killed with SIGKILL (its keys end on their k
// closest live nodes again) and restarted (it catches up on the keys it is a replica of).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortedError, WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { wendyBin } from "../../src/server/daemon/demo/daemon-process.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";
import { DaemonRing, type KvInspector, type RingNode } from "./daemon-ring.js";

const execute = promisify(execFile);
const K = 3;
let ring: DaemonRing;
let inspector: KvInspector;
const clients = new Map<string, WendyClient>();

function client(node: RingNode): WendyClient {
  let c = clients.get(node.client);
  if (c === undefined) clients.set(node.client, (c = new WendyClient(node.client)));
  return c;
}

async function wendyKv(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execute(process.execPath, [wendyBin(), "kv", ...args], {
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Keys whose k closest live nodes do not all hold exactly `expected`'s version and value. */
async function misplaced(keys: readonly string[], expected: ReadonlyMap<string, string>): Promise<string[]> {
  const ids = keys.map((k) => NodeId.fromString(k));
  const held = new Map<string, Map<string, { value: string; counter: bigint }>>();
  for (const node of ring.live()) {
    const records = await inspector.held(node, ids);
    held.set(
      node.id.hex,
      new Map(
        [...records].map(([hex, r]) => [
          hex,
          { value: Buffer.from(r.value).toString(), counter: r.version.counter },
        ]),
      ),
    );
  }
  return keys.filter((k, i) => {
    const id = ids[i]!;
    return ring.replicasOf(id, K).some((n) => held.get(n.id.hex)?.get(id.hex)?.value !== expected.get(k));
  });
}

beforeAll(async () => {
  ring = DaemonRing.create(5, testSecret("kv daemons"), { WENDY_KV_ANTI_ENTROPY_MS: "500" });
  await ring.start(0);
  await Promise.all([1, 2, 3, 4].map((i) => ring.start(i)));
  inspector = ring.inspector();
}, 240_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  inspector?.close();
  await ring?.closeAll();
});

describe("the key-value store on real daemons", () => {
  it("a value put through one node is read through another; a stale compare-and-set is refused; a delete reads as absent", async () => {
    const [a, b, c] = ring.nodes as [RingNode, RingNode, RingNode];
    const first = await client(a).kv.put("greeting", "hello");
    expect(first.version.counter).toBe(1n);
    expect(first.acknowledgements).toBeGreaterThanOrEqual(2);
    const read = await client(b).kv.get("greeting");
    expect(read?.value.toString()).toBe("hello");
    expect(read?.version).toEqual(first.version);
    const second = await client(c).kv.put("greeting", "hi", { ifVersion: first.version });
    expect(second.version.counter).toBe(2n);
    await expect(client(b).kv.put("greeting", "stale", { ifVersion: first.version })).rejects.toBeInstanceOf(
      AbortedError,
    );
    await expect(client(a).kv.put("greeting", "new", { ifAbsent: true })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect((await client(a).kv.get("greeting"))?.value.toString()).toBe("hi");
    await client(b).kv.delete("greeting");
    expect(await client(c).kv.get("greeting")).toBeUndefined();
    expect(await client(c).kv.get("never-written")).toBeUndefined();
  });

  it("wendy kv put / get / delete print the version and value, and get exits 1 for an absent key", async () => {
    const [a, b] = ring.nodes as [RingNode, RingNode];
    const put = await wendyKv("put", "cli-key", "cli-value", "--address", a.client);
    expect(put.code).toBe(0);
    const written = JSON.parse(put.stdout) as { version: string; acknowledgements: number };
    expect(written.version).toMatch(/^1@[0-9a-f]{32}$/);
    const got = await wendyKv("get", "cli-key", "--address", b.client);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ value: "cli-value", version: written.version });
    const cas = await wendyKv(
      "put",
      "cli-key",
      "x",
      "--if-version",
      `9@${"0".repeat(32)}`,
      "--address",
      b.client,
    );
    expect(cas.code).toBe(1);
    expect(cas.stderr).toMatch(/AbortedError/);
    expect((await wendyKv("delete", "cli-key", "--address", a.client)).code).toBe(0);
    const gone = await wendyKv("get", "cli-key", "--address", b.client);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no value under key/);
  });

  it("after a replica is killed (SIGKILL) every key is readable and held by its 3 closest live nodes; restarted, it catches up", async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `survivor-${i}`);
    const expected = new Map(keys.map((k) => [k, `value of ${k}`]));
    const nodes = ring.nodes;
    for (const [i, k] of keys.entries()) await client(nodes[i % 5]!).kv.put(k, expected.get(k)!);
    await waitFor(
      "every key on its 3 replicas",
      async () => ((await misplaced(keys, expected)).length === 0 ? true : undefined),
      30_000,
    );
    const victim = 4;
    await ring.kill(victim);
    for (const k of keys)
      expect((await client(nodes[k.length % 4]!).kv.get(k))?.value.toString()).toBe(expected.get(k));
    await waitFor(
      "every key on its 3 closest live nodes",
      async () => ((await misplaced(keys, expected)).length === 0 ? true : undefined),
      60_000,
    );
    await ring.start(victim);
    await waitFor(
      "the restarted node to hold its keys again",
      async () => ((await misplaced(keys, expected)).length === 0 ? true : undefined),
      60_000,
    );
    const mine = keys.filter((k) => ring.replicasOf(NodeId.fromString(k), K).some((n) => n.index === victim));
    expect(mine.length).toBeGreaterThan(0);
  });
});
