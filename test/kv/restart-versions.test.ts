// A real `wendy start` daemon with WENDY_KV_DATA_DIR, restarted on the same directory: the version floor
// (store.ts) is on disk too, so the restarted node never issues a version at or below one it issued before.
// The case that needs it: a key whose tombstone was removed after its grace is held nowhere, so only the
// floor remembers its counter; a new write of the key must still order after the deletion.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { LOG_KV_STORE_OPENED } from "../../src/server/daemon/daemon.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";
import { DaemonRing, type KvInspector } from "./daemon-ring.js";

let ring: DaemonRing;
let inspector: KvInspector;
let root: string;
const withData = (): Record<string, string> => ({ WENDY_KV_DATA_DIR: join(root, "kv-0") });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "wendy-kv-restart-"));
  // The shortest grace the daemon accepts: a deletion's tombstone goes about a second after it is stored.
  ring = DaemonRing.create(1, testSecret("kv restart versions"), { WENDY_KV_TOMBSTONE_GRACE_MS: "1000" });
  await ring.start(0, withData());
  inspector = ring.inspector();
}, 240_000);

afterAll(async () => {
  inspector?.close();
  await ring?.closeAll();
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
});

describe("versions issued by a daemon restarted on its data directory", () => {
  it("a write after the restart orders after a deletion whose tombstone was removed before it, though nothing holds the key", async () => {
    const node = ring.nodes[0]!;
    const key = "deleted, then forgotten";
    let client = new WendyClient(node.client);
    let issued = 0n;
    try {
      for (const value of ["one", "two", "three"]) issued = (await client.kv.put(key, value)).version.counter;
      const deleted = (await client.kv.delete(key)).version.counter;
      expect(deleted).toBeGreaterThan(issued);
      issued = deleted;
      await waitFor(
        "the tombstone to be removed after its grace",
        async () => ((await inspector.held(node, [NodeId.fromString(key)])).size === 0 ? true : undefined),
        60_000,
      );
    } finally {
      client.close();
    }

    await ring.stop(0);
    const process = ring.spawn(0, withData());
    const opened = await process.waitForLine((l) => l.msg === LOG_KV_STORE_OPENED, 180_000, "store opened");
    // Nothing read back: the key's counter survives in the floor alone.
    expect(opened.records).toBe(0);
    await ring.ready(0);

    client = new WendyClient(node.client);
    try {
      expect(await client.kv.get(key)).toBeUndefined();
      const rewritten = await client.kv.put(key, "after the restart");
      expect(rewritten.version.counter).toBeGreaterThan(issued);
      expect((await client.kv.get(key))?.version.counter).toBe(rewritten.version.counter);
    } finally {
      client.close();
    }
  });
});
