import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { NeighbourhoodSet } from "../../src/routing/neighbourhood-set.js";
import { ProximityStore, addressFor } from "../../src/routing/proximity.js";
import { BoundedMap } from "../../src/routing/bounded-map.js";
import type { NodeInfo } from "../../src/routing/types.js";
import type { PastryNode } from "../../src/routing/node.js";
import { Overlay, nodeInfo, randomId, seededRandom } from "./overlay-harness.js";

const peer = (n: number, region = "r1", incarnation = 1): NodeInfo =>
  nodeInfo(NodeId.fromBigInt(BigInt(n)), 3000 + n, incarnation, region);

describe("2.1 neighbourhood set", () => {
  it("keeps the M nearest by proximity, nearest first; unmeasured rank last", () => {
    const proximity = new Map<string, number>();
    const set = new NeighbourhoodSet(2, (p) => proximity.get(p.id.hex));
    const [a, b, c] = [peer(1), peer(2), peer(3)];
    proximity.set(a.id.hex, 30);
    proximity.set(b.id.hex, 10);
    expect(set.insert(c)).toBe(true); // room: even unmeasured
    expect(set.insert(a)).toBe(true);
    expect(set.members()).toEqual([a, c]);
    expect(set.insert(b)).toBe(true); // evicts the unmeasured c
    expect(set.members()).toEqual([b, a]);
    expect(set.insert(c)).toBe(false);
    proximity.set(a.id.hex, 5);
    set.insert(a); // re-ranked after a new measurement
    expect(set.members()).toEqual([a, b]);
    expect(set.remove(a.id.hex)).toBe(true);
    expect(set.remove(a.id.hex)).toBe(false);
    expect(set.size).toBe(1);
  });

  it("a new incarnation replaces the member", () => {
    const set = new NeighbourhoodSet(4, () => undefined);
    set.insert(peer(1));
    expect(set.insert(peer(1, "r1", 2))).toBe(true);
    expect(set.get(peer(1).id.hex)?.incarnation).toBe(2);
    expect(set.size).toBe(1);
  });
});

