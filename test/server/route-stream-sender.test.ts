// The caller's side of a RouteStream against a real peer service: every hop or ack it queues settles, even
// when the same message is outstanding twice (copies sent again after a pause), and a hop refused by a
// leaving peer fails as refused, so the caller can route around it at once.
import { Client, Server, ServerCredentials, credentials, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, PeerMessage, RouteMessage } from "../../src/routing/types.js";
import { LeavingError } from "../../src/server/errors.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { addPeerService } from "../../src/server/transport/peer-server.js";
import { RouteHopError, RouteStreamSender } from "../../src/server/transport/route-stream.js";
import { DEFAULT_WIRE_LIMITS } from "../../src/wire/limits.js";

const now = (): number => performance.now();
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function node(name: string, port: number): NodeInfo {
  return {
    id: NodeId.fromString(name),
    localAddress: `127.0.0.1:${port}`,
    globalAddress: `127.0.0.1:${port}`,
    region: "",
    incarnation: 1,
  };
}

/** A peer service on 127.0.0.1 whose sink is `sink`, and a RouteStreamSender to it. */
async function connect(sink: (sender: NodeInfo, message: PeerMessage) => void): Promise<RouteStreamSender> {
  const auth = callAuthFor(undefined, () => Promise.reject(new Error("no Hello without credentials")), now);
  const server = new Server();
  addPeerService(server, { verifier: auth.verifier, limits: DEFAULT_WIRE_LIMITS, sink });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  const client = new Client(address, credentials.createInsecure());
  const sender = new RouteStreamSender(client, address, {
    signer: auth.signer,
    hopTimeoutMs: 2000,
    maxBatch: 256,
    maxOutstanding: 1000,
    now,
  });
  cleanups.push(() => {
    sender.close();
    client.close();
    server.forceShutdown();
  });
  return sender;
}

function route(id: string): RouteMessage {
  return {
    id,
    key: NodeId.fromString(id),
    purpose: 16,
    payload: new Uint8Array(0),
    origin: node("origin", 1),
    hops: 1,
    maxHops: 40,
    wantAck: false,
  };
}

describe("RouteStreamSender", () => {
  it("settles both of two acks of one message outstanding at once (one used to hang forever)", async () => {
    const received: PeerMessage[] = [];
    const sender = await connect((_, message) => received.push(message));
    const self = node("self", 2);
    const both = Promise.all([
      sender.sendAck(self, { messageId: "m-1", hops: 2 }),
      sender.sendAck(self, { messageId: "m-1", hops: 2 }),
    ]);
    const answered = await Promise.race([
      both.then(() => "both settled"),
      new Promise((r) => setTimeout(() => r("one never settled"), 5000)),
    ]);
    expect(answered).toBe("both settled");
    expect(received.filter((m) => m.type === "ack")).toHaveLength(2);
  });

  it("settles both copies of one route hop outstanding at once", async () => {
    const sender = await connect(() => undefined);
    const self = node("self", 2);
    const both = Promise.all([sender.send(self, route("h-1")), sender.send(self, route("h-1"))]);
    const answered = await Promise.race([
      both.then(() => "both settled"),
      new Promise((r) => setTimeout(() => r("one never settled"), 5000)),
    ]);
    expect(answered).toBe("both settled");
  });

  it("fails a hop the peer refuses as leaving with UNAVAILABLE, marked refused by the peer", async () => {
    const sender = await connect((_, message) => {
      if (message.type === "route") throw new LeavingError("leaving");
    });
    const error = await sender.send(node("self", 2), route("h-2")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RouteHopError);
    expect((error as RouteHopError).code).toBe(status.UNAVAILABLE);
    expect((error as RouteHopError).refusedByPeer).toBe(true);
  });
});
