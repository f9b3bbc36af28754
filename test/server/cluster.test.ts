// The embeddable API in one process: argument checking, lifecycle, back-pressure and mutual TLS.
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidNodeIdError, NodeId } from "../../src/routing/id.js";
import { Cluster, type ClusterOptions } from "../../src/server/cluster.js";
import { Node, nodeIdFromBytes } from "../../src/server/node.js";
import { PassphraseCredentials, type Credentials } from "../../src/server/auth/credentials.js";
import {
  InvalidArgumentError,
  JoinError,
  NotReadyError,
  ResourceExhaustedError,
} from "../../src/server/errors.js";
import { CertDir } from "../helpers/certs.js";
import { listServices } from "../helpers/reflection.js";
import { testSecret } from "../helpers/secrets.js";

const running: Cluster[] = [];
const credentials = new PassphraseCredentials(testSecret("cluster-test"), { N: 1024, r: 8, p: 1 });

async function start(
  name: string,
  options: ClusterOptions = {},
  creds: Credentials | undefined = credentials,
  listen: { joinFirst?: boolean } = {},
): Promise<Cluster> {
  const cluster = new Cluster(
    new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1", port: 0 }),
    creds,
    {
      bindHost: "127.0.0.1",
      ...options,
    },
  );
  running.push(cluster);
  await cluster.listen(listen);
  return cluster;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.kill()));
});

