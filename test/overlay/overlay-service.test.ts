// End to end: three nodes as separate OS processes, each with the Overlay service on its client port, driven
// through WendyClient and (for malformed requests) the raw generated client.
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import {
  ForwardAction,
  OverlayServiceClient,
  type CallRequest,
  type SendRequest,
} from "../../src/gen/wendy/v1/overlay.js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import {
  DeadlineExceededError,
  FailedPreconditionError,
  UnauthenticatedError,
  WendyClient,
  type ClientStream,
  type Delivery,
} from "../../src/client/index.js";
import { NodeProcesses, type StartedNode } from "../helpers/node-processes.js";
import { nextWithin, waitFor } from "../helpers/wait.js";

const PURPOSE = 20;
const INTERCEPTED = 21;
const SMALL_PAYLOAD_LIMIT = 4096;

const nodes = new NodeProcesses();
const started: StartedNode[] = [];
const clients = new Map<string, WendyClient>();
/** Everything each node's subscriber (purpose 20) received, by node name. */
const received = new Map<string, Delivery[]>();
const subscriptions: ClientStream<Delivery>[] = [];

function client(name: string): WendyClient {
  const c = clients.get(name);
  if (c === undefined) throw new Error(`no client for ${name}`);
  return c;
}

function node(name: string): StartedNode {
  const n = started.find((s) => s.name === name);
  if (n === undefined) throw new Error(`no node ${name}`);
  return n;
}

/** The started node that owns `key` by Pastry's rule (numerically closest, ties to the lower ID). */
function expectedOwner(key: NodeId): StartedNode {
  const owner = closestTo(
    key,
    started.map((s) => ({ id: NodeId.fromHex(s.id), s })),
  );
  if (owner === undefined) throw new Error("no nodes");
  return owner.s;
}

/** A key name whose owner is `target`. */
function keyOwnedBy(target: StartedNode, salt: string): string {
  for (let i = 0; i < 10_000; i++) {
    const name = `${salt}-${i}`;
    if (expectedOwner(NodeId.fromString(name)) === target) return name;
  }
  throw new Error(`no key owned by ${target.name}`);
}

function rawClient(address: string): OverlayServiceClient {
  return new OverlayServiceClient(address, credentials.createInsecure());
}

function rawCode<Res>(
  start: (callback: (error: ServiceError | null, response: Res) => void) => void,
): Promise<status> {
  return new Promise((resolve) => start((error) => resolve(error === null ? status.OK : error.code)));
}

beforeAll(async () => {
  const limits = {
    maxPayloadBytes: SMALL_PAYLOAD_LIMIT,
    forwardDecisionTimeoutMs: 300,
    deliveryGraceMs: 500,
  };
  const a = await nodes.start({ name: "node-a", limits });
  started.push(a);
  started.push(
    ...(await Promise.all(
      ["node-b", "node-c"].map((name) => nodes.start({ name, seed: a.peerAddress, limits })),
    )),
  );
  for (const s of started) {
    const c = new WendyClient(s.clientAddress);
    clients.set(s.name, c);
    const deliveries: Delivery[] = [];
    received.set(s.name, deliveries);
    const subscription = c.subscribe([PURPOSE]);
    subscriptions.push(subscription);
    void (async () => {
      for await (const d of subscription) {
        deliveries.push(d);
        // Every node answers calls with its name, so the caller can tell who answered.
        if (d.callId !== undefined) await c.reply(d.callId, `${s.name}:${Buffer.from(d.payload).toString()}`);
      }
    })();
  }
  // Every node sees the others before the tests route anything.
  for (const s of started) {
    await waitFor(`${s.name} to know both peers and its subscriber`, async () => {
      const st = await client(s.name).status();
      return st.ready && st.peerCount === 2 && st.subscriberCount === 1 ? st : undefined;
    });
  }
});

afterAll(async () => {
  for (const s of subscriptions) s.close();
  for (const c of clients.values()) c.close();
  await nodes.stopAll();
});

