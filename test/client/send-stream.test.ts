// WendyClient.send over SendStream: many sends share one stream, a bad send fails alone with its typed
// error, the stream's bound spills over to unary Send, an older node without SendStream is served by unary
// Send, cancellation and deadlines per send, close(), and a node restarted on the same port.
import {
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { Cluster } from "../../src/server/cluster.js";
import { Node } from "../../src/server/node.js";
import {
  addOverlayService,
  overlayServerOptions,
  type OverlayServiceHandle,
} from "../../src/server/overlay/index.js";
import {
  OverlayServiceService,
  type SendRequest,
  type SendResponse,
  type SendStreamRequest,
  type SendStreamResponse,
} from "../../src/gen/wendy/v1/overlay.js";
import {
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  UnavailableError,
  WendyClient,
  type ClientStream,
  type Delivery,
} from "../../src/client/index.js";
import { nextWithin, waitFor } from "../helpers/wait.js";

const PURPOSE = 40;

interface RealNode {
  readonly cluster: Cluster;
  readonly server: Server;
  readonly handle: OverlayServiceHandle;
  readonly port: number;
}

async function bind(server: Server, port = 0): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
}

async function startReal(name: string, port = 0): Promise<RealNode> {
  const cluster = new Cluster(
    new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1" }),
    undefined,
    { bindHost: "127.0.0.1" },
  );
  const server = new Server(overlayServerOptions());
  const handle = addOverlayService(server, { cluster, healthAndReflection: false });
  const bound = await bind(server, port);
  await cluster.listen();
  return { cluster, server, handle, port: bound };
}

async function stopReal(node: RealNode): Promise<void> {
  node.handle.close();
  await node.cluster.stop(200);
  node.server.forceShutdown();
}

/**
 * A node of an older kind, or a hung one: unary Send answers with a counted id; SendStream (when offered)
 * takes sends and never answers them.
 */
class FakeNode {
  readonly server = new Server();
  unarySends = 0;
  streamedSends = 0;
  port = 0;

  constructor(withSendStream: boolean) {
    const implementation = {
      send: (call: ServerUnaryCall<SendRequest, SendResponse>, callback: sendUnaryData<SendResponse>) => {
        this.unarySends++;
        callback(null, { messageId: `unary-${this.unarySends}`, deliveredBy: undefined, hops: 0 });
      },
      ...(withSendStream
        ? {
            sendStream: (call: ServerDuplexStream<SendStreamRequest, SendStreamResponse>) => {
              call.on("data", (r: SendStreamRequest) => (this.streamedSends += r.sends.length));
              call.on("error", () => undefined);
            },
          }
        : {}),
    };
    this.server.addService(OverlayServiceService, implementation);
  }

  async start(): Promise<string> {
    this.port = await bind(this.server);
    return `127.0.0.1:${this.port}`;
  }
}

describe("WendyClient.send on a node with SendStream", () => {
  let node: RealNode;
  let client: WendyClient;
  let deliveries: ClientStream<Delivery>;

  beforeAll(async () => {
    node = await startReal("client-send-stream");
    client = new WendyClient(`127.0.0.1:${node.port}`);
    deliveries = client.subscribe([PURPOSE]);
    await waitFor("the subscription", async () =>
      (await client.status()).subscriberCount === 1 ? true : undefined,
    );
  });

  afterAll(async () => {
    deliveries?.close();
    client?.close();
    if (node !== undefined) await stopReal(node);
  });

  it("carries many concurrent sends on one stream, each delivered with the id it was given", async () => {
    const count = 200;
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) => client.send(`key-${i}`, PURPOSE, `payload-${i}`)),
    );
    expect(node.handle.sendStreamCount).toBe(1);
    const byId = new Map(results.map((r, i) => [r.messageId, `payload-${i}`]));
    expect(byId.size).toBe(count);
    for (let i = 0; i < count; i++) {
      const d = await nextWithin(deliveries, "a delivery");
      expect(Buffer.from(d.payload).toString()).toBe(byId.get(d.messageId));
    }
  });

  it("splits sends whose payloads together exceed the node's message limit over several stream messages", async () => {
    const big = (i: number): Buffer => Buffer.alloc(3 * 1024 * 1024, i + 1);
    const results = await Promise.all([0, 1, 2, 3].map((i) => client.send(`big-${i}`, PURPOSE, big(i))));
    const fills = new Map(results.map((r, i) => [r.messageId, i + 1]));
    for (let i = 0; i < 4; i++) {
      const d = await nextWithin(deliveries, "a large delivery");
      expect(d.payload.byteLength).toBe(3 * 1024 * 1024);
      expect(d.payload[0]).toBe(fills.get(d.messageId));
    }
    expect(node.handle.sendStreamCount).toBe(1);
  });

  it("answers waitForAck with the delivering node and hops", async () => {
    const result = await client.send("acked", PURPOSE, "with ack", { waitForAck: true });
    expect(result.deliveredBy?.id.hex).toBe(node.cluster.info().id.hex);
    expect(result.hops).toBe(0);
    expect(Buffer.from((await nextWithin(deliveries, "the acked delivery")).payload).toString()).toBe(
      "with ack",
    );
  });

  it("fails a bad send alone with its typed error; the others on the stream succeed", async () => {
    const [bad, good] = await Promise.allSettled([
      client.send("bad", 3, "reserved purpose"),
      client.send("good", PURPOSE, "fine"),
    ]);
    expect(bad.status === "rejected" && bad.reason).toBeInstanceOf(InvalidArgumentError);
    expect(good.status).toBe("fulfilled");
    expect(Buffer.from((await nextWithin(deliveries, "the good delivery")).payload).toString()).toBe("fine");
    expect(node.handle.sendStreamCount).toBe(1);
  });
});

