// The Python example client's `kv` commands (clients/python's kv_put, kv_get, kv_delete) against real
// daemons: a put read back through another node, a refused compare-and-set, a delete.
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../helpers/node-processes.js";
import { testSecret } from "../helpers/secrets.js";
import { DaemonRing, type RingNode } from "./daemon-ring.js";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(REPO_ROOT, "examples", "python", "wendy_example.py");
const run = promisify(execFile);
let ring: DaemonRing;
let genDir: string;

async function python(
  node: RingNode,
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(PYTHON, [SCRIPT, "--address", node.client, "kv", ...args], {
      env: { ...process.env, WENDY_PY_GEN_DIR: genDir },
      timeout: 60_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: e.stdout ?? "", err: e.stderr ?? "" };
  }
}

beforeAll(async () => {
  const check = spawnSync(PYTHON, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
  if (check.status !== 0)
    throw new Error(
      `${PYTHON} cannot import grpc and grpc_tools (python3-grpcio python3-grpc-tools): ${check.stderr}`,
    );
  genDir = mkdtempSync(join(tmpdir(), "wendy-py-kv-"));
  ring = DaemonRing.create(3, testSecret("kv python"));
  await ring.start(0);
  await Promise.all([ring.start(1), ring.start(2)]);
}, 240_000);

afterAll(async () => {
  await ring?.closeAll();
  if (genDir) rmSync(genDir, { recursive: true, force: true });
});

describe("the Python example's kv commands", () => {
  it("put, get through another node, a refused compare-and-set, delete", async () => {
    const [a, b, c] = ring.nodes as [RingNode, RingNode, RingNode];
    const put = await python(a, "put", "py-key", "py-value");
    expect(put.code, put.err).toBe(0);
    const version = (JSON.parse(put.out) as { version: string }).version;
    expect(version).toMatch(/^1@[0-9a-f]{32}$/);
    const got = await python(b, "get", "py-key");
    expect(got.code, got.err).toBe(0);
    expect(JSON.parse(got.out)).toMatchObject({ value: "py-value", version });
    const updated = await python(c, "put", "py-key", "newer", "--if-version", version);
    expect(JSON.parse(updated.out)).toMatchObject({ version: expect.stringMatching(/^2@/) });
    const stale = await python(a, "put", "py-key", "stale", "--if-version", version);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/ABORTED/);
    expect((await python(b, "delete", "py-key")).code).toBe(0);
    const gone = await python(c, "get", "py-key");
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/no value under key/);
  });
});
