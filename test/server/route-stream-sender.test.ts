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
import {
  HopTimeout,
  MAX_BACKOFF_MS,
  MAX_TIMEOUT_FACTOR,
  backedOff,
} from "../../src/server/transport/hop-timeout.js";

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
async function connect(
  sink: (sender: NodeInfo, message: PeerMessage) => void,
  options: { readonly now?: () => number; readonly hopTimeoutMs?: number } = {},
): Promise<RouteStreamSender> {
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
    hopTimeoutMs: options.hopTimeoutMs ?? 2000,
    maxBatch: 256,
    maxOutstanding: 1000,
    now: options.now ?? now,
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

  it("does not fail a hop acknowledged later than its configured timeout when earlier round trips varied that much", async () => {
    // A clock the peer moves on as it takes each hop: the hop's round trip, as the sender measures it.
    let clock = 0;
    let nextRoundTrip = 0;
    const sender = await connect(
      (_, message) => {
        if (message.type !== "route") return;
        clock += nextRoundTrip;
        // Long enough for the sender's sweep (every 25 ms here) to run before the acknowledgement is read.
        const until = performance.now() + 60;
        while (performance.now() < until);
      },
      { now: () => clock, hopTimeoutMs: 200 },
    );
    const self = node("self", 2);
    // Round trips of 50 and 190 ms, each within the configured 200 ms.
    for (let i = 0; i < 8; i++) {
      nextRoundTrip = i % 2 === 0 ? 50 : 190;
      await sender.send(self, route(`warm-${i}`));
    }
    // Now one of 300 ms: beyond the configured timeout, within what those round trips said to expect.
    nextRoundTrip = 300;
    await expect(sender.send(self, route("slow"))).resolves.toBe(300);
  });
});

describe("HopTimeout", () => {
  it("is the configured timeout until a round trip is measured, and while round trips stay well within it", () => {
    const timeout = new HopTimeout(1000);
    expect(timeout.currentMs).toBe(1000);
    for (let i = 0; i < 20; i++) timeout.sample(20);
    expect(timeout.currentMs).toBe(1000);
  });

  it("grows to the smoothed round trip plus four times its variation, at most a few times the configured one", () => {
    const timeout = new HopTimeout(1000);
    timeout.sample(900);
    // First sample: variation half of it, 900 + 4 * 450.
    expect(timeout.currentMs).toBe(2700);
    for (let i = 0; i < 50; i++) timeout.sample(i % 2 === 0 ? 3000 : 9000);
    expect(timeout.currentMs).toBe(MAX_TIMEOUT_FACTOR * 1000);
  });
});

describe("backoff of a hop sent again (RFC 6298, 5.5)", () => {
  it("doubles the timeout per earlier failed send of the hop, up to MAX_BACKOFF_MS", () => {
    expect([0, 1, 2, 3].map((attempt) => backedOff(1000, attempt))).toEqual([1000, 2000, 4000, 8000]);
    expect(backedOff(1000, undefined)).toBe(1000);
    expect(backedOff(1000, 10)).toBe(MAX_BACKOFF_MS);
    expect(backedOff(1000, 1_000)).toBe(MAX_BACKOFF_MS);
    // A configured timeout beyond the ceiling is never shortened.
    expect(backedOff(90_000, 2)).toBe(90_000);
  });

  it("backs off from the measured timeout", () => {
    const timeout = new HopTimeout(1000);
    timeout.sample(900);
    expect(timeout.forAttempt(undefined)).toBe(2700);
    expect(timeout.forAttempt(1)).toBe(5400);
  });
});
