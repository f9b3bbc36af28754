// The Python example client (examples/python) against live nodes: send, subscribe and call work.
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { NodeProcesses, REPO_ROOT, type StartedNode } from "../helpers/node-processes.js";
import { waitFor } from "../helpers/wait.js";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(REPO_ROOT, "examples", "python", "wendy_example.py");
const PURPOSE = 17;
const run = promisify(execFile);

const nodes = new NodeProcesses();
let a: StartedNode;
let b: StartedNode;
let genDir: string;

function keyOwnedBy(target: StartedNode): string {
  const all = [a, b].map((s) => ({ id: NodeId.fromHex(s.id), s }));
  for (let i = 0; i < 10_000; i++) {
    if (closestTo(NodeId.fromString(`py-${i}`), all)?.s === target) return `py-${i}`;
  }
  throw new Error("no key found");
}

async function python(...args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(PYTHON, [SCRIPT, ...args], {
    env: { ...process.env, WENDY_PY_GEN_DIR: genDir },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as Record<string, unknown>;
}

beforeAll(async () => {
  const check = spawnSync(PYTHON, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
  if (check.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import grpc and grpc_tools: install python3-grpcio python3-grpc-tools ` +
        `(.ci/run installs them). ${check.stderr ?? ""}`,
    );
  }
  genDir = mkdtempSync(join(tmpdir(), "wendy-py-test-"));
  a = await nodes.start({ name: "py-node-a" });
  b = await nodes.start({ name: "py-node-b", seed: a.peerAddress });
});

afterAll(async () => {
  await nodes.stopAll();
  if (genDir) rmSync(genDir, { recursive: true, force: true });
});

describe("the Python example client", () => {
  it("subscribes, sends and calls through the overlay", async () => {
    const key = keyOwnedBy(b);
    // The subscriber at the owner answers calls with "pong" and exits after two deliveries.
    const subscriber = spawn(
      PYTHON,
      [
        SCRIPT,
        "--address",
        b.clientAddress,
        "subscribe",
        "--purpose",
        String(PURPOSE),
        "--count",
        "2",
        "--reply",
        "pong",
      ],
      { env: { ...process.env, WENDY_PY_GEN_DIR: genDir }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    subscriber.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: subscriber.stdout }).on("line", (line) =>
      lines.push(JSON.parse(line) as Record<string, unknown>),
    );
    const exited = new Promise<number | null>((resolve) => subscriber.on("exit", resolve));
    try {
      // It says so on stderr once its subscription is live.
      await waitFor(`the Python subscriber (stderr: ${stderr})`, () =>
        stderr.includes(`subscribed at node ${b.id}\n`) ? true : undefined,
      );

      const sent = await python(
        "--address",
        a.clientAddress,
        "send",
        key,
        "hello from python",
        "--purpose",
        String(PURPOSE),
        "--ack",
      );
      expect((sent.deliveredBy as { id: string }).id).toBe(b.id);

      const answer = await python(
        "--address",
        a.clientAddress,
        "call",
        key,
        "ping",
        "--purpose",
        String(PURPOSE),
      );
      expect(answer.payload).toBe("pong");
      expect((answer.answeredBy as { id: string }).id).toBe(b.id);

      expect(await exited).toBe(0);
      expect(lines.map((l) => l.payload)).toEqual(["hello from python", "ping"]);
      expect(lines[0]?.messageId).toBe(sent.messageId);
      expect(lines[0]?.callId).toBe("");
      expect(lines.map((l) => l.attempt)).toEqual([1, 1]);
      expect(lines[1]?.callId).toMatch(/^[0-9a-f]{32}$/);
      expect((lines[0]?.origin as { id: string }).id).toBe(a.id);
    } finally {
      if (subscriber.exitCode === null) subscriber.kill("SIGKILL");
    }
  });

  it("subscribe with both --copy-all and --group exits with the node's INVALID_ARGUMENT (a copy belongs to no group)", async () => {
    const error = await python(
      "--address",
      b.clientAddress,
      "subscribe",
      "--purpose",
      String(PURPOSE),
      "--copy-all",
      "--group",
      "workers",
    ).catch((e: unknown) => e as { stderr: string; code: number });
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain("INVALID_ARGUMENT");
    expect((error as { stderr: string }).stderr).toContain("copy_all");
  });

  it("exits with the status name when a call finds no subscriber", async () => {
    const error = await python(
      "--address",
      a.clientAddress,
      "call",
      keyOwnedBy(b),
      "x",
      "--purpose",
      "99",
    ).catch((e: unknown) => e as { stderr: string; code: number });
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain("FAILED_PRECONDITION");
  });
});
