// An address passes from one node to another: a process restarted on its port under a new name (as the
// leave-burst test restarts its nodes), a pod's IP given to another pod. A caller that still names the old
// node at that address must not reach the new one in its place: the new node would take the hop, and its
// acknowledgement would "prove" the departed node alive (a ghost in leaf sets, to which the new node itself
// then routed, back to itself, until the message was lost). The Hello names the node that answers it; calls
// and hops meant for another node fail unsent, as never arrived, so they are routed around it.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, Outbound, PeerMessage, RouteMessage } from "../../src/routing/types.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { peerChannelSecurity } from "../../src/server/auth/tls.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerClientPool } from "../../src/server/transport/peer-client.js";
import { PeerFailure } from "../../src/server/transport/peer-failure.js";
import { addPeerService } from "../../src/server/transport/peer-server.js";
import { DEFAULT_WIRE_LIMITS } from "../../src/wire/limits.js";
import { testSecret } from "../helpers/secrets.js";

const creds = new PassphraseCredentials(testSecret("address-reuse"), { N: 1024, r: 8, p: 1 });
const now = (): number => performance.now();
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function node(name: string, port: number): NodeInfo {
  const address = `127.0.0.1:${port}`;
  return {
    id: NodeId.fromString(name),
    localAddress: address,
    globalAddress: address,
    region: "",
    incarnation: 1,
  };
}

/** A node's peer service at `port`, under `name`; what it receives is pushed to `received`. */
async function serve(name: string, port: number, received: PeerMessage[]): Promise<Server> {
  const auth = callAuthFor(creds, () => Promise.reject(new Error("serves only")), now, {
    nodeId: NodeId.fromString(name).toBytes(),
  });
  const server = new Server();
  addPeerService(server, {
    verifier: auth.verifier,
    limits: DEFAULT_WIRE_LIMITS,
    sink: (_sender, message) => received.push(message),
  });
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  cleanups.push(() => server.forceShutdown());
  return server;
}

/** The calling node's pool, its sessions opened by Hello as a node's are. */
function callerPool(sender: NodeInfo): PeerClientPool {
  const pool = new PeerClientPool({
    channelSecurity: peerChannelSecurity({ enabled: false }),
    rpcTimeoutMs: 2000,
    maxMessageBytes: 1 << 20,
    maxInFlightPerPeer: 16,
    maxConnections: 8,
    now,
  });
  pool.useSigner(
    callAuthFor(creds, (address, challenge) => pool.hello(address, sender, challenge), now).signer,
  );
  cleanups.push(() => pool.close());
  return pool;
}

function route(id: string, origin: NodeInfo): RouteMessage {
  return {
    id,
    key: NodeId.fromString(id),
    purpose: 16,
    payload: new Uint8Array(0),
    origin,
    hops: 1,
    maxHops: 40,
    wantAck: false,
  };
}

const hop = (to: NodeInfo, message: RouteMessage): Outbound => ({
  to,
  address: to.localAddress,
  message: { type: "route", message },
});
const probe = (to: NodeInfo): Outbound => ({
  to,
  address: to.localAddress,
  message: { type: "probe", sentAt: 0, joining: false },
});

/** The failure `sent` ended with (it must fail). */
async function failureOf(sent: Promise<unknown>): Promise<PeerFailure> {
  const error: unknown = await sent.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof PeerFailure)) throw new Error(`expected a peer failure, got ${String(error)}`);
  return error;
}

describe("an address another node answers at", () => {
  it("a route hop and a probe meant for the node that left are not sent: each fails as never arrived, naming both nodes, and the node there receives nothing of them", async () => {
    const [port] = await freePorts(1);
    const received: PeerMessage[] = [];
    await serve("reuse-new", port!, received);
    const sender = node("reuse-sender", 1);
    const pool = callerPool(sender);
    const gone = node("reuse-gone", port!);
    const here = node("reuse-new", port!);

    const hopFailure = await failureOf(pool.send(sender, hop(gone, route("m-1", sender))));
    expect(hopFailure.neverArrived).toBe(true);
    expect(hopFailure.message).toContain(`is node ${here.id.hex}, not ${gone.id.hex}: not sent`);
    const probeFailure = await failureOf(pool.send(sender, probe(gone)));
    expect(probeFailure.neverArrived).toBe(true);
    expect(probeFailure.message).toContain("not sent");

    // The node that does answer there gets what is meant for it.
    await pool.send(sender, hop(here, route("m-2", sender)));
    await pool.send(sender, probe(here));
    expect(received.map((m) => (m.type === "route" ? m.message.id : m.type))).toEqual(["m-2", "probe"]);
  });

  it("after the node at an address is replaced, a hop meant for the new one reaches it and one meant for the old one is not sent", async () => {
    const [port] = await freePorts(1);
    const first: PeerMessage[] = [];
    const old = await serve("reuse-first", port!, first);
    const sender = node("reuse-sender", 1);
    const pool = callerPool(sender);
    await pool.send(sender, hop(node("reuse-first", port!), route("m-1", sender)));
    expect(first).toHaveLength(1);

    // The process goes away; another node starts on the same port.
    old.forceShutdown();
    const second: PeerMessage[] = [];
    await serve("reuse-second", port!, second);
    // The session the caller held named the first node; it must not stand in the way of the second.
    let delivered = false;
    for (let attempt = 0; attempt < 20 && !delivered; attempt++) {
      delivered = await pool
        .send(sender, hop(node("reuse-second", port!), route(`m-2-${attempt}`, sender)))
        .then(
          () => true,
          async (error: unknown) => {
            // Only while the caller has not yet seen the old connection close (it then forgets the session).
            if (!(error instanceof PeerFailure)) throw error;
            await new Promise((resolve) => setTimeout(resolve, 50));
            return false;
          },
        );
    }
    expect(delivered).toBe(true);
    const stale = await failureOf(pool.send(sender, hop(node("reuse-first", port!), route("m-3", sender))));
    expect(stale.neverArrived).toBe(true);
    expect(second.every((m) => m.type === "route" && m.message.id.startsWith("m-2"))).toBe(true);
  });
});