describe("node identity", () => {
  it("needs at least 16 bytes for an ID", () => {
    expect(() => nodeIdFromBytes(new Uint8Array(8))).toThrow(InvalidNodeIdError);
    expect(nodeIdFromBytes(new Uint8Array(16).fill(1)).hex).toBe("01".repeat(16));
  });

  it("picks a free port when given 0 and reports it after listen", async () => {
    const cluster = await start("port-zero");
    expect(cluster.node.port).toBeGreaterThan(0);
    expect(cluster.info().localAddress).toBe(`127.0.0.1:${cluster.node.port}`);
  });

  it("serves grpc reflection and health on the peer port, without credentials", async () => {
    const cluster = await start("reflection");
    const services = await listServices(cluster.info().localAddress);
    expect(services).toEqual(expect.arrayContaining(["wendy.v1.PeerService", "grpc.health.v1.Health"]));
  });

  it("refuses a leaf set of 2 (or odd) with the reason: one failure per side must leave a live neighbour", () => {
    const node = new Node({ id: NodeId.fromString("leafs"), localAddress: "127.0.0.1", port: 0 });
    expect(() => new Cluster(node, undefined, { routing: { leafSetSize: 2 } })).toThrow(InvalidArgumentError);
    expect(() => new Cluster(node, undefined, { routing: { leafSetSize: 2 } })).toThrow(
      /survives one failed neighbour/,
    );
    expect(() => new Cluster(node, undefined, { routing: { leafSetSize: 5 } })).toThrow(
      /even integer in 4\.\.128/,
    );
    expect(() => new Cluster(node, undefined, { routing: { leafSetSize: 4 } })).not.toThrow();
  });

  it("rejects a port out of range", () => {
    expect(() => new Node({ id: NodeId.fromString("x"), localAddress: "127.0.0.1", port: 70000 })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe("messages", () => {
  it("refuses reserved purposes and oversized payloads with typed errors", async () => {
    const cluster = await start("messages", { maxPayloadBytes: 1024 });
    const key = NodeId.fromString("k");
    expect(() => cluster.newMessage(15, key, new Uint8Array())).toThrow(InvalidArgumentError);
    expect(() => cluster.newMessage(16, key, new Uint8Array(1025))).toThrow(/exceeds the limit of 1024/);
    expect(cluster.newMessage(16, key, new Uint8Array(1024)).purpose).toBe(16);
  });

  it("a lone node delivers to itself and acknowledges at once", async () => {
    const cluster = await start("alone");
    const seen: string[] = [];
    cluster.registerApplication({
      onDeliver: (m) => {
        seen.push(Buffer.from(m.payload).toString());
      },
    });
    const reply = await cluster.send(cluster.newMessage(16, NodeId.fromString("any"), Buffer.from("hi")), {
      waitForAck: true,
    });
    expect(reply.deliveredBy?.id.equals(cluster.info().id)).toBe(true);
    expect(seen).toEqual(["hi"]);
  });

  it("a full queue of messages waiting for the join is RESOURCE_EXHAUSTED, not a silent loss", async () => {
    // A seed that listens but never answers joins keeps this node joining for as long as the test needs.
    const silent = await start(
      "silent-seed",
      {},
      new PassphraseCredentials(testSecret("another secret"), { N: 1024, r: 8, p: 1 }),
    );
    const joiner = await start("queued", { routing: { maxPendingMessages: 2 }, joinRetryWindowMs: 60_000 });
    const joined = joiner.join([silent.info().localAddress]);
    joined.catch(() => undefined);
    const key = NodeId.fromString("q");
    await joiner.send(joiner.newMessage(16, key, Buffer.from("1")));
    await joiner.send(joiner.newMessage(16, key, Buffer.from("2")));
    await expect(joiner.send(joiner.newMessage(16, key, Buffer.from("3")))).rejects.toBeInstanceOf(
      ResourceExhaustedError,
    );
    expect(joiner.ready).toBe(false);
  });
});

describe("application acknowledgement (embedded)", () => {
  async function pair(): Promise<[Cluster, Cluster]> {
    const a = await start("appack-a");
    const b = await start("appack-b");
    await b.join("127.0.0.1", a.node.port);
    return [a, b];
  }

  it("a send waiting for its ack resolves only once the owner's onDeliver Promise resolved", async () => {
    const [a, b] = await pair();
    let release: () => void = () => undefined;
    const handled = new Promise<void>((resolve) => (release = resolve));
    b.registerApplication({ onDeliver: () => handled });
    let acked = false;
    const sent = a.send(a.newMessage(16, b.info().id, Buffer.from("x")), { waitForAck: true }).then((r) => {
      acked = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(acked).toBe(false);
    release();
    const reply = await sent;
    expect(reply.deliveredBy?.id.equals(b.info().id)).toBe(true);
  });

  it("a rejected onDeliver reaches the sender as a refusal with the application's code and message", async () => {
    const [a, b] = await pair();
    b.registerApplication({
      onDeliver: () => Promise.reject(new ResourceExhaustedError("the store is full")),
    });
    const sent = a.send(a.newMessage(16, b.info().id, Buffer.from("x")), { waitForAck: true });
    await expect(sent).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      message: "the store is full",
    });
  });

  it("with no application registered at the owner, a waiting send fails FAILED_PRECONDITION naming the owner", async () => {
    const [a, b] = await pair();
    const sent = a.send(a.newMessage(16, b.info().id, Buffer.from("x")), { waitForAck: true });
    await expect(sent).rejects.toMatchObject({ code: status.FAILED_PRECONDITION });
    await expect(sent).rejects.toThrow(b.info().id.hex);
  });

  it("a send that does not wait is accepted whatever the owner's application answers", async () => {
    const [a, b] = await pair();
    const seen: string[] = [];
    b.registerApplication({
      onDeliver: (m) => {
        seen.push(m.id);
        return Promise.reject(new Error("refused"));
      },
    });
    const sent = await a.send(a.newMessage(16, b.info().id, Buffer.from("x")));
    for (let i = 0; i < 40 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(seen).toEqual([sent.messageId]);
  });
});

describe("lifecycle", () => {
  it("join needs a seed other than itself and a listening node", async () => {
    const lonely = new Cluster(
      new Node({ id: NodeId.fromString("new"), localAddress: "127.0.0.1" }),
      credentials,
    );
    await expect(lonely.join(["127.0.0.1:1"])).rejects.toBeInstanceOf(NotReadyError);
    const cluster = await start("self-seed");
    await expect(cluster.join([cluster.info().localAddress])).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it("a join through seeds that never answer fails with JoinError, and a later join starts clean", async () => {
    const cluster = await start("no-seeds", {
      routing: { joinTimeoutMs: 200 },
      joinRetryWindowMs: 1500,
      rpcTimeoutMs: 200,
    });
    // Port 1 on loopback: nothing listens there, so every attempt is refused at once.
    await expect(cluster.join(["127.0.0.1:1"])).rejects.toBeInstanceOf(JoinError);
    expect(cluster.ready).toBe(false);
    const seed = await start("late-seed");
    await cluster.join([seed.info().localAddress]);
    expect(cluster.ready).toBe(true);
    expect(cluster.knownPeers().map((n) => n.id.hex)).toEqual([seed.info().id.hex]);
  });

  it("a node listening to join first refuses a peer that reaches it before its join (and sends), then joins", async () => {
    const seed = await start("join-first-seed");
    const joiner = await start("join-first", {}, credentials, { joinFirst: true });
    // A peer that knows the address (as one that knew the previous process on this port would) gets there
    // first: refused, it is not taken in, and the joiner's own join is not spoilt.
    const early = await start("join-first-early", {
      routing: { joinTimeoutMs: 300 },
      joinRetryWindowMs: 1000,
      rpcTimeoutMs: 300,
    });
    await expect(early.join([joiner.info().localAddress])).rejects.toBeInstanceOf(JoinError);
    const message = joiner.newMessage(16, NodeId.fromString("k"), Buffer.from("x"));
    await expect(joiner.send(message)).rejects.toBeInstanceOf(NotReadyError);
    await joiner.join([seed.info().localAddress]);
    expect(joiner.ready).toBe(true);
    expect(joiner.knownPeers().map((n) => n.id.hex)).toEqual([seed.info().id.hex]);
  });

  it("a node listening to join first that founds the ring is a one-node overlay delivering to itself", async () => {
    const founder = await start("join-first-founder", {}, credentials, { joinFirst: true });
    expect(founder.ready).toBe(false);
    founder.found();
    await expect.poll(() => founder.ready).toBe(true);
    founder.registerApplication({ onDeliver: () => undefined });
    const reply = await founder.send(founder.newMessage(16, NodeId.fromString("k"), Buffer.from("x")), {
      waitForAck: true,
    });
    expect(reply.deliveredBy?.id.equals(founder.info().id)).toBe(true);
  });

  it("a graceful stop after traffic finishes without waiting out its grace period", async () => {
    const a = await start("drain-a");
    const b = await start("drain-b");
    await b.join([a.info().localAddress]);
    for (const node of [a, b]) node.registerApplication({ onDeliver: () => undefined });
    // Traffic both ways leaves a RouteStream open in each direction.
    await a.send(a.newMessage(16, b.info().id, Buffer.from("1")), { waitForAck: true });
    await b.send(b.newMessage(16, a.info().id, Buffer.from("2")), { waitForAck: true });
    // Peers keep their streams open for as long as they live: the stop must end them itself rather than
    // wait for the grace period to cut them off.
    expect(await b.stop(20_000)).toEqual({ drained: true });
    expect(await a.stop(20_000)).toEqual({ drained: true });
  });

  it("joins, routes between two nodes, and a graceful stop is seen by the other at once", async () => {
    const a = await start("lifecycle-a");
    const b = await start("lifecycle-b");
    await b.join("127.0.0.1", a.node.port);
    expect(b.ready).toBe(true);
    const exits: string[] = [];
    a.registerApplication({ onNodeExit: (n) => exits.push(n.id.hex) });
    b.registerApplication({ onDeliver: () => undefined });
    const reply = await a.send(a.newMessage(16, b.info().id, Buffer.from("to b")), { waitForAck: true });
    expect(reply.deliveredBy?.id.equals(b.info().id)).toBe(true);
    await b.stop();
    await b.stop(); // idempotent
    for (let i = 0; i < 40 && exits.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(exits).toEqual([b.info().id.hex]);
    expect(a.leafSet().left).toHaveLength(0);
    await expect(b.send(b.newMessage(16, b.info().id, new Uint8Array()))).rejects.toBeInstanceOf(
      NotReadyError,
    );
  });
});

describe("a graceful stop with deliveries awaiting their application", () => {
  it("a stop begun while the owner's application has not yet answered a delivery waits for the answer, and the sender gets its ack", async () => {
    const a = await start("stop-answer-a");
    const b = await start("stop-answer-b");
    await b.join("127.0.0.1", a.node.port);
    let delivered: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (delivered = resolve));
    b.registerApplication({
      onDeliver: async () => {
        delivered();
        await new Promise((r) => setTimeout(r, 300));
      },
    });
    const reply = a.send(a.newMessage(16, b.info().id, Buffer.from("to b")), {
      waitForAck: true,
      timeoutMs: 5000,
    });
    await arrived;
    const stopped = b.stop(3000);
    expect((await reply).deliveredBy?.id.equals(b.info().id)).toBe(true);
    expect((await stopped).drained).toBe(true);
  });
});

describe("failure detection of a crashed peer", () => {
  it("a peer whose process is gone is found dead from its broken connection, not after its silence", async () => {
    // Silence would take a minute to count here, and the next heartbeat to the dead node half a minute (a
    // refused heartbeat is evidence too): only the lost connection can find the crash within the bound.
    const slowToSuspect = { routing: { failureTimeoutMs: 60_000, heartbeatIntervalMs: 30_000 } };
    const a = await start("crash-a", slowToSuspect);
    const b = await start("crash-b", slowToSuspect);
    const c = await start("crash-c", slowToSuspect);
    await b.join("127.0.0.1", a.node.port);
    await c.join("127.0.0.1", a.node.port);
    c.registerApplication({ onDeliver: () => undefined });
    // Every node has talked to c, so each holds a connection that c's death breaks.
    for (const from of [a, b]) {
      const reply = await from.send(from.newMessage(16, c.info().id, Buffer.from("hello c")), {
        waitForAck: true,
      });
      expect(reply.deliveredBy?.id.equals(c.info().id)).toBe(true);
    }
    const exits: string[] = [];
    a.registerApplication({ onNodeExit: (n) => exits.push(n.id.hex) });
    const members = (x: Cluster): string[] =>
      [...x.leafSet().left, ...x.leafSet().right].map((n) => n.id.hex);
    expect(members(a)).toContain(c.info().id.hex);
    await c.kill();
    for (
      let i = 0;
      i < 150 && (members(a).includes(c.info().id.hex) || members(b).includes(c.info().id.hex));
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    expect(members(a)).not.toContain(c.info().id.hex);
    expect(members(b)).not.toContain(c.info().id.hex);
    expect(exits).toEqual([c.info().id.hex]);
  });
});

describe("mutual TLS on the peer port", () => {
  it("nodes with certificates from the overlay's CA join; one from another CA cannot", async () => {
    const certs = new CertDir();
    try {
      certs.ca("ca");
      certs.ca("rogue-ca");
      certs.leaf("a", "ca");
      certs.leaf("b", "ca");
      certs.leaf("rogue", "rogue-ca");
      const a = await start("tls-a", { tls: certs.mutualTls("a", "ca") });
      const b = await start("tls-b", { tls: certs.mutualTls("b", "ca") });
      await b.join([a.info().localAddress]);
      a.registerApplication({ onDeliver: () => undefined });
      const reply = await b.send(b.newMessage(16, a.info().id, Buffer.from("over tls")), {
        waitForAck: true,
      });
      expect(reply.deliveredBy?.id.equals(a.info().id)).toBe(true);

      // The rogue node even knows the shared secret: the certificate alone keeps it out.
      const rogue = await start("tls-rogue", {
        tls: certs.mutualTls("rogue", "rogue-ca"),
        routing: { joinTimeoutMs: 300 },
        joinRetryWindowMs: 1500,
        rpcTimeoutMs: 300,
      });
      await expect(rogue.join([a.info().localAddress])).rejects.toBeInstanceOf(JoinError);
      expect(a.knownPeers().map((n) => n.id.hex)).not.toContain(rogue.info().id.hex);
    } finally {
      certs.remove();
    }
  });
});
