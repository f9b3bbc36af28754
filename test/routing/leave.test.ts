// A graceful leave loses nothing: what reaches the leaving node, or fails on its way from it, goes to the
// node that takes over without it; only what no live node can take is dropped, and that is counted.
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { Output, RouteMessage } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

function ring(seed: number, nodes: number, leafSetSize = 8): Overlay {
  const overlay = new Overlay({ leafSetSize }, seed);
  const random = seededRandom(seed + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < nodes; i++) overlay.join(randomId(random));
  overlay.advance(2000);
  return overlay;
}

function routeSends(outputs: readonly Output[]): { to: string; message: RouteMessage }[] {
  return outputs.flatMap((o) =>
    o.type === "send" && o.out.message.type === "route" && o.out.to !== undefined
      ? [{ to: o.out.to.id.hex, message: o.out.message.message }]
      : [],
  );
}

function message(overlay: Overlay, from: PastryNode, key: PastryNode): RouteMessage {
  return {
    id: `m-${overlay.now}-${key.self.id.hex}`,
    key: key.self.id,
    purpose: 16,
    payload: new Uint8Array(0),
    origin: from.self,
    hops: 1,
    maxHops: 40,
    wantAck: true,
  };
}

describe("graceful leave", () => {
  it("sends in flight while a node leaves are each delivered once, at the key's owner without it, and acknowledged", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const overlay = ring(seed, 10, 4);
      const random = seededRandom(seed + 100);
      const leaver = overlay.live()[Math.floor(random.next() * 10)]!;
      const ids: string[] = [];
      // Keys the leaver owns and others, from every node, queued and not yet moved when it leaves.
      for (const from of overlay.live()) {
        if (from !== leaver) ids.push(overlay.send(from, leaver.self.id, true));
        ids.push(overlay.send(from, randomId(random), true));
      }
      leaver.leave(overlay.now);
      overlay.collect(leaver);
      overlay.crash(leaver);
      overlay.pump();
      for (const id of ids) {
        const deliveries = overlay.deliveriesOf(id);
        expect(deliveries, `message ${id}`).toHaveLength(1);
        if (deliveries[0]!.at !== leaver)
          expect(deliveries[0]!.at.self.id.hex).toBe(deliveries[0]!.trueOwnerHex);
      }
      const acked = new Set(
        overlay.events.flatMap((e) => (e.event.type === "acked" ? [e.event.messageId] : [])),
      );
      const fromOthers = ids.filter((id) => !id.startsWith(leaver.self.id.hex));
      for (const id of fromOthers) expect(acked.has(id), `ack of ${id}`).toBe(true);
    }
  });

  it("a hop that reaches a node after it left goes to the node that owns the key without it", () => {
    const overlay = ring(7, 8);
    const [leaver, sender] = overlay.live();
    leaver!.leave(overlay.now);
    leaver!.takeOutputs();
    overlay.crash(leaver!);
    const owned = message(overlay, sender!, leaver!);
    leaver!.receive(sender!.self, { type: "route", message: owned }, overlay.now);
    const sent = routeSends(leaver!.takeOutputs());
    expect(sent).toHaveLength(1);
    expect(sent[0]!.to).toBe(overlay.trueOwner(owned.key).self.id.hex);
    expect(sent[0]!.message.id).toBe(owned.id);
  });

  it("a hop forwarded before the leave and refused after it is handed on; a second failure is dropped and counted", () => {
    const overlay = ring(9, 8);
    const [leaver, sender] = overlay.live();
    leaver!.leave(overlay.now);
    leaver!.takeOutputs();
    const owner = overlay.live().find((n) => n !== leaver && n !== sender)!;
    const hop = message(overlay, sender!, owner);
    const out = {
      to: owner.self,
      address: owner.self.localAddress,
      message: { type: "route" as const, message: hop },
    };
    leaver!.sendFailed(out, overlay.now, "unreachable");
    const outputs = leaver!.takeOutputs();
    const again = routeSends(outputs);
    expect(again).toHaveLength(1);
    expect(again[0]!.to).not.toBe(owner.self.id.hex);
    expect(again[0]!.to).not.toBe(leaver!.self.id.hex);
    const next = overlay.live().find((n) => n.self.id.hex === again[0]!.to)!;
    leaver!.sendFailed(
      { to: next.self, address: next.self.localAddress, message: { type: "route", message: hop } },
      overlay.now,
      "unreachable",
    );
    const dropped = leaver!
      .takeOutputs()
      .flatMap((o) => (o.type === "event" && o.event.type === "dropped" ? [o.event] : []));
    expect(dropped.map((d) => [d.message.id, d.reason])).toEqual([[hop.id, "undeliverable"]]);
  });

  it("a message the leaver sent before its leave but that arrives after it (a heartbeat, a leaf set) does not bring it back into any leaf set", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const overlay = ring(seed, 10, 4);
      const [leaver] = overlay.live();
      // Sent before the leave on other calls than the leave notice, and overtaken by it.
      const heartbeat = { type: "heartbeat" as const };
      const leafSet = { type: "leafSet" as const, leafSet: leaver!.leafSet().left, removed: [] };
      overlay.leave(leaver!);
      const hex = leaver!.self.id.hex;
      for (const node of overlay.live()) {
        node.receive(leaver!.self, heartbeat, overlay.now);
        node.receive(leaver!.self, leafSet, overlay.now);
        overlay.collect(node);
      }
      overlay.pump();
      overlay.advance(2000);
      for (const node of overlay.live()) {
        const { left, right } = node.leafSet();
        expect(
          [...left, ...right].map((m) => m.id.hex),
          `leaf set of ${node.self.id.hex}`,
        ).not.toContain(hex);
      }
    }
  });
});
