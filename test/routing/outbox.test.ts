import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { Outbox } from "../../src/routing/outbox.js";
import type { RouteMessage } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const self = nodeInfo(NodeId.fromBigInt(1n), 1, 1, "r1");
const near = nodeInfo(NodeId.fromBigInt(2n), 2, 1, "r1");
const far = nodeInfo(NodeId.fromBigInt(3n), 3, 1, "r2");
const message: RouteMessage = {
  id: "m",
  key: NodeId.fromBigInt(9n),
  purpose: 16,
  payload: new Uint8Array(0),
  origin: self,
  hops: 1,
  maxHops: 5,
  wantAck: false,
};

describe("Outbox", () => {
  it("hands out every output once, in the order added, and is empty after take()", () => {
    const outbox = new Outbox(self, () => 0);
    outbox.event({ type: "ready" });
    outbox.send(near, { type: "heartbeat" });
    outbox.deliver(message);
    expect(outbox.take().map((o) => o.type)).toEqual(["event", "send", "deliver"]);
    expect(outbox.take()).toEqual([]);
  });

  it("addresses a peer in our region at its local address and one elsewhere at its global address", () => {
    const outbox = new Outbox(self, () => 0);
    outbox.sendAll([
      { to: near, message: { type: "heartbeat" } },
      { to: far, message: { type: "heartbeat" } },
    ]);
    const addresses = outbox.take().map((o) => (o.type === "send" ? o.out.address : ""));
    expect(addresses).toEqual([near.localAddress, far.globalAddress]);
    expect(near.localAddress).not.toBe(near.globalAddress);
  });

  it("a forward is announced first, then the route hop is sent to the next node", () => {
    const outbox = new Outbox(self, () => 0);
    outbox.forward(message, near);
    expect(outbox.take()).toEqual([
      { type: "forward", message, next: near },
      { type: "send", out: { to: near, address: near.localAddress, message: { type: "route", message } } },
    ]);
  });

  it("sends an outbound message as it is (a retransmission keeps its address)", () => {
    const outbox = new Outbox(self, () => 0);
    const out = { to: undefined, address: "seed:1", message: { type: "heartbeat" } as const };
    outbox.sendOutbound(out);
    expect(outbox.take()).toEqual([{ type: "send", out }]);
  });

  it("times the last send to the watched peer only, and forgets it when another peer is watched", () => {
    let now = 100;
    const outbox = new Outbox(self, () => now);
    outbox.watch(near.id.hex);
    expect(outbox.sentToWatchedAt(near.id.hex)).toBeUndefined();
    outbox.send(near, { type: "announce" });
    now = 200;
    outbox.send(far, { type: "announce" });
    expect(outbox.sentToWatchedAt(near.id.hex)).toBe(100);
    expect(outbox.sentToWatchedAt(far.id.hex)).toBeUndefined();
    outbox.sendOutbound({ to: near, address: near.localAddress, message: { type: "heartbeat" } });
    expect(outbox.sentToWatchedAt(near.id.hex)).toBe(200);
    outbox.watch(far.id.hex);
    expect(outbox.sentToWatchedAt(far.id.hex)).toBeUndefined();
    expect(outbox.sentToWatchedAt(near.id.hex)).toBeUndefined();
  });
});
