// The outgoing side of the peer transport: what happens to calls when a peer restarts at the same address.
import { Server, ServerCredentials, status, type sendUnaryData } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, Outbound } from "../../src/routing/types.js";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { peerChannelSecurity } from "../../src/server/auth/tls.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerCallError, PeerClientPool } from "../../src/server/transport/peer-client.js";

const HEARTBEAT_PATH = PeerServiceService.heartbeat.path;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const servers: Server[] = [];
let pool: PeerClientPool | undefined;
/** Heartbeats the stand-in peers answered, over all their lives. */
let heartbeatsServed = 0;

/** A stand-in peer that answers Heartbeat with an empty reply. */
async function startPeer(port = 0): Promise<number> {
  const server = new Server();
  const identity = (b: Buffer): Buffer => b;
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
});
