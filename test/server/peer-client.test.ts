// The outgoing side of the peer transport: what happens to calls when a peer restarts at the same address,
// and how heartbeats travel (on the peer's RouteStream when it takes them there, as calls otherwise).
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerDuplexStream,
} from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, Outbound } from "../../src/routing/types.js";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { peerChannelSecurity } from "../../src/server/auth/tls.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerCallError, PeerClientPool } from "../../src/server/transport/peer-client.js";
import { addPeerService } from "../../src/server/transport/peer-server.js";
import { ROUTE_STREAM_PATH } from "../../src/server/transport/route-stream.js";
import { DEFAULT_WIRE_LIMITS } from "../../src/wire/limits.js";

const HEARTBEAT_PATH = PeerServiceService.heartbeat.path;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const servers: Server[] = [];
let pool: PeerClientPool | undefined;
/** Heartbeats the stand-in peers answered, over all their lives. */
let heartbeatsServed = 0;

/**
 * A stand-in peer that answers Heartbeat with an empty reply. `withStream`: it also serves RouteStream as a
 * version before heartbeats rode there would (the stream opens, its headers name no feature, batches go
 * unanswered); without it, opening a RouteStream fails (UNIMPLEMENTED).
 */
async function startPeer(port = 0, withStream = false): Promise<number> {
  const server = new Server();
  const identity = (b: Buffer): Buffer => b;
  if (withStream) {
    server.register(
      ROUTE_STREAM_PATH,
      (call: ServerDuplexStream<Buffer, Buffer>) => call.on("data", () => undefined),
      identity,
      identity,
      "bidi",
    );
  }
  server.register(
    HEARTBEAT_PATH,
    (_call: unknown, callback: sendUnaryData<Buffer>) => {
      heartbeatsServed++;
      callback(null, Buffer.alloc(0));
    },
    identity,
    identity,
    "unary",
  );
  servers.push(server);
  return new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
}

function newPool(): PeerClientPool {
  const p = new PeerClientPool({
    channelSecurity: peerChannelSecurity({ enabled: false }),
    rpcTimeoutMs: 2000,
    maxMessageBytes: 1 << 20,
    maxInFlightPerPeer: 16,
    maxConnections: 8,
    now: () => performance.now(),
  });
  p.useSigner(
    callAuthFor(
      undefined,
      () => Promise.reject(new Error("no hello")),
      () => performance.now(),
    ).signer,
  );
  return p;
}

function self(port: number): NodeInfo {
  const id = NodeId.fromString("peer-client-test");
  return { id, localAddress: `127.0.0.1:${port}`, globalAddress: "", region: "", incarnation: 1 };
}

function heartbeatTo(port: number): Outbound {
  const to = { ...self(port), id: NodeId.fromString("the-peer") };
  return { to, address: to.localAddress, message: { type: "heartbeat" } };
}

/** A current peer (the real peer service), counting what it served by method and the heartbeats it took. */
async function startCurrentPeer(): Promise<{
  port: number;
  served: Map<string, number>;
  heartbeats: NodeInfo[];
  peerCalls: NodeInfo[];
}> {
  const served = new Map<string, number>();
  const heartbeats: NodeInfo[] = [];
  const peerCalls: NodeInfo[] = [];
  const auth = callAuthFor(
    undefined,
    () => Promise.reject(new Error("no Hello without credentials")),
    () => performance.now(),
  );
  const server = new Server();
  addPeerService(server, {
    verifier: auth.verifier,
    limits: DEFAULT_WIRE_LIMITS,
    sink: (sender, message) => {
      if (message.type === "heartbeat") heartbeats.push(sender);
    },
    hooks: {
      onServed: (path) => served.set(path, (served.get(path) ?? 0) + 1),
      onPeerCall: (_remote, sender) => peerCalls.push(sender),
    },
  });
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { port, served, heartbeats, peerCalls };
}

/** Sends one heartbeat with transmit (as the runtime does); resolves with its error, undefined when acknowledged. */
function transmitHeartbeat(p: PeerClientPool, port: number): Promise<unknown> {
  return new Promise((resolve) => p.transmit(SENDER, heartbeatTo(port), (error) => resolve(error)));
}

/** A sender the real peer service accepts (both addresses set). */
const SENDER: NodeInfo = { ...self(1), globalAddress: "127.0.0.1:1" };

afterEach(() => {
  pool?.close();
  pool = undefined;
  for (const server of servers.splice(0)) server.forceShutdown();
});

describe("PeerClientPool", () => {
  it("reaches a peer restarted at the same address with the next call, whatever the channel's backoff", async () => {
    const port = await startPeer();
    pool = newPool();
    const sender = self(1);
    await pool.send(sender, heartbeatTo(port));
    expect(heartbeatsServed).toBe(1);

    // The peer dies; calls meanwhile are refused, unsent, and the channel backs off further each time.
    servers.splice(0).forEach((s) => s.forceShutdown());
    let refused = 0;
    for (let i = 0; i < 6; i++) {
      const error = await pool.send(sender, heartbeatTo(port)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PeerCallError);
      if ((error as PeerCallError).code === status.UNAVAILABLE) refused++;
      await sleep(250);
    }
    expect(refused).toBe(6);

    // It is back on the same port: the very next call gets through.
    await startPeer(port);
    await pool.send(sender, heartbeatTo(port));
    expect(heartbeatsServed).toBe(2);
    expect(pool.openConnections).toBe(1);
  });

  it("sends the first heartbeat to a peer as a Heartbeat call and later ones on its RouteStream, each handed to the peer's node as a heartbeat from the sender and acknowledged", async () => {
    const peer = await startCurrentPeer();
    pool = newPool();
    expect(await transmitHeartbeat(pool, peer.port)).toBeUndefined();
    expect(peer.served.get(HEARTBEAT_PATH)).toBe(1);
    // The first heartbeat opened the stream; once its headers say it takes heartbeats, they ride there.
    await expect.poll(() => pool?.openRouteStream(`127.0.0.1:${peer.port}`)?.takesHeartbeats).toBe(true);
    for (let i = 0; i < 5; i++) expect(await transmitHeartbeat(pool, peer.port)).toBeUndefined();
    expect(peer.served.get(HEARTBEAT_PATH)).toBe(1);
    expect(peer.served.get(ROUTE_STREAM_PATH)).toBe(5);
    expect(peer.heartbeats.map((n) => n.id.hex)).toEqual(Array(6).fill(SENDER.id.hex));
    // A batch is a peer call over its connection as much as a unary call is (InboundPeers watches it).
    expect(peer.peerCalls.length).toBe(6);
  });

  it("keeps sending heartbeats as Heartbeat calls to a peer whose RouteStream does not take them, or that serves none, and each is acknowledged", async () => {
    for (const withStream of [true, false]) {
      const port = await startPeer(0, withStream);
      pool = newPool();
      const before = heartbeatsServed;
      for (let i = 0; i < 4; i++) {
        expect(await transmitHeartbeat(pool, port)).toBeUndefined();
        await sleep(50);
      }
      expect(heartbeatsServed - before).toBe(4);
      expect(pool.openRouteStream(`127.0.0.1:${port}`)?.takesHeartbeats ?? false).toBe(false);
      pool.close();
    }
  });
});