describe("routing through the client API", () => {
  it("delivers each message at its key's owner, which is what Lookup names", async () => {
    const sender = client("node-a");
    const keys = started.flatMap((s) => [keyOwnedBy(s, "route-x"), keyOwnedBy(s, "route-y")]);
    for (const key of keys) {
      const owner = expectedOwner(NodeId.fromString(key));
      const looked = await sender.lookup(key);
      expect(looked.id.hex).toBe(owner.id);
      const sent = await sender.send(key, PURPOSE, `to ${key}`, { waitForAck: true });
      expect(sent.deliveredBy?.id.hex).toBe(owner.id);
      const delivery = await waitFor(`delivery of ${key} at ${owner.name}`, () =>
        received.get(owner.name)?.find((d) => d.messageId === sent.messageId),
      );
      expect(Buffer.from(delivery.payload).toString()).toBe(`to ${key}`);
      expect(delivery.key.hex).toBe(NodeId.fromString(key).hex);
      expect(delivery.origin.id.hex).toBe(node("node-a").id);
      for (const other of started.filter((s) => s !== owner)) {
        expect(received.get(other.name)?.some((d) => d.messageId === sent.messageId)).toBe(false);
      }
    }
  });

  it("answers Replicas with the owner first, then the next closest nodes", async () => {
    const key = keyOwnedBy(node("node-b"), "replica");
    const replicas = await client("node-c").replicas(key, 2);
    expect(replicas.map((r) => r.id.hex)[0]).toBe(node("node-b").id);
    expect(replicas).toHaveLength(2);
  });

  it("Call returns the answer of a subscriber at the key's owner", async () => {
    for (const owner of started) {
      const key = keyOwnedBy(owner, "call");
      const answer = await client("node-a").call(key, PURPOSE, "ping", { timeoutMs: 10_000 });
      expect(Buffer.from(answer.payload).toString()).toBe(`${owner.name}:ping`);
      expect(answer.answeredBy.id.hex).toBe(owner.id);
    }
  });

  it("Call fails with FAILED_PRECONDITION when no subscriber at the owner listens to the purpose", async () => {
    const key = keyOwnedBy(node("node-c"), "nobody");
    const before = (await client("node-c").status()).undeliveredNoSubscriber;
    const error = await client("node-a")
      .call(key, PURPOSE + 1, "hello?")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toContain(`purpose ${PURPOSE + 1}`);
    expect((await client("node-c").status()).undeliveredNoSubscriber).toBe(before + 1n);
  });

  it("Call fails with DEADLINE_EXCEEDED when the subscriber never replies, and a late Reply is refused", async () => {
    const owner = node("node-b");
    const silent = client("node-b").subscribe([PURPOSE + 2]);
    try {
      await waitFor("the silent subscriber", async () =>
        (await client("node-b").status()).subscriberCount === 2 ? true : undefined,
      );
      const key = keyOwnedBy(owner, "silent");
      const error = await client("node-a")
        .call(key, PURPOSE + 2, "anyone?", { timeoutMs: 300 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeadlineExceededError);
      const delivery = await nextWithin(silent, "the call at the silent subscriber");
      expect(delivery.callId).toMatch(/^[0-9a-f]{32}$/);
      // The caller's cancel reaches the owner, so the answer is refused rather than sent nowhere.
      await waitFor("the owner to forget the expired call", async () => {
        const refused = await client("node-b")
          .reply(delivery.callId ?? "", "too late")
          .catch((e: unknown) => e);
        return refused instanceof FailedPreconditionError ? refused : undefined;
      });
    } finally {
      silent.close();
    }
  });

  it("a message nobody subscribed to fails the waiting sender with FAILED_PRECONDITION naming purpose and owner, and is counted in Status", async () => {
    const owner = node("node-c");
    const before = (await client("node-c").status()).undeliveredNoSubscriber;
    const sent = client("node-b").send(keyOwnedBy(owner, "unwanted"), 999, "x", { waitForAck: true });
    await expect(sent).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sent).rejects.toThrow(new RegExp(`purpose 999 at node ${owner.id}`));
    expect((await client("node-c").status()).undeliveredNoSubscriber).toBe(before + 1n);
  });
});

