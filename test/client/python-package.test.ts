// The Python client package (clients/python) as a user installs it: pip-installed from the checkout, offline,
// into a virtual environment that sees Debian's grpcio, then used against three live nodes to send, subscribe
// (answering calls) and call.
import { execFile, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { WendyClient } from "../../src/client/index.js";
import { NodeProcesses, REPO_ROOT, type StartedNode } from "../helpers/node-processes.js";
import { waitFor } from "../helpers/wait.js";

const SYSTEM_PYTHON = "/usr/bin/python3";
const FIXTURES = join(REPO_ROOT, "test", "client", "python-package");
const TOKEN = "python-package-token";
const PURPOSE = 21;
const run = promisify(execFile);

interface SubscriberLine {
  readonly at: string;
  readonly key: string;
  readonly payload: string;
  readonly messageId: string;
  readonly origin: string;
  readonly callId: string | null;
}

const nodes = new NodeProcesses();
const subscribers: ChildProcessWithoutNullStreams[] = [];
let work: string;
let python: string;
let started: StartedNode[] = [];

/** A key whose owner among the started nodes is `target`. */
function keyOwnedBy(target: StartedNode, prefix: string): string {
  const all = started.map((s) => ({ id: NodeId.fromHex(s.id), s }));
  for (let i = 0; i < 10_000; i++) {
    if (closestTo(NodeId.fromString(`${prefix}-${i}`), all)?.s === target) return `${prefix}-${i}`;
  }
  throw new Error(`no key owned by ${target.name}`);
}

beforeAll(async () => {
  const check = spawnSync(SYSTEM_PYTHON, ["-c", "import setuptools, wheel, pip, venv, grpc, grpc_tools"], {
    encoding: "utf8",
  });
  if (check.status !== 0) {
    throw new Error(
      `${SYSTEM_PYTHON} lacks what building the client needs: install python3-grpcio python3-grpc-tools ` +
        `python3-pip python3-setuptools python3-wheel python3-venv (.ci/run does). ${check.stderr}`,
    );
  }
  work = mkdtempSync(join(tmpdir(), "wendy-py-package-"));
  const venv = join(work, "venv");
  // --system-site-packages: Debian's grpcio, protobuf and grpc_tools (and pip) are what the venv builds and
  // runs with; --without-pip: the system's pip installs into the venv it runs under, and skipping ensurepip
  // saves its copy of pip.
  await run(SYSTEM_PYTHON, ["-m", "venv", "--system-site-packages", "--without-pip", venv]);
  python = join(venv, "bin", "python");
  // Offline, as CI has no PyPI: no index, and the build uses the installed setuptools and grpc_tools.
  await run(
    python,
    [
      "-m",
      "pip",
      "install",
      "--no-index",
      "--no-build-isolation",
      "--no-cache-dir",
      "--disable-pip-version-check",
      join(REPO_ROOT, "clients", "python"),
    ],
    { cwd: work, timeout: 120_000 },
  );

  const a = await nodes.start({ name: "pypkg-a", token: TOKEN });
  const [b, c] = await Promise.all([
    nodes.start({ name: "pypkg-b", seed: a.peerAddress, token: TOKEN }),
    nodes.start({ name: "pypkg-c", seed: a.peerAddress, token: TOKEN }),
  ]);
  started = [a, b, c];
}, 180_000);

afterAll(async () => {
  for (const child of subscribers) if (child.exitCode === null) child.kill("SIGKILL");
  await nodes.stopAll();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the installed Python client package", () => {
  it("is the venv's copy, with stubs generated at build time and no protoc needed at run time", async () => {
    const { stdout } = await run(
      python,
      [
        "-c",
        "import sys; sys.modules['grpc_tools'] = None; " + // any import of grpc_tools now fails
          "import wendy_client, wendy_client._proto.wendy.v1.overlay_pb2_grpc as g; " +
          "print(wendy_client.__file__); print(g.__file__)",
      ],
      { cwd: work },
    );
    const [module, stubs] = stdout.trim().split("\n");
    expect(module?.startsWith(join(work, "venv"))).toBe(true);
    expect(stubs?.startsWith(join(work, "venv"))).toBe(true);
  });

  it("sends with an acknowledgement, delivers to subscribers and answers calls (first answer wins) across three nodes", async () => {
    const [a, b, c] = started as [StartedNode, StartedNode, StartedNode];
    const lines: SubscriberLine[] = [];
    // Two subscribers at b, the calls' owner: both get the call, one answer wins, the other must live on.
    const placed = [
      { node: a, name: "a" },
      { node: b, name: "b1" },
      { node: b, name: "b2" },
      { node: c, name: "c" },
    ];
    for (const { node, name } of placed) {
      const child = spawn(
        python,
        [join(FIXTURES, "subscriber.py"), node.clientAddress, TOKEN, name, String(PURPOSE)],
        { cwd: work },
      );
      subscribers.push(child);
      createInterface({ input: child.stdout }).on("line", (line) =>
        lines.push(JSON.parse(line) as SubscriberLine),
      );
    }
    const observers = started.map((n) => new WendyClient(n.clientAddress, { token: TOKEN }));
    try {
      await waitFor("the Python subscribers at every node", async () => {
        const counts = await Promise.all(observers.map(async (o) => (await o.status()).subscriberCount));
        return counts.join() === "1,2,1" ? true : undefined;
      });

      const sendKey = keyOwnedBy(c, "py-send");
      const callKey = keyOwnedBy(b, "py-call");
      const { stdout } = await run(
        python,
        [
          join(FIXTURES, "scenario.py"),
          TOKEN,
          String(PURPOSE),
          sendKey,
          callKey,
          a.clientAddress,
          b.clientAddress,
          c.clientAddress,
        ],
        { cwd: work, timeout: 60_000 },
      );
      const seen = JSON.parse(stdout) as {
        owners: string[];
        ownerById: string;
        sent: { messageId: string; deliveredBy: string; hops: number };
        call: { payload: string; answeredBy: string };
        noSubscriber: string;
        wrongToken: string;
        badKey: string;
      };
      expect(seen.owners).toEqual([c.id]);
      expect(seen.ownerById).toBe(c.id);
      expect(seen.sent.deliveredBy).toBe(c.id);
      expect(seen.call.payload).toMatch(/^pong from b[12]$/);
      expect(seen.call.answeredBy).toBe(b.id);
      expect(seen.noSubscriber).toBe("FAILED_PRECONDITION");
      expect(seen.wrongToken).toBe("UNAUTHENTICATED");
      expect(seen.badKey).toContain("exactly 16 bytes");

      await waitFor("the deliveries at the subscribers", () => (lines.length >= 3 ? true : undefined));
      expect(lines).toHaveLength(3);
      const delivered = lines.find((l) => l.payload === "hello from python");
      expect(delivered).toMatchObject({
        at: "c",
        key: NodeId.fromString(sendKey).hex,
        messageId: seen.sent.messageId,
        origin: a.id,
        callId: null,
      });
      const called = lines.filter((l) => l.payload === "ping");
      expect(called.map((l) => l.at).sort()).toEqual(["b1", "b2"]);
      expect(called[0]).toMatchObject({ origin: c.id, callId: called[1]?.callId });
      expect(called[0]?.callId).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      for (const observer of observers) observer.close();
    }

    // Closing stdin ends each subscriber; a subscription that had ended (say, on the lost answer) would make
    // it exit non-zero.
    const exits = subscribers.map((child) => new Promise<number | null>((r) => child.on("exit", r)));
    for (const child of subscribers) child.stdin.end();
    expect(await Promise.all(exits)).toEqual([0, 0, 0, 0]);
  });
});
