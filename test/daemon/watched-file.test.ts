// WatchedFile against the ways a file changes under a running daemon: a Kubernetes-style `..data` symlink
// swap (no event names the file, its inode never changes), the same contents written again (no change), a
// file missing for a moment (an error, then the next version is still seen), and, with no event at all,
// the poll alone.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WatchedFile } from "../../src/server/daemon/watched-file.js";
import { SecretVolume } from "../security/lib/secret-volume.js";

const dirs: string[] = [];
const watchers: WatchedFile[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "wendy-watched-"));
  dirs.push(dir);
  return dir;
}

/** A watcher of `path`, what it handed on and reported, and a bounded wait on those. */
function watch(path: string, initial: string, intervalMs: number) {
  const seen: string[] = [];
  const errors: string[] = [];
  const w = new WatchedFile(
    path,
    Buffer.from(initial),
    intervalMs,
    (contents) => seen.push(contents.toString()),
    (error) => errors.push(error.message),
  );
  watchers.push(w);
  const until = async (done: () => boolean, limitMs = 5000): Promise<void> => {
    const deadline = Date.now() + limitMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`not within ${limitMs} ms; seen ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { seen, errors, until };
}

describe("a watched file", () => {
  it("hands on each new version of a Secret volume once, and nothing for the same contents again", async () => {
    const volume = new SecretVolume(join(tempDir(), "secret"));
    volume.publish({ key: "one" });
    // A long poll: the directory's events must be what finds the changes.
    const w = watch(volume.path("key"), "one", 60_000);
    volume.publish({ key: "two" });
    await w.until(() => w.seen.length === 1);
    volume.publish({ key: "two" });
    volume.publish({ key: "three" });
    await w.until(() => w.seen.includes("three"));
    await new Promise((r) => setTimeout(r, 300));
    expect(w.seen).toEqual(["two", "three"]);
  });

  it("reports a file gone for a moment and takes the version that follows", async () => {
    const path = join(tempDir(), "token");
    writeFileSync(path, "a");
    const w = watch(path, "a", 100);
    unlinkSync(path);
    await w.until(() => w.errors.length > 0);
    writeFileSync(path, "b");
    await w.until(() => w.seen.includes("b"));
    expect(w.seen).toEqual(["b"]);
  });

  it("finds a file by polling alone when its directory cannot be watched (it did not exist yet)", async () => {
    const later = join(tempDir(), "later");
    const path = join(later, "token");
    // fs.watch on a missing directory fails: only the poll can see the file arrive.
    const w = watch(path, "", 100);
    await w.until(() => w.errors.length > 0);
    mkdirSync(later);
    writeFileSync(path, "b");
    await w.until(() => w.seen.includes("b"));
    expect(w.seen).toEqual(["b"]);
  });
});
