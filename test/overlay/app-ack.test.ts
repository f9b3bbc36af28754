// Application acknowledgement end to end, with real processes: three `wendy start` daemons configured by
// WENDY_* variables, and subscribing applications as their own processes (killed with SIGKILL mid-delivery).
// Messages go to keys owned by node 2 and are sent through node 0. Where a subscriber must attach within the
// grace, its process is started beforehand and told when to attach: the grace then measures the attach, not
// how long a process takes to start on a loaded machine.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailedPreconditionError, WendyClient } from "../../src/client/index.js";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { REPO_ROOT } from "../helpers/node-processes.js";
import type { ReceiverConfig, ReceiverEvent } from "../helpers/receiver-process.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";
import { parseExposition } from "../metrics/daemons.js";

const SECRET = testSecret("app-ack");
const GRACE_MS = 6000;
const ACK_TIMEOUT_MS = 25_000;
const RECEIVER = join(REPO_ROOT, "test", "helpers", "receiver-process.ts");
const NAMES = ["appack-0", "appack-1", "appack-2"];

interface Daemon {
  readonly process: DaemonProcess;
  readonly id: string;
  readonly client: string;
  readonly metricsUrl: string;
}

const daemons: Daemon[] = [];
const receivers = new Set<Receiver>();
let sender: WendyClient;
let ownerClient: WendyClient;
let purpose = 300;

/** A subscribing application process, and the events it printed. */
class Receiver {
  readonly events: ReceiverEvent[] = [];
  private readonly child: ChildProcess;
  private stderr = "";