describe("WendyClient.send on other nodes", () => {
  it("uses unary Send on a node without SendStream, for the send that found out and every later one", async () => {
    const fake = new FakeNode(false);
    const client = new WendyClient(await fake.start());
    try {
      expect((await client.send("a", PURPOSE, "x")).messageId).toBe("unary-1");
      expect((await client.send("b", PURPOSE, "y")).messageId).toBe("unary-2");
      expect(fake.unarySends).toBe(2);
    } finally {
      client.close();
      fake.server.forceShutdown();
    }
  });

  it("spills sends beyond its stream bound over to unary Send, and fails waiting ones on close()", async () => {
    const fake = new FakeNode(true);
    const client = new WendyClient(await fake.start(), { sendStreamMaxInFlight: 2 });
    try {
      const streamed = [client.send("a", PURPOSE, "1"), client.send("b", PURPOSE, "2")];
      const spilled = await Promise.all([client.send("c", PURPOSE, "3"), client.send("d", PURPOSE, "4")]);
      expect(spilled.map((r) => r.messageId).sort()).toEqual(["unary-1", "unary-2"]);
      await waitFor("the streamed sends to reach the node", () =>
        fake.streamedSends === 2 ? true : undefined,
      );
      client.close();
      for (const s of await Promise.allSettled(streamed)) {
        expect(s.status === "rejected" && s.reason).toBeInstanceOf(CancelledError);
      }
    } finally {
      client.close();
      fake.server.forceShutdown();
    }
  });

  it("cancels one send by its signal and times out another by its deadline, leaving the stream usable", async () => {
    const fake = new FakeNode(true);
    const client = new WendyClient(await fake.start());
    try {
      const controller = new AbortController();
      const cancelled = client.send("a", PURPOSE, "1", { signal: controller.signal });
      const late = client.send("b", PURPOSE, "2", { deadlineMs: 100 });
      // Checked from now on: on a busy machine the deadline may pass before the wait below is over.
      const lateTimedOut = expect(late).rejects.toBeInstanceOf(DeadlineExceededError);
      await waitFor("both sends to reach the node", () => (fake.streamedSends === 2 ? true : undefined));
      controller.abort();
      await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
      await lateTimedOut;
      const aborted = new AbortController();
      aborted.abort();
      await expect(client.send("c", PURPOSE, "3", { signal: aborted.signal })).rejects.toBeInstanceOf(
        CancelledError,
      );
      // The stream itself went on: a further send reaches the node on it.
      void client.send("d", PURPOSE, "4", { deadlineMs: 5_000 }).catch(() => undefined);
      await waitFor("the next send", () => (fake.streamedSends === 3 ? true : undefined));
      expect(fake.unarySends).toBe(0);
    } finally {
      client.close();
      fake.server.forceShutdown();
    }
  });

  it("fails sends waiting when the node goes away, and sends on a fresh stream once it is back", async () => {
    // A hung node takes sends on its stream and never answers them: the send is surely still waiting when
    // the node goes away.
    const hung = new FakeNode(true);
    const client = new WendyClient(await hung.start());
    let back: RealNode | undefined;
    try {
      const during = client.send("during", PURPOSE, "during");
      await waitFor("the send to reach the node", () => (hung.streamedSends === 1 ? true : undefined));
      hung.server.forceShutdown();
      await expect(during).rejects.toBeInstanceOf(UnavailableError);
      expect(hung.unarySends).toBe(0);
      back = await startReal("client-restart", hung.port);
      await waitFor("the node to be back", async () => ((await client.status()).ready ? true : undefined));
      // An application there acknowledges what it receives: the acknowledged send needs one.
      const app = client.receive([PURPOSE]);
      void (async () => {
        for await (const d of app) d.ack();
      })().catch(() => undefined);
      await app.ready;
      const after = await client.send("after", PURPOSE, "after", { waitForAck: true });
      app.close();
      expect(after.deliveredBy?.id.hex).toBe(back.cluster.info().id.hex);
      expect(back.handle.sendStreamCount).toBe(1);
    } finally {
      client.close();
      if (back !== undefined) await stopReal(back);
    }
  });
});
