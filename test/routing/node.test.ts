import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId, isCloser } from "../../src/routing/id.js";
import { HOP_RETRY_WINDOW_MS } from "../../src/routing/hop-delivery.js";
import { PastryNode } from "../../src/routing/node.js";
import { ReservedPurposeError } from "../../src/routing/router.js";
import type { NodeInfo, Output, PeerMessage, RouteMessage, RoutingEvent } from "../../src/routing/types.js";
import { Overlay, nodeInfo, randomId, seededRandom } from "./overlay-harness.js";

const info = (n: bigint, port: number, incarnation = 1): NodeInfo =>
  nodeInfo(NodeId.fromBigInt(n << 100n), port, incarnation);

function events(outputs: readonly Output[]): RoutingEvent[] {
  return outputs.flatMap((o) => (o.type === "event" ? [o.event] : []));
}

function sends(outputs: readonly Output[]): { to: NodeInfo | undefined; message: PeerMessage }[] {
  return outputs.flatMap((o) => (o.type === "send" ? [{ to: o.out.to, message: o.out.message }] : []));
}

function routeMessage(key: NodeId, origin: NodeInfo, hops: number, id = "m-1"): RouteMessage {
  return { id, key, purpose: 16, payload: new Uint8Array([1]), origin, hops, maxHops: 3, wantAck: false };
}

