// The Python client package (clients/python) as a user installs it: pip-installed from the checkout, offline,
// into a virtual environment that sees Debian's grpcio, then used against three live nodes to send, subscribe
// (acknowledging each delivery once its handler returned, answering calls) and call.
import { execFile, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { WendyClient } from "../../src/client/index.js";
import { NodeProcesses, REPO_ROOT, type StartedNode } from "../helpers/node-processes.js";
import { waitFor } from "../helpers/wait.js";

const SYSTEM_PYTHON = "/usr/bin/python3";
const FIXTURES = join(REPO_ROOT, "test", "client", "python-package");
const TOKEN = "python-package-token";
const PURPOSE = 21;
const BLOCKED_PURPOSE = 31;
const FAILING_PURPOSE = 32;
const DECLINED_PURPOSE = 33;
const run = promisify(execFile);

/** What test/client/python-package/subscriber.py prints. */
interface SubscriberLine {
  readonly at: string;
  readonly event: "ready" | "delivery" | "ended";
  readonly node?: string;
  readonly key?: string;
  readonly payload?: string;
  readonly messageId?: string;
  readonly origin?: string;
  readonly callId?: string | null;
  readonly attempt?: number;
  readonly error?: string | null;
}

type Mode = "answer" | "block" | "raise" | "decline";

interface PythonSubscriber {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: SubscriberLine[];
  readonly exited: Promise<number | null>;
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

/** Starts subscriber.py at `node` and resolves once its subscription is live (it printed "ready"). */
async function startSubscriber(
  node: StartedNode,
  name: string,
  purpose: number,
  group: string,
  mode: Mode,
): Promise<PythonSubscriber> {
  const child = spawn(
    python,
    [join(FIXTURES, "subscriber.py"), node.clientAddress, TOKEN, name, String(purpose), group, mode],
    { cwd: work },
  );
  subscribers.push(child);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: SubscriberLine[] = [];
  createInterface({ input: child.stdout }).on("line", (line) =>
    lines.push(JSON.parse(line) as SubscriberLine),
  );
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await waitFor(`subscriber ${name} live (stderr: ${stderr})`, () => {
    if (child.exitCode !== null) throw new Error(`subscriber ${name} exited: ${stderr}`);
    return lines.find((l) => l.event === "ready" && l.node === node.id) ? true : undefined;
  });
  return { child, lines, exited };
}

const deliveries = (s: PythonSubscriber): SubscriberLine[] => s.lines.filter((l) => l.event === "delivery");

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
  // c's delivery grace is long enough for a Python subscriber to start and take over a redelivery.
  const [b, c] = await Promise.all([
    nodes.start({ name: "pypkg-b", seed: a.peerAddress, token: TOKEN }),
    nodes.start({ name: "pypkg-c", seed: a.peerAddress, token: TOKEN, limits: { deliveryGraceMs: 30_000 } }),
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

  it("sends with an acknowledgement, delivers to subscribers and answers calls (first answer of two groups wins) across three nodes", async () => {
    const [a, b, c] = started as [StartedNode, StartedNode, StartedNode];
    // Two subscribers at b, the calls' owner, in two groups: both get the call, one answer wins, and the
    // other must live on.
    const placed = await Promise.all([
      startSubscriber(a, "a", PURPOSE, "", "answer"),
      startSubscriber(b, "b1", PURPOSE, "b1", "answer"),
      startSubscriber(b, "b2", PURPOSE, "b2", "answer"),
      startSubscriber(c, "c", PURPOSE, "", "answer"),
    ]);
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

    const all = () => placed.flatMap(deliveries);
    await waitFor("the deliveries at the subscribers", () => (all().length >= 3 ? true : undefined));
    expect(all()).toHaveLength(3);
    const delivered = all().find((l) => l.payload === "hello from python");
    expect(delivered).toMatchObject({
      at: "c",
      key: NodeId.fromString(sendKey).hex,
      messageId: seen.sent.messageId,
      origin: a.id,
      callId: null,
      attempt: 1,
    });
    const called = all().filter((l) => l.payload === "ping");
    expect(called.map((l) => l.at).sort()).toEqual(["b1", "b2"]);
    expect(called[0]).toMatchObject({ origin: c.id, callId: called[1]?.callId });
    expect(called[0]?.callId).toMatch(/^[0-9a-f]{32}$/);

    // Closing stdin ends each subscriber; a subscription that had ended (say, on the lost answer) would make
    // it exit non-zero.
    for (const { child } of placed) child.stdin.end();
    expect(await Promise.all(placed.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
  });

  it("a send waiting for its acknowledgement is still pending while the Python handler runs, and completes once it returned", async () => {
    const [a, , c] = started as [StartedNode, StartedNode, StartedNode];
    const subscriber = await startSubscriber(c, "slow", BLOCKED_PURPOSE, "", "block");
    const sender = new WendyClient(a.clientAddress, { token: TOKEN });
    try {
      let settled = false;
      const sent = sender.send(keyOwnedBy(c, "py-blocked"), BLOCKED_PURPOSE, "wait for me", {
        waitForAck: true,
        timeoutMs: 30_000,
      });
      void sent.finally(() => (settled = true)).catch(() => undefined);
      const [taken] = await waitFor("the delivery in the blocked handler", () =>
        deliveries(subscriber).length > 0 ? deliveries(subscriber) : undefined,
      );
      // The handler holds it; an acknowledgement sent early (on delivery rather than on return) would have
      // reached the sender by now.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(settled).toBe(false);

      subscriber.child.stdin.write("release\n");
      const result = await sent;
      expect(result.messageId).toBe(taken?.messageId);
      expect(result.deliveredBy?.id.hex).toBe(c.id);
      expect(taken).toMatchObject({ at: "slow", payload: "wait for me", attempt: 1 });
    } finally {
      sender.close();
      subscriber.child.stdin.end();
    }
    expect(await subscriber.exited).toBe(0);
  });

  it("a handler that raises leaves its delivery unacknowledged: the next Python subscriber of its group gets it again, same message_id, attempt 2", async () => {
    const [a, , c] = started as [StartedNode, StartedNode, StartedNode];
    const failing = await startSubscriber(c, "failing", FAILING_PURPOSE, "workers", "raise");
    const sender = new WendyClient(a.clientAddress, { token: TOKEN });
    try {
      const sent = sender.send(keyOwnedBy(c, "py-failing"), FAILING_PURPOSE, "try twice", {
        waitForAck: true,
        timeoutMs: 30_000,
      });
      // The handler raised: the subscription ended with its error, without acknowledging.
      expect(await failing.exited).toBe(3);
      expect(failing.lines.at(-1)).toEqual({
        at: "failing",
        event: "ended",
        error: "handler failed on purpose",
      });
      const [first] = deliveries(failing);
      expect(first).toMatchObject({ payload: "try twice", attempt: 1 });

      const successor = await startSubscriber(c, "successor", FAILING_PURPOSE, "workers", "answer");
      const result = await sent; // acknowledged only now, by the successor
      const again = deliveries(successor);
      expect(again).toHaveLength(1);
      expect(again[0]).toMatchObject({ payload: "try twice", messageId: first?.messageId, attempt: 2 });
      expect(result.messageId).toBe(first?.messageId);
      successor.child.stdin.end();
      expect(await successor.exited).toBe(0);
    } finally {
      sender.close();
    }
  });

  it("a call whose Python handler returns None is acknowledged unanswered: a later member of its group never gets it, and the caller gets DEADLINE_EXCEEDED", async () => {
    const [a, , c] = started as [StartedNode, StartedNode, StartedNode];
    const decliner = await startSubscriber(c, "decliner", DECLINED_PURPOSE, "", "decline");
    const caller = new WendyClient(a.clientAddress, { token: TOKEN });
    try {
      let settled = false;
      const called = caller
        .call(keyOwnedBy(c, "py-declined"), DECLINED_PURPOSE, "anyone?", { timeoutMs: 10_000 })
        .finally(() => (settled = true));
      called.catch(() => undefined);
      await waitFor("the call at the decliner", () => (deliveries(decliner).length > 0 ? true : undefined));
      decliner.child.stdin.end();
      expect(await decliner.exited).toBe(0);
      // Had the decliner left it unacknowledged, its going away would hand the call to this member.
      const successor = await startSubscriber(c, "after-decliner", DECLINED_PURPOSE, "", "answer");
      expect(settled).toBe(false); // the successor was live while the call still waited
      await expect(called).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
      expect(deliveries(decliner)).toEqual([expect.objectContaining({ payload: "anyone?", attempt: 1 })]);
      expect(deliveries(successor)).toEqual([]);
      successor.child.stdin.end();
      expect(await successor.exited).toBe(0);
    } finally {
      caller.close();
    }
  });
});
