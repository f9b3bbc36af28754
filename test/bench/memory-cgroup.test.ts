// bench/lib/memory-cgroup.ts: which cgroup hierarchy a machine offers, and (where it lets us, as root) a real
// process started inside a memory limit: killed by the kernel past it, its peak and kill counted.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryCgroup, memoryCgroupSupport, memoryCgroupTrial } from "../../bench/lib/memory-cgroup.js";

const MIB = 1024 * 1024;
const fakeRoots = mkdtempSync(join(tmpdir(), "wendy-cgroup-test-"));
afterAll(() => rmSync(fakeRoots, { recursive: true, force: true }));

function fakeRoot(name: string, files: Record<string, string>): string {
  const root = join(fakeRoots, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

describe("memoryCgroupSupport", () => {
  it("finds v1's memory controller, a v2 hierarchy that delegates memory, and says why for one that does not", () => {
    const v1 = fakeRoot("v1", { "memory/memory.limit_in_bytes": "9223372036854771712\n" });
    expect(memoryCgroupSupport(v1)).toEqual({ version: "v1", parent: join(v1, "memory") });
    const v2 = fakeRoot("v2", { "cgroup.subtree_control": "cpu io memory pids\n" });
    expect(memoryCgroupSupport(v2)).toEqual({ version: "v2", parent: v2 });
    const noMemory = fakeRoot("v2-no-memory", { "cgroup.subtree_control": "cpu pids\n" });
    expect(memoryCgroupSupport(noMemory)).toEqual({
      unsupported: `${noMemory}: the memory controller is not enabled for child cgroups`,
    });
    const none = fakeRoot("none", {});
    expect(memoryCgroupSupport(none)).toEqual({
      unsupported: `${none}: no cgroup memory controller mounted`,
    });
  });

  it("finds no trial possible where the hierarchy is missing, saying why", () => {
    expect(memoryCgroupTrial(fakeRoot("trial-none", {}))).toMatch(/no cgroup memory controller mounted/);
  });

  it("writes the limit where the hierarchy keeps it (v1: memory.limit_in_bytes, v2: memory.max)", () => {
    const v1 = fakeRoot("v1-limit", { "memory/memory.limit_in_bytes": "max\n" });
    const a = MemoryCgroup.create("a", 64 * MIB, v1);
    expect(a.path).toBe(join(v1, "memory", "a"));
    const v2 = fakeRoot("v2-limit", { "cgroup.subtree_control": "memory\n" });
    const b = MemoryCgroup.create("b", 32 * MIB, v2);
    expect(b.path).toBe(join(v2, "b"));
    expect(() => MemoryCgroup.create("c", 0, v2)).toThrow(RangeError);
  });
});

/** Runs `script` with node inside `cgroup`; resolves with how it ended. */
function runInside(
  cgroup: MemoryCgroup,
  script: string,
): Promise<{ code: number | null; signal: string | null }> {
  const { command, args } = cgroup.wrap(process.execPath, ["-e", script]);
  const child = spawn(command, args, { stdio: "ignore" });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

// Touches every page of `mib` MiB outside V8's heap, so that resident memory really grows.
const allocate = (mib: number): string =>
  `const kept = []; for (let i = 0; i < ${mib}; i++) kept.push(Buffer.alloc(1 << 20, 1)); setTimeout(() => {}, 100);`;

const unavailable = memoryCgroupTrial();
describe.skipIf(unavailable !== undefined)(
  `a real memory cgroup (${unavailable ?? "this machine makes them"})`,
  () => {
    it("lets a process stay under its limit (exit 0, no OOM kill, a peak below the limit) and kills one that grows past it, counting the kill", async () => {
      const under = MemoryCgroup.create(`wendy-test-under-${String(process.pid)}`, 256 * MIB);
      try {
        expect(await runInside(under, allocate(16))).toEqual({ code: 0, signal: null });
        expect(under.oomKills()).toBe(0);
        expect(under.peakBytes()).toBeGreaterThan(16 * MIB);
        expect(under.peakBytes()).toBeLessThan(256 * MIB);
      } finally {
        under.remove();
      }
      const over = MemoryCgroup.create(`wendy-test-over-${String(process.pid)}`, 96 * MIB);
      try {
        expect(await runInside(over, allocate(400))).toEqual({ code: null, signal: "SIGKILL" });
        expect(over.oomKills()).toBe(1);
        expect(over.peakBytes()).toBeGreaterThan(80 * MIB);
      } finally {
        over.remove();
      }
    }, 60_000);
  },
);