describe("PastryNode basics", () => {
  it("bootstrap: ready at once; a lone node delivers everything itself and acks locally", () => {
    const node = new PastryNode(info(1n, 1), { random: seededRandom(1) });
    expect(node.isReady()).toBe(false);
    node.bootstrap(0);
    expect(node.isReady()).toBe(true);
    expect(events(node.takeOutputs()).map((e) => e.type)).toContain("ready");
    const id = node.send(NodeId.fromBigInt(12345n), 16, new Uint8Array(0), { wantAck: true }, 1);
    const outputs = node.takeOutputs();
    expect(
      outputs.filter((o) => o.type === "deliver").map((o) => (o.type === "deliver" ? o.message.id : "")),
    ).toEqual([id]);
    expect(events(outputs)).toContainEqual({ type: "acked", messageId: id, deliveredBy: node.self, hops: 0 });
    expect(node.owner(NodeId.fromBigInt(5n))).toBe(node.self);
    expect(node.replicas(NodeId.fromBigInt(5n), 3)).toEqual([node.self]);
  });

  it("rejects reserved purposes with a typed error", () => {
    const node = new PastryNode(info(1n, 1), { random: seededRandom(1) });
    node.bootstrap(0);
    expect(() => node.send(NodeId.fromBigInt(1n), 3, new Uint8Array(0), {}, 0)).toThrow(ReservedPurposeError);
  });

  it("message ids are unique and need no randomness", () => {
    const node = new PastryNode(info(1n, 1, 42), { random: { next: () => 0 } });
    node.bootstrap(0);
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++)
      ids.add(node.send(NodeId.fromBigInt(BigInt(i)), 16, new Uint8Array(0), {}, 0));
    expect(ids.size).toBe(100);
    expect([...ids][0]).toMatch(new RegExp(`^${node.self.id.hex}-${(42).toString(36)}-\\d+$`));
  });

  it("before it is ready a node queues sends (bounded: beyond that, dropped queue_full)", () => {
    const node = new PastryNode(info(1n, 1), { random: seededRandom(1), config: { maxPendingMessages: 2 } });
    node.join(["127.0.0.1:9"], 0);
    node.takeOutputs();
    for (let i = 0; i < 3; i++) node.send(NodeId.fromBigInt(BigInt(i)), 16, new Uint8Array(0), {}, 0);
    const dropped = events(node.takeOutputs()).filter((e) => e.type === "dropped");
    expect(dropped.map((e) => (e.type === "dropped" ? e.reason : ""))).toEqual(["queue_full"]);
    expect(node.stats().pending).toBe(2);
  });

  it("drops a message that would exceed its hop limit (ttl) and a second delivery of the same id", () => {
    const overlay = new Overlay({ leafSetSize: 4 }, 3);
    const a = overlay.bootstrap(NodeId.fromBigInt(1n << 120n));
    const b = overlay.join(NodeId.fromBigInt(9n << 120n));
    // A message for b's key arriving at a with hops == maxHops cannot take another hop.
    a.receive(b.self, { type: "route", message: routeMessage(b.self.id, b.self, 3, "ttl-1") }, 1);
    expect(events(a.takeOutputs())).toContainEqual(
      expect.objectContaining({ type: "dropped", reason: "ttl" }),
    );
    const own = routeMessage(a.self.id, b.self, 1, "dup-1");
    a.receive(b.self, { type: "route", message: own }, 2);
    expect(a.takeOutputs().some((o) => o.type === "deliver")).toBe(true);
    a.receive(b.self, { type: "route", message: own }, 3);
    const second = a.takeOutputs();
    expect(second.some((o) => o.type === "deliver")).toBe(false);
    expect(events(second)).toContainEqual(expect.objectContaining({ type: "dropped", reason: "duplicate" }));
  });

  it("emits forward then send for each hop, and the deliverer acks straight to the origin", () => {
    const overlay = new Overlay({ leafSetSize: 4 }, 4);
    const a = overlay.bootstrap(NodeId.fromBigInt(1n << 120n));
    const b = overlay.join(NodeId.fromBigInt(9n << 120n));
    const id = a.send(b.self.id, 20, new Uint8Array(0), { wantAck: true }, 5);
    const outputs = a.takeOutputs();
    const forwardAt = outputs.findIndex((o) => o.type === "forward");
    expect(outputs[forwardAt]).toMatchObject({ type: "forward", next: b.self });
    expect(outputs[forwardAt + 1]).toMatchObject({
      type: "send",
      out: { to: b.self, message: { type: "route" } },
    });
    const route = outputs[forwardAt + 1];
    if (route?.type !== "send") throw new Error("expected a send");
    b.receive(a.self, route.out.message, 6);
    const ack = sends(b.takeOutputs()).find((s) => s.message.type === "ack");
    expect(ack).toEqual({ to: a.self, message: { type: "ack", messageId: id, hops: 1 } });
    a.receive(b.self, ack!.message, 7);
    expect(events(a.takeOutputs())).toContainEqual({
      type: "acked",
      messageId: id,
      deliveredBy: b.self,
      hops: 1,
    });
  });

  it("a failed hop goes again to the same node, then waits for the probe's verdict on it", () => {
    const overlay = new Overlay({ leafSetSize: 8 }, 5);
    const random = seededRandom(8);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 6; i++) overlay.join(randomId(random));
    const [origin, ...rest] = overlay.live();
    const key = rest[0]!.self.id;
    origin!.send(key, 16, new Uint8Array(0), {}, 0);
    const first = sends(origin!.takeOutputs()).find((s) => s.message.type === "route")!;
    const fail = (hop: { to: NodeInfo | undefined; message: PeerMessage }, at: number): Output[] => {
      origin!.sendFailed({ to: hop.to, address: hop.to!.localAddress, message: hop.message }, at);
      return origin!.takeOutputs();
    };
    const routes = (outputs: Output[]): { to: NodeInfo | undefined; message: PeerMessage }[] =>
      sends(outputs).filter((s) => s.message.type === "route");
    // The hop may have arrived although it timed out: the same hop again (the destination deduplicates).
    const retry = fail(first, 1);
    expect(routes(retry)).toEqual([{ to: first.to, message: first.message }]);
    expect(origin!.stats().suspects).toBe(1);
    expect(sends(retry).some((s) => s.message.type === "probe" && s.to === first.to)).toBe(true);
    // Failed again: nothing goes anywhere until the liveness probe decides.
    const parked = fail(first, 2);
    expect(routes(parked)).toEqual([]);
    expect(parked.some((o) => o.type === "deliver")).toBe(false);
    // It answers: alive after all, so the hop goes to it once more (never around a live node).
    origin!.receive(first.to!, { type: "probeReply", echoSentAt: 1, leafSet: [], ready: true }, 3);
    expect(routes(origin!.takeOutputs())).toEqual([{ to: first.to, message: first.message }]);
    expect(origin!.stats().suspects).toBe(0);
    // More failures of a node that keeps proving alive: it keeps getting the hop (slow is not dead)...
    fail(first, 4);
    origin!.receive(first.to!, { type: "probeReply", echoSentAt: 4, leafSet: [], ready: true }, 5);
    expect(routes(origin!.takeOutputs())).toEqual([{ to: first.to, message: first.message }]);
    expect(events(fail(first, 6))).not.toContainEqual(expect.objectContaining({ type: "dropped" }));
    origin!.receive(first.to!, { type: "probeReply", echoSentAt: 6, leafSet: [], ready: true }, 7);
    expect(routes(origin!.takeOutputs())).toEqual([{ to: first.to, message: first.message }]);
    // ...until its retry window (from the first failure) has passed: then given up, never routed around it.
    const dropped = fail(first, 1 + HOP_RETRY_WINDOW_MS);
    expect(routes(dropped)).toEqual([]);
    expect(events(dropped)).toContainEqual(
      expect.objectContaining({ type: "dropped", reason: "unacknowledged" }),
    );
  });

  it("a hop waiting for a verdict is routed around a node found dead; refusals after MAX_REROUTES detours drop it", () => {
    const overlay = new Overlay({ leafSetSize: 8 }, 5);
    const random = seededRandom(8);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 6; i++) overlay.join(randomId(random));
    const [origin, ...rest] = overlay.live();
    const target = rest[0]!;
    origin!.send(target.self.id, 16, new Uint8Array(0), {}, 0);
    const first = sends(origin!.takeOutputs()).find((s) => s.message.type === "route")!;
    expect(first.to).toBe(target.self);
    const out = { to: first.to, address: first.to!.localAddress, message: first.message };
    origin!.sendFailed(out, 1);
    origin!.sendFailed(out, 2);
    origin!.takeOutputs();
    let rerouted: { to: NodeInfo | undefined; message: PeerMessage } | undefined;
    let deliveredHere = false;
    for (let t = 250; t <= 10_000 && rerouted === undefined && !deliveredHere; t += 250) {
      origin!.tick(t);
      const outputs = origin!.takeOutputs();
      rerouted = sends(outputs).find((s) => s.message.type === "route");
      deliveredHere = outputs.some((o) => o.type === "deliver");
    }
    expect(origin!.knownPeers().some((n) => n.id.equals(target.self.id))).toBe(false);
    if (rerouted !== undefined) {
      expect(rerouted.to?.id.hex).not.toBe(target.self.id.hex);
      origin!.sendFailed(
        { to: rerouted.to, address: rerouted.to!.localAddress, message: rerouted.message },
        10_001,
        "unreachable",
      );
      // One more detour (MAX_REROUTES is 2): routed on, or delivered here; a refusal after it drops it.
      const outputs = origin!.takeOutputs();
      const again = sends(outputs).find((s) => s.message.type === "route");
      if (again !== undefined) {
        expect(again.to?.id.hex).not.toBe(rerouted.to?.id.hex);
        origin!.sendFailed(
          { to: again.to, address: again.to!.localAddress, message: again.message },
          10_002,
          "unreachable",
        );
        expect(events(origin!.takeOutputs())).toContainEqual(
          expect.objectContaining({ type: "dropped", reason: "undeliverable" }),
        );
      } else {
        expect(outputs.some((o) => o.type === "deliver")).toBe(true);
      }
    } else {
      expect(deliveredHere).toBe(true);
    }
  });

  it("a failed hop to a node already found dead is routed around at once", () => {
    const overlay = new Overlay({ leafSetSize: 8 }, 5);
    const random = seededRandom(8);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 6; i++) overlay.join(randomId(random));
    const [origin, ...rest] = overlay.live();
    const target = rest[0]!;
    origin!.send(target.self.id, 16, new Uint8Array(0), {}, 0);
    const hop = sends(origin!.takeOutputs()).find((s) => s.message.type === "route")!;
    expect(hop.to).toBe(target.self);
    // The target is silent: a liveness probe and its retries go unanswered, so it is declared dead.
    origin!.sendFailed(
      { to: target.self, address: target.self.localAddress, message: { type: "heartbeat" } },
      1,
    );
    const knowsTarget = (): boolean => origin!.knownPeers().some((n) => n.id.equals(target.self.id));
    for (let t = 1; t <= 10_000 && knowsTarget(); t += 250) origin!.tick(t);
    expect(knowsTarget()).toBe(false);
    origin!.takeOutputs();
    origin!.sendFailed({ to: hop.to, address: hop.to!.localAddress, message: hop.message }, 10_001);
    const outputs = origin!.takeOutputs();
    const rerouted = sends(outputs).filter((s) => s.message.type === "route");
    expect(rerouted.every((s) => s.to !== target.self)).toBe(true);
    expect(rerouted.length + outputs.filter((o) => o.type === "deliver").length).toBe(1);
  });

  it("a hop refused by the key's owner goes to the next-closest member though it is suspect, not delivered here", () => {
    // Seven ready nodes, l = 8: each knows all. For the key, C is closest, B next, A (the origin) third. A
    // suspects B (a heartbeat to it failed: B may only be slow); C refuses the hop (it is leaving). Routing
    // around C must not deliver at A while B, not found dead, is closer: route() sends to a suspect owner
    // rather than deliver, and the detour must too (a live B would own the key: seen as a misdelivery
    // in test/daemon/leave-burst.test.ts).
    const overlay = new Overlay({ leafSetSize: 8 }, 5);
    const random = seededRandom(8);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 6; i++) overlay.join(randomId(random));
    const key = randomId(random);
    const byDistance = [...overlay.live()].sort((x, y) =>
      isCloser(key, x.self.id, y.self.id) ? -1 : isCloser(key, y.self.id, x.self.id) ? 1 : 0,
    );
    const [c, b, a] = byDistance as [PastryNode, PastryNode, PastryNode];
    a.takeOutputs();
    a.sendFailed({ to: b.self, address: b.self.localAddress, message: { type: "heartbeat" } }, 1);
    expect(a.stats().suspects).toBe(1);
    const id = a.send(key, 16, new Uint8Array(0), { wantAck: true }, 2);
    const hop = sends(a.takeOutputs()).find((s) => s.message.type === "route")!;
    expect(hop.to).toBe(c.self);
    a.sendFailed({ to: hop.to, address: hop.to!.localAddress, message: hop.message }, 3, "unreachable");
    const outputs = a.takeOutputs();
    expect(outputs.filter((o) => o.type === "deliver")).toEqual([]);
    const detour = sends(outputs).filter((s) => s.message.type === "route");
    expect(detour.map((s) => s.to?.id.hex)).toEqual([b.self.id.hex]);
    expect(detour[0]!.message).toMatchObject({ type: "route", message: { id } });
  });

  it("a duplicate copy of a message that wants an ack is acked again; a failed ack is resent, 8 sends at most", () => {
    const origin = info(1n, 1);
    const node = new PastryNode(info(5n, 2), { random: seededRandom(3) });
    node.bootstrap(0);
    node.takeOutputs();
    const message = { ...routeMessage(node.self.id, origin, 1), wantAck: true };
    const acks = (outputs: Output[]) => sends(outputs).filter((s) => s.message.type === "ack");
    node.receive(origin, { type: "route", message }, 1);
    const first = acks(node.takeOutputs());
    expect(first).toEqual([{ to: origin, message: { type: "ack", messageId: "m-1", hops: 1 } }]);
    node.receive(origin, { type: "route", message }, 2);
    const again = node.takeOutputs();
    expect(again.some((o) => o.type === "deliver")).toBe(false);
    expect(acks(again)).toEqual(first);
    const ack = { to: origin, address: origin.localAddress, message: first[0]!.message };
    const resent: number[] = [];
    for (let t = 3; t < 13; t++) {
      node.sendFailed(ack, t);
      resent.push(acks(node.takeOutputs()).length);
    }
    expect(resent).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  });

  describe("with applicationAcks", () => {
    const origin = info(1n, 1);
    const deliverer = () => {
      const node = new PastryNode(info(5n, 2), {
        random: seededRandom(3),
        config: { applicationAcks: true },
      });
      node.bootstrap(0);
      node.takeOutputs();
      return node;
    };
    const acks = (outputs: Output[]) => sends(outputs).filter((s) => s.message.type === "ack");

    it("delivers at once but sends the ack only when the application acknowledged the message", () => {
      const node = deliverer();
      const message = { ...routeMessage(node.self.id, origin, 1), wantAck: true };
      node.receive(origin, { type: "route", message }, 1);
      const delivered = node.takeOutputs();
      expect(delivered.some((o) => o.type === "deliver")).toBe(true);
      expect(acks(delivered)).toEqual([]);
      node.applicationAcknowledged("m-1", 2);
      expect(acks(node.takeOutputs())).toEqual([
        { to: origin, message: { type: "ack", messageId: "m-1", hops: 1 } },
      ]);
      node.applicationAcknowledged("m-1", 3);
      expect(acks(node.takeOutputs())).toEqual([]);
    });

    it("a duplicate copy while the application has not answered gets no ack; after the answer it gets it again", () => {
      const node = deliverer();
      const message = { ...routeMessage(node.self.id, origin, 1), wantAck: true };
      node.receive(origin, { type: "route", message }, 1);
      node.takeOutputs();
      node.receive(origin, { type: "route", message }, 2);
      const early = node.takeOutputs();
      expect(early.some((o) => o.type === "deliver")).toBe(false);
      expect(acks(early)).toEqual([]);
      node.applicationAcknowledged("m-1", 3);
      node.takeOutputs();
      node.receive(origin, { type: "route", message }, 4);
      expect(acks(node.takeOutputs())).toHaveLength(1);
    });

    it("a refusal travels to the origin as an ack carrying it, and a later copy is refused again", () => {
      const node = deliverer();
      const message = { ...routeMessage(node.self.id, origin, 2), wantAck: true };
      node.receive(origin, { type: "route", message }, 1);
      node.takeOutputs();
      const refusal = { code: 9, reason: "no application for purpose 16" };
      node.applicationRefused("m-1", refusal, 2);
      const refusedAck = { to: origin, message: { type: "ack", messageId: "m-1", hops: 2, refusal } };
      expect(acks(node.takeOutputs())).toEqual([refusedAck]);
      node.receive(origin, { type: "route", message }, 3);
      expect(acks(node.takeOutputs())).toEqual([refusedAck]);
    });

    it("the origin turns a refusing ack into a refused event and stops retrying the message's hop", () => {
      const overlay = new Overlay({ leafSetSize: 4 }, 4);
      const a = overlay.bootstrap(NodeId.fromBigInt(1n << 120n));
      const b = overlay.join(NodeId.fromBigInt(9n << 120n));
      const id = a.send(b.self.id, 20, new Uint8Array(0), { wantAck: true }, 5);
      const route = a.takeOutputs().find((o) => o.type === "send" && o.out.message.type === "route");
      if (route?.type !== "send") throw new Error("expected a route hop");
      const refusal = { code: 9, reason: "no application" };
      a.receive(b.self, { type: "ack", messageId: id, hops: 1, refusal }, 6);
      expect(events(a.takeOutputs())).toContainEqual({
        type: "refused",
        messageId: id,
        refusedBy: b.self,
        refusal,
      });
      a.sendFailed(route.out, 7);
      expect(sends(a.takeOutputs()).filter((s) => s.message.type === "route")).toEqual([]);
    });

    it("a message sent to itself is acknowledged or refused by events once the application answers", () => {
      const node = new PastryNode(info(1n, 1), {
        random: seededRandom(1),
        config: { applicationAcks: true },
      });
      node.bootstrap(0);
      node.takeOutputs();
      const ok = node.send(NodeId.fromBigInt(5n), 16, new Uint8Array(0), { wantAck: true }, 1);
      expect(events(node.takeOutputs()).some((e) => e.type === "acked")).toBe(false);
      node.applicationAcknowledged(ok, 2);
      expect(events(node.takeOutputs())).toContainEqual({
        type: "acked",
        messageId: ok,
        deliveredBy: node.self,
        hops: 0,
      });
      const no = node.send(NodeId.fromBigInt(5n), 16, new Uint8Array(0), { wantAck: true }, 3);
      node.takeOutputs();
      node.applicationRefused(no, { code: 8, reason: "too slow" }, 4);
      expect(events(node.takeOutputs())).toContainEqual({
        type: "refused",
        messageId: no,
        refusedBy: node.self,
        refusal: { code: 8, reason: "too slow" },
      });
    });

    it("property: the origin hears nothing before the application's first answer, then exactly that answer for every copy", () => {
      const op = fc.record({
        kind: fc.constantFrom("copy", "ack", "refuse"),
        message: fc.integer({ min: 0, max: 3 }),
      });
      fc.assert(
        fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
          const node = deliverer();
          const answered = new Map<string, "ack" | "refuse">();
          const arrived = new Set<string>();
          const refusal = { code: 9, reason: "no application" };
          ops.forEach(({ kind, message: n }, t) => {
            const id = `m-${n}`;
            if (kind === "copy") {
              const message = { ...routeMessage(node.self.id, origin, 1, id), wantAck: true };
              node.receive(origin, { type: "route", message }, t + 1);
            } else if (kind === "ack") node.applicationAcknowledged(id, t + 1);
            else node.applicationRefused(id, refusal, t + 1);
            const out = acks(node.takeOutputs());
            // What the origin must hear for this step, given what happened before it.
            let expected: "ack" | "refuse" | undefined;
            if (kind === "copy") {
              if (arrived.has(id)) expected = answered.get(id);
              arrived.add(id);
            } else if (arrived.has(id) && !answered.has(id)) {
              answered.set(id, kind);
              expected = kind;
            }
            const heard = out.map((s) =>
              s.message.type === "ack" && s.message.refusal !== undefined ? "refuse" : "ack",
            );
            expect(heard).toEqual(expected === undefined ? [] : [expected]);
          });
        }),
        { seed: 1212, numRuns: 200 },
      );
    });

    it("a message that wants no ack needs no answer from the application", () => {
      const node = deliverer();
      node.receive(origin, { type: "route", message: routeMessage(node.self.id, origin, 1) }, 1);
      node.applicationAcknowledged("m-1", 2);
      expect(acks(node.takeOutputs())).toEqual([]);
    });
  });

  it("join: retried through the next seed on timeout; joinFailed after every seed failed twice", () => {
    const node = new PastryNode(info(1n, 1), { random: { next: () => 0 }, config: { joinTimeoutMs: 100 } });
    node.join(["127.0.0.1:1", "127.0.0.1:2"], 0);
    const addresses: string[] = [];
    const collect = (): void => {
      for (const o of node.takeOutputs())
        if (o.type === "send" && o.out.message.type === "join") addresses.push(o.out.address);
    };
    collect();
    let failed: RoutingEvent[] = [];
    for (let t = 100; t <= 1000 && failed.length === 0; t += 100) {
      node.tick(t);
      const outputs = node.takeOutputs();
      for (const o of outputs)
        if (o.type === "send" && o.out.message.type === "join") addresses.push(o.out.address);
      failed = events(outputs).filter((e) => e.type === "joinFailed");
    }
    expect(addresses).toEqual(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:2"]);
    expect(failed).toHaveLength(1);
    expect(node.isReady()).toBe(false);
  });

  it("2.3 a node still joining holds a join routed to it and serves it once ready", () => {
    const seed = info(1n, 1);
    const joiner = new PastryNode(info(5n, 2), { random: seededRandom(2) });
    const other = info(9n, 3);
    joiner.join([seed.localAddress], 0);
    joiner.takeOutputs();
    joiner.receive(seed, { type: "join", joiner: other, hops: 1 }, 1);
    expect(sends(joiner.takeOutputs()).filter((s) => s.message.type === "joinState")).toHaveLength(0);
    joiner.receive(seed, { type: "joinState", rows: [], neighbours: [], leafSet: [], final: true }, 2);
    const probe = sends(joiner.takeOutputs()).find((s) => s.message.type === "probe");
    expect(probe?.to).toBe(seed);
    joiner.receive(seed, { type: "probeReply", echoSentAt: 2, leafSet: [joiner.self], ready: true }, 3);
    const outputs = joiner.takeOutputs();
    expect(joiner.isReady()).toBe(true);
    const served = sends(outputs).filter((s) => s.message.type === "joinState");
    expect(served.map((s) => s.to)).toEqual([other]);
    expect(served[0]?.message).toMatchObject({ final: true });
  });

  it("2.4 join's second phase: the nearest entry of each row and the three nearest neighbours are asked for rows", () => {
    const at = (hex: string, port: number): NodeInfo =>
      nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), port, 1);
    const joiner = new PastryNode(at("50", 1), { random: seededRandom(1) });
    // Round trips: a 10, b 20, c 30, d 40, e 50. a and e share the first digit with the joiner (row 1).
    const [a, b, c, d, e] = [at("51", 2), at("90", 3), at("a0", 4), at("b0", 5), at("52", 6)];
    const rtt = new Map([a, b, c, d, e].map((n, i) => [n.id.hex, 10 * (i + 1)]));
    joiner.join([a.localAddress], 0);
    joiner.takeOutputs();
    const everyone = [a, b, c, d, e];
    joiner.receive(
      a,
      {
        type: "joinState",
        rows: [
          { row: 0, entries: [b, c, d] },
          { row: 1, entries: [a, e] },
        ],
        neighbours: everyone,
        leafSet: everyone,
        final: true,
      },
      1,
    );
    // Every probe is answered after its peer's round trip; the joiner becomes ready on the last answer.
    let outputs = joiner.takeOutputs();
    const answered = new Set<string>();
    for (let round = 0; round < 3 && !joiner.isReady(); round++) {
      for (const { to, message } of sends(outputs)) {
        if (message.type !== "probe" || to === undefined || answered.has(to.id.hex)) continue;
        answered.add(to.id.hex);
        const reply = {
          type: "probeReply",
          echoSentAt: message.sentAt,
          leafSet: everyone,
          ready: true,
        } as const;
        joiner.receive(to, reply, message.sentAt + (rtt.get(to.id.hex) as number));
      }
      outputs = joiner.takeOutputs();
    }
    expect(joiner.isReady()).toBe(true);
    const asked = sends(outputs)
      .flatMap(({ to, message }) =>
        message.type === "rowRequest" ? [`${to?.localAddress} row ${message.row}`] : [],
      )
      .sort();
    // Nearest entries: b for row 0, a for row 1. Nearest neighbours: a (rows 0 and 1: it shares a digit), b, c.
    expect(asked).toEqual(
      [
        `${a.localAddress} row 0`,
        `${a.localAddress} row 1`,
        `${b.localAddress} row 0`,
        `${c.localAddress} row 0`,
      ].sort(),
    );
  });

  it("heartbeats go to the predecessor only; receiving one emits a heartbeat event", () => {
    const overlay = new Overlay({ leafSetSize: 8 }, 6);
    const random = seededRandom(9);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 5; i++) overlay.join(randomId(random));
    const node = overlay.live()[2]!;
    node.tick(10_000);
    const heartbeats = sends(node.takeOutputs()).filter((s) => s.message.type === "heartbeat");
    expect(heartbeats.map((h) => h.to?.id.hex)).toEqual([node.leafSet().left[0]?.id.hex]);
    const predecessor = overlay.live().find((n) => n.self.id.equals(node.leafSet().left[0]!.id))!;
    predecessor.receive(node.self, { type: "heartbeat" }, 10_001);
    expect(events(predecessor.takeOutputs())).toContainEqual({ type: "heartbeat", from: node.self });
  });

  it("is deterministic: the same inputs give the same outputs", () => {
    const run = (): string => {
      const overlay = new Overlay({ leafSetSize: 8 }, 11);
      const random = seededRandom(12);
      overlay.bootstrap(randomId(random));
      for (let i = 0; i < 12; i++) overlay.join(randomId(random));
      for (const n of overlay.live()) overlay.send(n, randomId(random), true);
      overlay.pump();
      overlay.advance(3_000);
      return (
        JSON.stringify(overlay.deliveries.map((d) => [d.at.self.id.hex, d.message.id, d.message.hops])) +
        String(overlay.messagesMoved)
      );
    };
    expect(run()).toBe(run());
  });
});