describe("request validation", () => {
  let raw: OverlayServiceClient;
  beforeAll(() => {
    raw = rawClient(node("node-a").clientAddress);
  });
  afterAll(() => raw.close());

  const key = { kind: { $case: "name" as const, name: "k" } };
  const send = (request: Partial<SendRequest>) =>
    rawCode((cb) =>
      raw.send(
        { purpose: PURPOSE, payload: Buffer.alloc(0), waitForAck: false, timeoutMs: 0, ...request },
        cb,
      ),
    );

  it("refuses a missing key", async () => {
    expect(await send({ key: undefined })).toBe(status.INVALID_ARGUMENT);
    expect(await rawCode((cb) => raw.lookup({}, cb))).toBe(status.INVALID_ARGUMENT);
  });

  it("refuses key IDs that are not exactly 16 bytes, and empty names", async () => {
    for (const length of [0, 15, 17]) {
      expect(await send({ key: { kind: { $case: "id", id: Buffer.alloc(length) } } })).toBe(
        status.INVALID_ARGUMENT,
      );
    }
    expect(await send({ key: { kind: { $case: "name", name: "" } } })).toBe(status.INVALID_ARGUMENT);
    expect(await send({ key: { kind: { $case: "id", id: Buffer.alloc(16) } } })).toBe(status.OK);
  });

  it("refuses reserved and out-of-range purposes", async () => {
    for (const purpose of [0, 1, 15, 65536])
      expect(await send({ key, purpose })).toBe(status.INVALID_ARGUMENT);
    expect(
      await rawCode((cb) =>
        raw.subscribe({ purposes: [2] }).on("error", (e: ServiceError) => cb(e, undefined)),
      ),
    ).toBe(status.INVALID_ARGUMENT);
    expect(
      await rawCode((cb) =>
        raw.subscribe({ purposes: [] }).on("error", (e: ServiceError) => cb(e, undefined)),
      ),
    ).toBe(status.INVALID_ARGUMENT);
    const call: CallRequest = { key, purpose: 5, payload: Buffer.alloc(0), timeoutMs: 0 };
    expect(await rawCode((cb) => raw.call(call, cb))).toBe(status.INVALID_ARGUMENT);
  });

  it("refuses payloads above the limit with RESOURCE_EXHAUSTED", async () => {
    expect(await send({ key, payload: Buffer.alloc(SMALL_PAYLOAD_LIMIT + 1) })).toBe(
      status.RESOURCE_EXHAUSTED,
    );
    expect(await send({ key, payload: Buffer.alloc(SMALL_PAYLOAD_LIMIT) })).toBe(status.OK);
    const call: CallRequest = {
      key,
      purpose: PURPOSE,
      payload: Buffer.alloc(SMALL_PAYLOAD_LIMIT),
      timeoutMs: 0,
    };
    expect(await rawCode((cb) => raw.call(call, cb))).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("answers unknown call and forward ids, and bad counts, with their codes", async () => {
    expect(await rawCode((cb) => raw.reply({ callId: "0".repeat(32), payload: Buffer.alloc(0) }, cb))).toBe(
      status.FAILED_PRECONDITION,
    );
    expect(await rawCode((cb) => raw.reply({ callId: "", payload: Buffer.alloc(0) }, cb))).toBe(
      status.INVALID_ARGUMENT,
    );
    const decide = {
      forwardId: "f".repeat(32),
      action: ForwardAction.FORWARD_ACTION_VETO,
      payload: Buffer.alloc(0),
    };
    expect(await rawCode((cb) => raw.decideForward(decide, cb))).toBe(status.NOT_FOUND);
    expect(await rawCode((cb) => raw.replicas({ key, count: 0 }, cb))).toBe(status.INVALID_ARGUMENT);
  });

  it("fails a Send waiting for an acknowledgement past its deadline with DEADLINE_EXCEEDED", async () => {
    const deadline = Date.now() - 1;
    const code = await rawCode((cb) =>
      raw.send(
        { key, purpose: PURPOSE, payload: Buffer.alloc(0), waitForAck: true, timeoutMs: 0 },
        new Metadata(),
        { deadline },
        cb,
      ),
    );
    expect(code).toBe(status.DEADLINE_EXCEEDED);
  });
});

describe("subscriptions", () => {
  it("leaves no subscription behind when a subscriber disconnects", async () => {
    const c = new WendyClient(node("node-c").clientAddress);
    try {
      const base = (await c.status()).subscriberCount;
      const streams = [c.subscribe([30]), c.subscribe([30, 31]), c.subscribe([32])];
      await waitFor("three more subscribers", async () =>
        (await c.status()).subscriberCount === base + 3 ? true : undefined,
      );
      for (const s of streams) s.close();
      await waitFor("the subscribers to be gone", async () =>
        (await c.status()).subscriberCount === base ? true : undefined,
      );
    } finally {
      c.close();
    }
  });

  it("fans a delivery out to every subscriber of its purpose", async () => {
    const owner = node("node-b");
    const c = new WendyClient(owner.clientAddress);
    const first = c.subscribe([40]);
    const second = c.subscribe([40, 41]);
    try {
      await waitFor("two subscribers of 40", async () =>
        (await c.status()).subscriberCount === 3 ? true : undefined,
      );
      const sent = await client("node-a").send(keyOwnedBy(owner, "fan"), 40, "both", { waitForAck: true });
      expect((await nextWithin(first, "first copy")).messageId).toBe(sent.messageId);
      expect((await nextWithin(second, "second copy")).messageId).toBe(sent.messageId);
    } finally {
      first.close();
      second.close();
      c.close();
    }
  });
});

describe("events and forward interception", () => {
  it("streams heartbeats from leaf-set neighbours", async () => {
    const events = client("node-a").watchEvents();
    try {
      const heartbeat = await waitFor("a heartbeat event", async () => {
        const e = await nextWithin(events, "an event");
        return e.type === "heartbeat" ? e : undefined;
      });
      expect([node("node-b").id, node("node-c").id]).toContain(heartbeat.from.id.hex);
    } finally {
      events.close();
    }
  });

  it("lets a watcher veto, modify, or (by not deciding in time) continue a forward", async () => {
    const origin = node("node-a");
    const owner = node("node-c");
    const watcher = client("node-a").watchEvents({ interceptPurposes: [INTERCEPTED] });
    const c = new WendyClient(owner.clientAddress);
    const subscription = c.subscribe([INTERCEPTED]);
    try {
      await waitFor("the subscriber of the intercepted purpose", async () =>
        (await c.status()).subscriberCount === 2 ? true : undefined,
      );
      const forwardOf = async (key: string, payload: string) => {
        const sending = client(origin.name).send(key, INTERCEPTED, payload, {
          waitForAck: true,
          timeoutMs: 2000,
        });
        const request = await waitFor(`the forward request for ${payload}`, async () => {
          const e = await nextWithin(watcher, "an event");
          return e.type === "forwardRequest" && Buffer.from(e.payload).toString() === payload ? e : undefined;
        });
        expect(request.next.id.hex).toBe(owner.id);
        return { sending, request };
      };

      const modified = await forwardOf(keyOwnedBy(owner, "modify"), "original");
      await client(origin.name).decideForward(modified.request.forwardId, { modify: "changed" });
      await modified.sending;
      expect(Buffer.from((await nextWithin(subscription, "the modified message")).payload).toString()).toBe(
        "changed",
      );

      const vetoed = await forwardOf(keyOwnedBy(owner, "veto"), "vetoed");
      await client(origin.name).decideForward(vetoed.request.forwardId, "veto");
      await expect(vetoed.sending).rejects.toBeInstanceOf(DeadlineExceededError);

      const ignored = await forwardOf(keyOwnedBy(owner, "ignore"), "undecided");
      await ignored.sending;
      expect(Buffer.from((await nextWithin(subscription, "the undecided message")).payload).toString()).toBe(
        "undecided",
      );
      // Too late: the forward continued on its own.
      await expect(client(origin.name).decideForward(ignored.request.forwardId, "veto")).rejects.toThrow(
        /not waiting/,
      );
    } finally {
      watcher.close();
      subscription.close();
      c.close();
    }
  });
});

describe("bearer token and health", () => {
  let guarded: StartedNode;
  beforeAll(async () => {
    guarded = await nodes.start({ name: "guarded", token: "s3cret-token" });
  });

  it("refuses calls without the token or with a wrong one, and serves them with it", async () => {
    const none = new WendyClient(guarded.clientAddress);
    const wrong = new WendyClient(guarded.clientAddress, { token: "s3cret-tokem" });
    const right = new WendyClient(guarded.clientAddress, { token: "s3cret-token" });
    try {
      await expect(none.status()).rejects.toBeInstanceOf(UnauthenticatedError);
      await expect(wrong.lookup("k")).rejects.toBeInstanceOf(UnauthenticatedError);
      const stream = wrong.subscribe([PURPOSE]);
      await expect(stream.next()).rejects.toBeInstanceOf(UnauthenticatedError);
      expect((await right.status()).self.id.hex).toBe(guarded.id);
    } finally {
      none.close();
      wrong.close();
      right.close();
    }
  });

  it("serves grpc.health.v1 for the overlay service without a token", async () => {
    const health = new HealthClient(guarded.clientAddress, credentials.createInsecure());
    try {
      const check = (service: string) =>
        new Promise<number>((resolve, reject) =>
          health.check({ service }, (error, response) => (error ? reject(error) : resolve(response.status))),
        );
      expect(await check("wendy.v1.OverlayService")).toBe(HealthCheckResponse_ServingStatus.SERVING);
      expect(await check("")).toBe(HealthCheckResponse_ServingStatus.SERVING);
      await expect(check("no.such.Service")).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      health.close();
    }
  });
});

describe("membership events", () => {
  it("reports a node joining the leaf set and leaving it", async () => {
    const events = client("node-a").watchEvents();
    const joiner = await nodes.start({ name: "node-d", seed: node("node-a").peerAddress });
    try {
      const joined = await waitFor("node-d's join event", async () => {
        const e = await nextWithin(events, "an event");
        return e.type === "nodeJoined" && e.node.id.hex === joiner.id ? e : undefined;
      });
      expect(joined.node.localAddress).toBe(joiner.peerAddress);
      await waitFor("a leaf set with node-d", async () => {
        const e = await nextWithin(events, "an event");
        return e.type === "leafSetChanged" && e.leafSet.some((n) => n.id.hex === joiner.id) ? e : undefined;
      });
      await nodes.stop(joiner);
      await waitFor("node-d's exit event", async () => {
        const e = await nextWithin(events, "an event");
        return e.type === "nodeExited" && e.node.id.hex === joiner.id ? e : undefined;
      });
    } finally {
      events.close();
    }
  });
});
