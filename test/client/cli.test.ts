// The client commands (wendy send|subscribe|call|lookup|ownership|status) as a user runs them, against two nodes
// that require a bearer token.
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { WendyClient } from "../../src/client/index.js";
import { NodeProcesses, REPO_ROOT, type StartedNode } from "../helpers/node-processes.js";
import { waitFor } from "../helpers/wait.js";

const CLI = join(REPO_ROOT, "test", "helpers", "client-cli.ts");
const TOKEN = "cli-token";
const execute = promisify(execFile);

const nodes = new NodeProcesses();
let a: StartedNode;
let b: StartedNode;

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function wendy(...args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await execute(process.execPath, ["--import", "tsx", CLI, ...args], {
      cwd: REPO_ROOT,
      timeout: 30_000,
      env: { ...process.env, WENDY_CLIENT_TOKEN: "" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function keyOwnedBy(target: StartedNode): string {
  const all = [a, b].map((s) => ({ id: NodeId.fromHex(s.id), s }));
  const key = Array.from({ length: 10_000 }, (_, i) => `cli-${i}`).find(
    (k) => closestTo(NodeId.fromString(k), all)?.s === target,
  );
  if (key === undefined) throw new Error("no key found");
  return key;
}

beforeAll(async () => {
  a = await nodes.start({ name: "cli-a", token: TOKEN });
  b = await nodes.start({ name: "cli-b", seed: a.peerAddress, token: TOKEN });
});

afterAll(() => nodes.stopAll());

describe("wendy client commands", () => {
  it("status prints the leaf set and routing table as tables", async () => {
    const out = await wendy("status", "--address", a.clientAddress, "--token", TOKEN);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`node       ${a.id}`);
    expect(out.stdout).toMatch(/LEAF SET\nside\s+#\s+id\s+address/);
    expect(out.stdout).toMatch(new RegExp(`left\\s+1\\s+${b.id}\\s+${b.peerAddress}`));
    expect(out.stdout).toMatch(
      new RegExp(`ROUTING TABLE\\nrow\\s+digit\\s+id\\s+address\\n0\\s+${b.id[0]}\\s+${b.id}`),
    );
  });

  it("send, subscribe, call and lookup work together", async () => {
    const key = keyOwnedBy(b);
    const observer = new WendyClient(b.clientAddress, { token: TOKEN });
    const subscriber = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        CLI,
        "subscribe",
        "--purpose",
        "33",
        "--count",
        "2",
        "--reply",
        "pong",
        "--address",
        b.clientAddress,
        "--token",
        TOKEN,
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: subscriber.stdout }).on("line", (l) =>
      lines.push(JSON.parse(l) as Record<string, unknown>),
    );
    const exited = new Promise<number | null>((resolve) => subscriber.on("exit", resolve));
    try {
      await waitFor("the CLI subscriber", async () =>
        (await observer.status()).subscriberCount === 1 ? true : undefined,
      );
      const [lookup, sent] = await Promise.all([
        wendy("lookup", key, "--address", a.clientAddress, "--token", TOKEN),
        wendy("send", key, "hi", "--purpose", "33", "--ack", "--address", a.clientAddress, "--token", TOKEN),
      ]);
      expect(JSON.parse(lookup.stdout)).toMatchObject({
        key: NodeId.fromString(key).hex,
        owner: { id: b.id },
      });
      expect(JSON.parse(sent.stdout)).toMatchObject({ deliveredBy: { id: b.id } });
      const called = await wendy(
        "call",
        key,
        "ping",
        "--purpose",
        "33",
        "--address",
        a.clientAddress,
        "--token",
        TOKEN,
      );
      expect(JSON.parse(called.stdout)).toMatchObject({ payload: "pong", answeredBy: { id: b.id } });
      expect(await exited).toBe(0);
      expect(lines.map((l) => l.payload)).toEqual(["hi", "ping"]);
    } finally {
      observer.close();
      if (subscriber.exitCode === null) subscriber.kill("SIGKILL");
    }
  });

  it("ownership prints the node's key range as a JSON line, bounded by the other node on both sides", async () => {
    const out = await wendy("ownership", "--count", "1", "--address", a.clientAddress, "--token", TOKEN);
    expect(out.code, out.stderr).toBe(0);
    const line = JSON.parse(out.stdout) as Record<string, unknown>;
    expect(line).toMatchObject({ self: { id: a.id }, left: { id: b.id }, right: { id: b.id }, changes: [] });
    expect(Number(line["epoch"])).toBeGreaterThanOrEqual(1);
    // The key half-way is owned by whichever node isCloser says; the node's own ID is always in its range.
    const first = BigInt(`0x${line["first"] as string}`);
    const last = BigInt(`0x${line["last"] as string}`);
    const self = BigInt(`0x${a.id}`);
    const ring = 1n << 128n;
    expect((self - first + ring) % ring).toBeLessThanOrEqual((last - first + ring) % ring);
  });

  it("names the wrong flag or value", async () => {
    const [purpose, address, relativeSocket, hex, timeout, noToken] = await Promise.all([
      wendy("send", "k", "x", "--purpose", "3", "--address", a.clientAddress),
      wendy("lookup", "k", "--address", "localhost"),
      wendy("lookup", "k", "--address", "unix:wendy.sock"),
      wendy("lookup", "abc", "--hex", "--address", a.clientAddress),
      wendy("call", "k", "--timeout", "soon", "--address", a.clientAddress),
      wendy("status", "--address", a.clientAddress),
    ]);
    expect(purpose.code).not.toBe(0);
    expect(purpose.stderr).toContain("--purpose");
    expect(purpose.stderr).toContain("'3'");
    expect(address.stderr).toContain("--address");
    expect(address.stderr).toContain("'localhost'");
    expect(relativeSocket.stderr).toContain("unix: followed by an absolute path");
    expect(hex.stderr).toContain("<key>");
    expect(hex.stderr).toContain("32 hex digits");
    expect(timeout.stderr).toContain("--timeout");
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("UnauthenticatedError");
  });

  it("documents --address and --token on every command", async () => {
    const helps = await Promise.all(
      ["send", "subscribe", "call", "lookup", "ownership", "status"].map((c) => wendy(c, "--help")),
    );
    for (const help of helps) {
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("--address <host:port|unix:path>");
      expect(help.stdout).toContain('(default: "127.0.0.1:7071")');
      expect(help.stdout).toContain("--token <token>");
    }
  });
});