  constructor(config: ReceiverConfig) {
    this.child = spawn(process.execPath, ["--import", "tsx", RECEIVER, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    receivers.add(this);
    createInterface({ input: this.child.stdout! }).on("line", (line) =>
      this.events.push(JSON.parse(line) as ReceiverEvent),
    );
    this.child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  static async start(config: Omit<ReceiverConfig, "address">): Promise<Receiver> {
    const r = new Receiver({ address: owner().client, ...config });
    await r.next((e) => e.event === "ready", "the receiver to be live");
    return r;
  }

  /** A receiver process connected to the owner but not subscribed yet: attach() subscribes it. */
  static async connect(config: Omit<ReceiverConfig, "address" | "attachWhenTold">): Promise<Receiver> {
    const r = new Receiver({ address: owner().client, attachWhenTold: true, ...config });
    await r.next((e) => e.event === "connected", "the receiver to connect");
    return r;
  }

  /** Subscribes a connected receiver; resolves once the node has its subscription live. */
  async attach(): Promise<void> {
    this.child.stdin!.write("attach\n");
    await this.next((e) => e.event === "ready", "the receiver to be live");
  }

  next(match: (e: ReceiverEvent) => boolean, what: string): Promise<ReceiverEvent> {
    return waitFor(`${what} (stderr: ${this.stderr})`, () => this.events.find(match), 30_000, 20);
  }

  deliveries(): Extract<ReceiverEvent, { event: "delivery" }>[] {
    return this.events.flatMap((e) => (e.event === "delivery" ? [e] : []));
  }

  async kill9(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.kill("SIGKILL");
    await exited;
  }
}

function owner(): Daemon {
  return daemons[2]!;
}

/** A key name that the owner daemon owns. */
function ownedKey(salt: string): string {
  const all = daemons.map((d) => ({ id: NodeId.fromHex(d.id), d }));
  for (let i = 0; i < 10_000; i++) {
    const name = `${salt}-${i}`;
    if (closestTo(NodeId.fromString(name), all)?.d === owner()) return name;
  }
  throw new Error("no key owned by the owner");
}

/** Application messages delivered to the owner so far (its wendy_messages_delivered_total). */
async function deliveredToOwner(): Promise<number> {
  const response = await fetch(`${owner().metricsUrl}/metrics`);
  const sample = parseExposition(await response.text()).samples.find(
    (s) => s.name === "wendy_messages_delivered_total",
  );
  if (sample === undefined) throw new Error("the owner's /metrics has no wendy_messages_delivered_total");
  return sample.value;
}

/** Resolves once the owner holds a message sent after it counted `before` deliveries. */
async function waitingAtOwner(before: number): Promise<void> {
  await waitFor("the message to wait at its owner", async () =>
    (await deliveredToOwner()) > before ? true : undefined,
  );
}

/** The promise's state so far, without waiting. */
function track<T>(p: Promise<T>): () => "pending" | "resolved" | "rejected" {
  let state: "pending" | "resolved" | "rejected" = "pending";
  p.then(
    () => (state = "resolved"),
    () => (state = "rejected"),
  );
  return () => state;
}

beforeAll(async () => {
  const ports = await freePorts(NAMES.length);
  const seeds = ports.map((p) => `127.0.0.1:${p}`).join(",");
  const started = NAMES.map((name, i) => {
    const process = new DaemonProcess({
      name,
      env: {
        WENDY_NODE_NAME: name,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(ports[i]),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: seeds,
        WENDY_HEARTBEAT_INTERVAL_MS: "300",
        WENDY_DELIVERY_GRACE_MS: String(GRACE_MS),
        WENDY_LOG_LEVEL: "info",
        WENDY_SECRET: SECRET,
      },
    });
    return process;
  });
  for (const [i, process] of started.entries()) {
    const line = await process.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
    daemons.push({
      process,
      id: NodeId.fromString(NAMES[i]!).hex,
      client: `127.0.0.1:${String(line.clientPort)}`,
      metricsUrl: String(line.metricsUrl),
    });
  }
  await Promise.all(started.map((p) => p.waitForLine((l) => l.msg === LOG_READY, 60_000, "ready")));
  sender = new WendyClient(daemons[0]!.client);
  ownerClient = new WendyClient(owner().client);
  await waitFor("the sender to route to the owner", async () => {
    const route = await sender.lookup(ownedKey("probe"));
    return route.id.hex === owner().id ? true : undefined;
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([...receivers].map((r) => r.kill9()));
  sender?.close();
  ownerClient?.close();
  for (const d of daemons) d.process.signal("SIGKILL");
  await Promise.all(daemons.map((d) => d.process.exited));
});

describe("application acknowledgement across real processes", () => {
  it("a send to a key whose owner has no subscriber is not acknowledged: FAILED_PRECONDITION after the grace, naming purpose and owner", async () => {
    const p = ++purpose;
    const before = (await ownerClient.status()).undeliveredNoSubscriber;
    const started = Date.now();
    const sent = sender.send(ownedKey("nobody"), p, "lost?", { waitForAck: true, timeoutMs: ACK_TIMEOUT_MS });
    await expect(sent).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sent).rejects.toThrow(`purpose ${p} at node ${owner().id}, the key's owner`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(GRACE_MS);
    expect((await ownerClient.status()).undeliveredNoSubscriber).toBe(before + 1n);
  });

  it("a subscriber that attaches within the grace receives the waiting message and its ack completes the send", async () => {
    const p = ++purpose;
    const app = await Receiver.connect({ purposes: [p], ack: true });
    const before = await deliveredToOwner();
    const sent = sender.send(ownedKey("late"), p, "wait for me", {
      waitForAck: true,
      timeoutMs: ACK_TIMEOUT_MS,
    });
    const state = track(sent);
    await waitingAtOwner(before);
    expect(state()).toBe("pending");
    await app.attach();
    const acked = await app.next((e) => e.event === "acked", "the acknowledgement");
    const result = await sent;
    expect(state()).toBe("resolved");
    expect(acked.event === "acked" && acked.messageId).toBe(result.messageId);
    expect(result.deliveredBy?.id.hex).toBe(owner().id);
  });

  it("a subscriber killed -9 between receiving and acknowledging: the message comes again to the restarted subscriber, and only its ack completes the send", async () => {
    const p = ++purpose;
    const holder = await Receiver.start({ purposes: [p], ack: false });
    const restarted = await Receiver.connect({ purposes: [p], ack: true });
    const sent = sender.send(ownedKey("crash"), p, "handle me", {
      waitForAck: true,
      timeoutMs: ACK_TIMEOUT_MS,
    });
    const state = track(sent);
    const first = await holder.next((e) => e.event === "delivery", "the first delivery");
    await holder.kill9();
    await new Promise((r) => setTimeout(r, 500));
    expect(state()).toBe("pending");
    await restarted.attach();
    const again = await restarted.next((e) => e.event === "delivery", "the redelivery");
    expect(again).toMatchObject({ messageId: first.event === "delivery" ? first.messageId : "", attempt: 2 });
    const result = await sent;
    expect(result.messageId).toBe(again.event === "delivery" ? again.messageId : "");
    expect(restarted.events.some((e) => e.event === "acked")).toBe(true);
  });

  it("a subscriber killed -9 before acknowledging: another member of its group gets the message at once", async () => {
    const p = ++purpose;
    const holder = await Receiver.start({ purposes: [p], group: "svc", ack: false });
    const spare = await Receiver.connect({ purposes: [p], group: "svc", ack: true });
    const sent = sender.send(ownedKey("other"), p, "one of you", {
      waitForAck: true,
      timeoutMs: ACK_TIMEOUT_MS,
    });
    const first = await holder.next((e) => e.event === "delivery", "the first delivery");
    await spare.attach();
    expect(spare.deliveries()).toEqual([]);
    await holder.kill9();
    const again = await spare.next((e) => e.event === "delivery", "the redelivery");
    expect(again).toMatchObject({ messageId: first.event === "delivery" ? first.messageId : "", attempt: 2 });
    expect((await sent).messageId).toBe(again.event === "delivery" ? again.messageId : "");
  });

  it("two subscribers of one group split the deliveries, each message to exactly one of them", async () => {
    const p = ++purpose;
    const members = [
      await Receiver.start({ purposes: [p], group: "workers", ack: true }),
      await Receiver.start({ purposes: [p], group: "workers", ack: true }),
    ];
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sender.send(ownedKey(`split-${i}`), p, `job ${i}`, { waitForAck: true, timeoutMs: ACK_TIMEOUT_MS }),
      ),
    );
    const ids = members.map((m) => m.deliveries().map((d) => d.messageId));
    expect(ids[0]!.length).toBeGreaterThan(0);
    expect(ids[1]!.length).toBeGreaterThan(0);
    expect([...ids[0]!, ...ids[1]!].sort()).toEqual(results.map((r) => r.messageId).sort());
  });

  it("a Call taken by an application that crashes before replying fails FAILED_PRECONDITION naming purpose and owner", async () => {
    const p = ++purpose;
    const app = await Receiver.start({ purposes: [p], ack: false });
    const call = sender.call(ownedKey("call"), p, "question", { timeoutMs: ACK_TIMEOUT_MS });
    const state = track(call);
    await app.next((e) => e.event === "delivery" && e.callId !== undefined, "the call");
    await app.kill9();
    await new Promise((r) => setTimeout(r, 500));
    expect(state()).toBe("pending");
    await expect(call).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(call).rejects.toThrow(`purpose ${p} at node ${owner().id}, the key's owner`);
  });
});