describe("2.1 proximity metric", () => {
  it("smooths RTT samples and scales peers in other regions", () => {
    const self = peer(0, "eu");
    const store = new ProximityStore(self, 10);
    const local = peer(1, "eu");
    const remote = peer(2, "us");
    expect(store.proximity(local)).toBeUndefined();
    store.record(local, 10);
    expect(store.proximity(local)).toBe(10);
    store.record(local, 20);
    expect(store.rtt(local)).toBeCloseTo(13, 5); // 10 + 0.3 * (20 - 10)
    store.record(remote, 4);
    expect(store.proximity(remote)).toBe(40);
    store.record(remote, -1); // nonsense samples are ignored
    expect(store.rtt(remote)).toBe(4);
    store.forget(remote.id.hex);
    expect(store.proximity(remote)).toBeUndefined();
  });

  it("derives retransmission timeouts from the same samples, as TCP does (RFC 6298)", () => {
    const store = new ProximityStore(peer(0, "eu"), 10);
    const p = peer(1, "eu");
    expect(store.timeout(p.id.hex, 50, 1_000)).toBe(50); // unmeasured: the floor
    store.record(p, 100); // srtt 100, rttvar 50
    expect(store.timeout(p.id.hex, 50, 1_000)).toBe(300);
    expect(store.timeout(p.id.hex, 50, 200)).toBe(200); // capped
    store.record(p, 100); // srtt 100, rttvar 37.5
    expect(store.timeout(p.id.hex, 50, 1_000)).toBe(250);
  });

  it("forgets old measurements of peers outside our state, and evicts those first when full", () => {
    const kept = new Set<string>();
    const store = new ProximityStore(peer(0, "eu"), 10, {
      capacity: 3,
      keep: (hex) => kept.has(hex),
    });
    const [a, b, c, d] = [peer(1), peer(2), peer(3), peer(4)];
    kept.add(a.id.hex);
    store.record(a, 1, 0);
    store.record(b, 2, 0);
    store.record(c, 3, 500);
    store.prune(1_000, 1_000); // b is exactly 1 s old and not kept; a is kept; c is young
    expect([a, b, c].map((p) => store.rtt(p))).toEqual([1, undefined, 3]);
    store.record(b, 2, 1_000);
    store.record(d, 4, 1_000); // full: the oldest peer not kept (c) goes, not the older kept a
    expect([a, b, c, d].map((p) => store.rtt(p))).toEqual([1, 2, undefined, 4]);
    expect(store.size).toBe(3);
  });

  it("prune asks keep about an old measurement once per keep epoch, again in a new epoch, and afresh for a reused slot", () => {
    const kept = new Set<string>();
    const asked: string[] = [];
    const store = new ProximityStore(peer(0, "eu"), 10, {
      capacity: 10,
      keep: (hex) => {
        asked.push(hex);
        return kept.has(hex);
      },
    });
    const [a, b, c] = [peer(1), peer(2), peer(3)];
    kept.add(a.id.hex);
    store.record(a, 1, 0);
    store.prune(1_000, 1_000, 1);
    store.prune(2_000, 1_000, 1); // same epoch: a was kept in it, not asked again
    expect(asked).toEqual([a.id.hex]);
    kept.delete(a.id.hex);
    store.prune(3_000, 1_000, 2); // a new epoch: asked, no longer kept, forgotten
    expect(asked).toEqual([a.id.hex, a.id.hex]);
    expect(store.rtt(a)).toBeUndefined();
    kept.add(c.id.hex);
    store.record(c, 3, 3_000);
    store.prune(4_000, 1_000, 3);
    store.forget(c.id.hex);
    store.record(b, 2, 4_000); // takes c's released slot: c's answer in epoch 3 is not b's
    store.prune(5_000, 1_000, 3);
    expect(asked).toEqual([a.id.hex, a.id.hex, c.id.hex, b.id.hex]);
    expect(store.rtt(b)).toBeUndefined();
  });

  it("keeps every peer's figures apart through growth, forgetting, pruning and eviction (packed slots)", () => {
    // A reference model: one plain object per peer, updated by the same rules.
    interface Model {
      smoothed: number;
      srtt: number;
      rttvar: number;
      at: number;
    }
    const model = new Map<string, Model>();
    const kept = new Set<string>();
    const capacity = 40;
    const store = new ProximityStore(peer(0, "eu"), 10, { capacity, keep: (hex) => kept.has(hex) });
    const random = seededRandom(77);
    const peers = Array.from({ length: 120 }, (_, i) => peer(i + 1, i % 3 === 0 ? "us" : "eu"));
    for (const p of peers.slice(0, 10)) kept.add(p.id.hex);
    for (let step = 0; step < 5_000; step++) {
      const p = peers[Math.floor(random.next() * peers.length)]!;
      const hex = p.id.hex;
      const roll = random.next();
      if (roll < 0.8) {
        const rtt = Math.round(random.next() * 300);
        store.record(p, rtt, step);
        const known = model.get(hex);
        if (known === undefined) {
          if (model.size >= capacity) {
            const victim = [...model.keys()].find((h) => !kept.has(h)) ?? [...model.keys()][0]!;
            model.delete(victim);
          }
          model.set(hex, { smoothed: rtt, srtt: rtt, rttvar: rtt / 2, at: step });
        } else {
          known.smoothed += 0.3 * (rtt - known.smoothed);
          known.rttvar = 0.75 * known.rttvar + 0.25 * Math.abs(known.srtt - rtt);
          known.srtt = 0.875 * known.srtt + 0.125 * rtt;
          known.at = step;
        }
      } else if (roll < 0.9) {
        store.forget(hex);
        model.delete(hex);
      } else {
        store.prune(step, 200);
        for (const [h, m] of model) if (step - m.at >= 200 && !kept.has(h)) model.delete(h);
      }
      expect(store.size).toBe(model.size);
    }
    for (const p of peers) {
      const m = model.get(p.id.hex);
      expect(store.rtt(p)).toBe(m?.smoothed);
      expect(store.proximity(p)).toBe(
        m === undefined ? undefined : m.smoothed * (p.region === "eu" ? 1 : 10),
      );
      const timeout = m === undefined ? 5 : Math.min(10_000, Math.max(5, m.srtt + 4 * m.rttvar));
      expect(store.timeout(p.id.hex, 5, 10_000)).toBe(timeout);
    }
  });

  it("addresses a peer locally in the same region, globally across regions", () => {
    const self = peer(0, "eu");
    expect(addressFor(self, peer(1, "eu"))).toBe(peer(1, "eu").localAddress);
    expect(addressFor(self, peer(1, "us"))).toBe(peer(1, "us").globalAddress);
  });
});

