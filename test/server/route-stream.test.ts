// The batched RouteStream: throughput path for route hops, with each batch authenticated on its own.
import { Client, Metadata, credentials as grpcCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId, closestTo } from "../../src/routing/id.js";
import { Cluster } from "../../src/server/cluster.js";
import { Node } from "../../src/server/node.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import type { SessionClient } from "../../src/server/auth/session-client.js";
import { writeAuthEntries } from "../../src/server/auth/metadata.js";
import { RouteBatch, RouteStreamRequest } from "../../src/gen/wendy/v1/peer.js";
import { encodeRouteBatch } from "../../src/wire/codec.js";
import { ROUTE_STREAM_PATH } from "../../src/server/transport/route-stream.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import type { Message } from "../../src/server/application.js";
import type { PeerClientPool } from "../../src/server/transport/peer-client.js";
import { rawSessionClient, signedRouteStreamRequest } from "../helpers/raw-session.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("stream-secret");
const creds = new PassphraseCredentials(SECRET, { N: 1024, r: 8, p: 1 });
const nodes: Cluster[] = [];
const delivered = new Map<string, string>();
const metricsOf = new Map<Cluster, WendyMetrics>();

async function start(name: string): Promise<Cluster> {
  const id = NodeId.fromString(name);
  const metrics = new WendyMetrics({ nodeId: id.hex, version: "test", processMetrics: false });
  const c = new Cluster(new Node({ id, localAddress: "127.0.0.1" }), creds, {
    bindHost: "127.0.0.1",
    // Behaviour, not speed: the machine may be busy, so hops get plenty of time to be acknowledged.
    rpcTimeoutMs: 20_000,
    metrics,
  });
  metricsOf.set(c, metrics);
  c.registerApplication({
    onDeliver: (m) => {
      delivered.set(Buffer.from(m.payload).toString(), c.info().id.hex);
    },
  });
  nodes.push(c);
  await c.listen();
  return c;
}

beforeAll(async () => {
  const a = await start("stream-a");
  for (const name of ["stream-b", "stream-c", "stream-d"])
    await (await start(name)).join([a.info().localAddress]);
});

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.kill()));
});

/** Route hops `node` sent whose acknowledgement came (client side, status OK). */
async function hopsAcknowledged(node: Cluster): Promise<number> {
  const counter = metricsOf.get(node)!.registry.getSingleMetric("wendy_peer_rpcs_total");
  const values = (await counter!.get()).values;
  return values
    .filter(
      (v) => v.labels["side"] === "client" && v.labels["method"] === "Route" && v.labels["code"] === "OK",
    )
    .reduce((sum, v) => sum + v.value, 0);
}

/** RouteStream batches `node` accepted (each one is counted as a served RouteStream RPC with status OK). */
async function batchesServed(node: Cluster): Promise<number> {
  const counter = metricsOf.get(node)!.registry.getSingleMetric("wendy_peer_rpcs_total");
  const values = (await counter!.get()).values;
  return values
    .filter(
      (v) =>
        v.labels["side"] === "server" && v.labels["method"] === "RouteStream" && v.labels["code"] === "OK",
    )
    .reduce((sum, v) => sum + v.value, 0);
}

describe("RouteStream", () => {
  it("carries thousands of concurrent hops, each acknowledged and delivered once at its owner", async () => {
    const from = nodes[0]!;
    const count = 1000;
    const replies = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        from.send(from.newMessage(16, NodeId.fromString(`key-${i}`), Buffer.from(`p${i}`)), {
          waitForAck: true,
        }),
      ),
    );
    for (let i = 0; i < count; i++) {
      const owner = closestTo(
        NodeId.fromString(`key-${i}`),
        nodes.map((n) => n.info()),
      )!;
      expect(replies[i]!.deliveredBy?.id.hex).toBe(owner.id.hex);
      expect(delivered.get(`p${i}`)).toBe(owner.id.hex);
    }
  });

  it("splits hops with large payloads over several batches, each within the gRPC message limit", async () => {
    const from = nodes[0]!;
    const to = nodes[1]!;
    // Keys owned by one peer, so the hops share a stream; together far above the 4 MiB message limit.
    const keys: NodeId[] = [];
    for (let i = 0; keys.length < 4 && i < 10_000; i++) {
      const key = NodeId.fromString(`large-${i}`);
      if (
        closestTo(
          key,
          nodes.map((n) => n.info()),
        )!.id.equals(to.info().id)
      )
        keys.push(key);
    }
    expect(keys).toHaveLength(4);
    const payload = (i: number): Buffer => Buffer.alloc(3 * 1024 * 1024, i + 1);
    const before = await batchesServed(to);
    const replies = await Promise.all(
      keys.map((key, i) => from.send(from.newMessage(16, key, payload(i)), { waitForAck: true })),
    );
    expect(replies.map((r) => r.deliveredBy?.id.hex)).toEqual(keys.map(() => to.info().id.hex));
    // Sent in the same turn, yet no two fit one batch under the limit: the owner accepted a batch for each.
    expect((await batchesServed(to)) - before).toBeGreaterThanOrEqual(keys.length);
  });

  describe("authentication of batches", () => {
    const target = (): Cluster => nodes[1]!;
    const attacker = {
      id: NodeId.fromString("stream-attacker"),
      localAddress: "127.0.0.1:1",
      globalAddress: "127.0.0.1:1",
      region: "",
      incarnation: 7,
    };
    const identity = (b: Buffer): Buffer => b;
    let client: Client;
    let session: SessionClient;

    beforeAll(() => {
      client = new Client(target().info().localAddress, grpcCredentials.createInsecure());
      session = rawSessionClient({ sharedKey: creds.sharedKey, sender: attacker, clientFor: () => client });
    });
    afterAll(() => client.close());

    function batchBytes(id: string): Buffer {
      const message = {
        id,
        key: target().info().id,
        purpose: 16,
        payload: Buffer.from(id),
        origin: attacker,
        hops: 0,
        maxHops: 10,
        wantAck: false,
      };
      return Buffer.from(RouteBatch.encode(encodeRouteBatch(attacker, [message])).finish());
    }

    /** Opens a stream, writes the requests, and returns the acks received and the final status. */
    async function stream(requests: (address: string) => Promise<Buffer[]>, open?: Metadata) {
      const address = target().info().localAddress;
      const metadata =
        open ?? writeAuthEntries(await session.sign(address, ROUTE_STREAM_PATH, new Uint8Array()));
      const call = client.makeBidiStreamRequest(ROUTE_STREAM_PATH, identity, identity, metadata);
      const acks: Buffer[] = [];
      const ended = new Promise<ServiceError | null>((resolve) => {
        call.on("data", (b: Buffer) => acks.push(b));
        call.on("error", (e: ServiceError) => resolve(e));
        call.on("status", (s) => s.code === status.OK && resolve(null));
      });
      for (const r of await requests(address)) call.write(r);
      await new Promise((r) => setTimeout(r, 300));
      call.end();
      return { acks, error: await ended };
    }

    const signed = (address: string, batch: Buffer): Promise<Buffer> =>
      signedRouteStreamRequest(session, address, batch);

    it("accepts a correctly signed batch", async () => {
      const { acks, error } = await stream(async (address) => [
        await signed(address, batchBytes("genuine-1")),
      ]);
      expect(error).toBeNull();
      expect(acks).toHaveLength(1);
    });

    it("refuses a replayed batch", async () => {
      const { acks, error } = await stream(async (address) => {
        const once = await signed(address, batchBytes("replayed-1"));
        return [once, once];
      });
      expect(acks).toHaveLength(1);
      expect(error?.code).toBe(status.UNAUTHENTICATED);
    });

    it("refuses a batch changed after signing", async () => {
      const { acks, error } = await stream(async (address) => {
        const genuine = RouteStreamRequest.decode(await signed(address, batchBytes("tampered-1")));
        const forged = { ...genuine, batch: batchBytes("tampered-2") };
        return [Buffer.from(RouteStreamRequest.encode(forged).finish())];
      });
      expect(acks).toHaveLength(0);
      expect(error?.code).toBe(status.UNAUTHENTICATED);
    });

    it("refuses a stream opened without credentials", async () => {
      const { error } = await stream(async () => [], new Metadata());
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(delivered.has("tampered-2")).toBe(false);
    });
  });
});

/** Polls `done` every 20 ms for at most `ms`. */
async function until(done: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  for (let waited = 0; !(await done()) && waited < ms; waited += 20)
    await new Promise((r) => setTimeout(r, 20));
}