describe("bounded bookkeeping", () => {
  it("forgets the oldest key beyond capacity", () => {
    const map = new BoundedMap<string, number>(2);
    map.set("a", 1);
    map.set("b", 2);
    map.set("a", 3); // an update does not evict
    expect(map.size).toBe(2);
    map.set("c", 4);
    expect(map.has("a")).toBe(false);
    expect([...map.entries()]).toEqual([
      ["b", 2],
      ["c", 4],
    ]);
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});

describe("2.4 proximity during joins: who measures whom", () => {
  /** Seven ready proximity-aware nodes; returns one of them with its outputs taken. */
  function readyNode(): PastryNode {
    const overlay = new Overlay({ leafSetSize: 8, proximityAware: true }, 31);
    const random = seededRandom(32);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 6; i++) overlay.join(randomId(random));
    const node = overlay.live()[0]!;
    node.takeOutputs();
    return node;
  }
  /** Every peer `node` knows measured at 10 ms or more (the harness's own round trips take no time). */
  function measureKnownPeers(node: PastryNode, now: number): void {
    for (const peer of node.knownPeers()) node.reportRtt(peer, 10, now);
    node.takeOutputs();
  }
  const sentTo = (node: PastryNode, peer: NodeInfo): string[] =>
    node
      .takeOutputs()
      .flatMap((o) => (o.type === "send" && o.out.to?.id.equals(peer.id) ? [o.out.message.type] : []));

  it("a joiner's probe is answered but not measured back: its announce is", () => {
    const node = readyNode();
    const joiner = nodeInfo(randomId(seededRandom(33)), 4001);
    node.receive(joiner, { type: "probe", sentAt: 1, joining: true }, 100_000);
    expect(sentTo(node, joiner)).toEqual(["probeReply"]);
    node.receive(joiner, { type: "announce" }, 100_100);
    expect(sentTo(node, joiner)).toContain("probe");
  });

  it("a joiner measured by its probe reply's acknowledgement ranks by it at once, before any announce", () => {
    const node = readyNode();
    measureKnownPeers(node, 99_000);
    const joiner = nodeInfo(randomId(seededRandom(33)), 4001);
    node.receive(joiner, { type: "probe", sentAt: 1, joining: true }, 100_000);
    node.reportRtt(joiner, 0.5, 100_010);
    expect(node.neighbourhood()[0]?.id.equals(joiner.id)).toBe(true);
    expect(sentTo(node, joiner)).not.toContain("probe");
  });

  it("a joiner announces itself only to the peers it did not probe: the others measured it already", () => {
    const overlay = new Overlay({ leafSetSize: 8, proximityAware: true }, 31);
    const random = seededRandom(32);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 12; i++) overlay.join(randomId(random));
    const sent = new Map<string, Set<string>>();
    const joinerId = randomId(random);
    overlay.observe = (node, output) => {
      if (output.type !== "send" || output.out.to === undefined || !node.self.id.equals(joinerId)) return;
      const type = output.out.message.type;
      if (!sent.has(type)) sent.set(type, new Set());
      sent.get(type)?.add(output.out.to.id.hex);
    };
    const joiner = overlay.join(joinerId);
    expect(joiner.isReady()).toBe(true);
    const probed = sent.get("probe") ?? new Set<string>();
    const announced = sent.get("announce") ?? new Set<string>();
    expect(probed.size).toBeGreaterThan(0);
    for (const hex of announced) expect(probed.has(hex)).toBe(false);
    // Every peer it holds heard from it: a probe, or the announce.
    for (const peer of joiner.knownPeers())
      expect(probed.has(peer.id.hex) || announced.has(peer.id.hex)).toBe(true);
  });

  it("the sender of a route hop is taken into the table unmeasured: traffic costs no probes", () => {
    const node = readyNode();
    const sender = nodeInfo(randomId(seededRandom(35)), 4003);
    const message = {
      id: "m-1",
      key: node.self.id,
      purpose: 16,
      payload: new Uint8Array(),
      origin: sender,
      hops: 1,
      maxHops: 40,
      wantAck: false,
    };
    node.receive(sender, { type: "route", message }, 100_000);
    expect(sentTo(node, sender)).not.toContain("probe");
    // Any other first-hand contact from it measures it.
    node.receive(sender, { type: "heartbeat" }, 100_100);
    expect(sentTo(node, sender)).toContain("probe");
  });

  it("a ready node's probe is answered, not probed back: the reply's acknowledgement measures it", () => {
    const node = readyNode();
    measureKnownPeers(node, 99_000);
    const stranger = nodeInfo(randomId(seededRandom(34)), 4002);
    node.receive(stranger, { type: "probe", sentAt: 1, joining: false }, 100_000);
    expect(sentTo(node, stranger)).toEqual(["probeReply"]);
    node.reportRtt(stranger, 0.5, 100_010);
    expect(node.neighbourhood()[0]?.id.equals(stranger.id)).toBe(true);
    expect(sentTo(node, stranger)).toEqual([]);
  });
});