/** A key whose owner among the started nodes is `owner`. */
function keyOwnedBy(owner: Cluster, salt: string): NodeId {
  for (let i = 0; i < 100_000; i++) {
    const key = NodeId.fromString(`${salt}-${i}`);
    if (
      closestTo(
        key,
        nodes.map((n) => n.info()),
      )!.id.equals(owner.info().id)
    )
      return key;
  }
  throw new Error(`no key owned by ${owner.info().id.hex}`);
}

/** The node's outgoing RouteStreams (the pool is private: tests read its counters only). */
function linksOf(node: Cluster): PeerClientPool["links"] {
  return (node as unknown as { pool: PeerClientPool }).pool.links;
}

describe("RouteStream's optional features", () => {
  it("routes a message for a node (sendToNode) while no RouteStream to it is open, then hands it over directly once one is: no hop, the sender as origin", async () => {
    const to = nodes[0]!;
    const from = await start("stream-e");
    await from.join([to.info().localAddress]);
    const got: Message[] = [];
    const off = to.onReserved(5, (m) => got.push(m));
    try {
      await from.sendToNode(to.info(), 5, Buffer.from("first"));
      await until(() => got.length === 1);
      expect(got[0]?.hops).toBe(1);
      // A routed send to a key of `to` opens the stream; its acknowledgement comes after the stream's headers.
      await from.send(from.newMessage(16, keyOwnedBy(to, "direct"), Buffer.from("opener")), {
        waitForAck: true,
      });
      await from.sendToNode(to.info(), 5, Buffer.from("second"));
      await until(() => got.length === 2);
      expect(got[1]?.hops).toBe(0);
      expect(got[1]?.origin.id.hex).toBe(from.info().id.hex);
      expect(Buffer.from(got[1]!.payload).toString()).toBe("second");
    } finally {
      off();
    }
  }, 60_000);

  it("acknowledges hops on the batch going the other way when the receiver sends one in the same turn, and every hop is acknowledged once", async () => {
    // Not nodes[1]: the authentication tests made it talk to a member at a dead address, which it may still
    // route through until it finds it dead.
    const a = nodes[2]!;
    const b = nodes[3]!;
    const pongs: string[] = [];
    // b answers each ping with a routed pong to a key of a's, in the turn that delivered the ping.
    b.registerApplication({
      onDeliver: (m) => {
        const text = Buffer.from(m.payload).toString();
        if (!text.startsWith("ping-")) return;
        queueMicrotask(
          () => void b.send(b.newMessage(16, keyOwnedBy(a, text), Buffer.from(`pong-${text.slice(5)}`))),
        );
      },
    });
    a.registerApplication({
      onDeliver: (m) => {
        const text = Buffer.from(m.payload).toString();
        if (text.startsWith("pong-")) pongs.push(text);
      },
    });
    // Both streams open first (the reverse acknowledgements need the stream back to be open).
    await a.send(a.newMessage(16, keyOwnedBy(b, "warm-a"), Buffer.from("warm-a")), { waitForAck: true });
    await b.send(b.newMessage(16, keyOwnedBy(a, "warm-b"), Buffer.from("warm-b")), { waitForAck: true });
    const before = linksOf(a).matched;
    const count = 20;
    for (let i = 0; i < count; i++) {
      const reply = await a.send(a.newMessage(16, keyOwnedBy(b, `ping-${i}`), Buffer.from(`ping-${i}`)), {
        waitForAck: true,
      });
      expect(reply.deliveredBy?.id.hex).toBe(b.info().id.hex);
    }
    await until(() => pongs.length === count);
    expect(pongs.sort()).toEqual(Array.from({ length: count }, (_, i) => `pong-${i}`).sort());
    // The hops of a's pings were acknowledged inside b's pong batches, not on responses of their own.
    expect(linksOf(a).matched - before).toBeGreaterThanOrEqual(count / 2);
  }, 60_000);

  it("acknowledges a hop on a purpose answered to its origin inside the answer's batch, though the answer leaves turns later", async () => {
    const a = nodes[2]!;
    const b = nodes[3]!;
    const answers: string[] = [];
    // b answers each request a few milliseconds after its delivery: never in the turn that took the hop.
    const offRequest = b.onReserved(
      6,
      (m) => {
        const text = Buffer.from(m.payload).toString();
        setTimeout(() => void b.sendToNode(m.origin, 7, Buffer.from(`answer-${text}`)), 5);
      },
      { answersOrigin: true },
    );
    const offAnswer = a.onReserved(7, (m) => answers.push(Buffer.from(m.payload).toString()));
    try {
      // Both streams open first (the answer and the acknowledgements ride on b's stream to a).
      await a.send(a.newMessage(16, keyOwnedBy(b, "held-a"), Buffer.from("held-a")), { waitForAck: true });
      await b.send(b.newMessage(16, keyOwnedBy(a, "held-b"), Buffer.from("held-b")), { waitForAck: true });
      const matched = linksOf(a).matched;
      const acknowledged = await hopsAcknowledged(a);
      const count = 10;
      for (let i = 0; i < count; i++) {
        await a.sendReserved(6, keyOwnedBy(b, `held-${i}`), Buffer.from(`request-${i}`));
        await until(() => answers.length === i + 1);
      }
      expect(answers).toEqual(Array.from({ length: count }, (_, i) => `answer-request-${i}`));
      await until(async () => (await hopsAcknowledged(a)) - acknowledged >= count);
      expect((await hopsAcknowledged(a)) - acknowledged).toBe(count);
      // Each request's acknowledgement waited for its answer and came inside it, not on a response alone.
      expect(linksOf(a).matched - matched).toBeGreaterThanOrEqual(count / 2);
    } finally {
      offRequest();
      offAnswer();
    }
  }, 60_000);

  it("acknowledges a hop on a purpose answered to its origin that is never answered, long before the hop timeout", async () => {
    const a = nodes[2]!;
    const b = nodes[3]!;
    const requests: string[] = [];
    const off = b.onReserved(6, (m) => requests.push(Buffer.from(m.payload).toString()), {
      answersOrigin: true,
    });
    try {
      const acknowledged = await hopsAcknowledged(a);
      const started = performance.now();
      await a.sendReserved(6, keyOwnedBy(b, "unanswered"), Buffer.from("unanswered"));
      await until(async () => (await hopsAcknowledged(a)) > acknowledged);
      expect(await hopsAcknowledged(a)).toBe(acknowledged + 1);
      expect(requests).toEqual(["unanswered"]);
      // The hop timeout here is 20 s: an acknowledgement held for an answer that never came is let go.
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      off();
    }
  }, 60_000);

  it("carries the end-to-end acknowledgement of a Send waiting for it in its hop's acknowledgement, on the sender's own stream, and every Send gets it once", async () => {
    const a = nodes[2]!;
    const b = nodes[3]!;
    // The stream from a to b open first (its opener names the feature as it opens).
    await a.send(a.newMessage(16, keyOwnedBy(b, "carry-warm"), Buffer.from("carry-warm")), {
      waitForAck: true,
    });
    const carried = linksOf(b).carried;
    const count = 20;
    const replies = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        a.send(a.newMessage(16, keyOwnedBy(b, `carry-${i}`), Buffer.from(`carry-${i}`)), {
          waitForAck: true,
          timeoutMs: 20_000,
        }),
      ),
    );
    for (const reply of replies) {
      expect(reply.deliveredBy?.id.hex).toBe(b.info().id.hex);
      expect(reply.hops).toBe(1);
    }
    for (let i = 0; i < count; i++) expect(delivered.get(`carry-${i}`)).toBe(b.info().id.hex);
    // b's application acknowledged each in the turn of its delivery: the acknowledgement left beside the
    // hop's, not in a batch of b's own (a few may have ridden on a batch b sent a anyway).
    expect(linksOf(b).carried - carried).toBeGreaterThanOrEqual(count / 2);
  }, 60_000);

  it("acknowledges end to end, in a batch of its own, a Send whose application acknowledges long after the hop's acknowledgement was let go", async () => {
    const a = nodes[2]!;
    const b = nodes[3]!;
    // Acknowledged 200 ms after delivery: past the hold (ANSWER_HOLD_MS), so the hop was acknowledged alone.
    b.registerApplication({
      onDeliver: (m) =>
        Buffer.from(m.payload).toString().startsWith("late-")
          ? new Promise<void>((resolve) => setTimeout(resolve, 200))
          : undefined,
    });
    const carried = linksOf(b).carried;
    const count = 5;
    const replies = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        a.send(a.newMessage(16, keyOwnedBy(b, `late-${i}`), Buffer.from(`late-${i}`)), {
          waitForAck: true,
          timeoutMs: 20_000,
        }),
      ),
    );
    for (const reply of replies) expect(reply.deliveredBy?.id.hex).toBe(b.info().id.hex);
    expect(linksOf(b).carried - carried).toBe(0);
  }, 60_000);
});
