import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { LeafSet } from "../../src/routing/leaf-set.js";
import { nearMissesPerSide, NearMisses } from "../../src/routing/near-misses.js";
import type { PastryNode } from "../../src/routing/node.js";
import { DEFAULT_ROUTING_CONFIG, type NodeInfo, type Output } from "../../src/routing/types.js";
import { nodeInfo, quietOverlay, strangersPastFarRight, type Stranger } from "./overlay-harness.js";

// IDs a sixteenth of the ring apart around self at 8/16: far enough for the top-bits shortcut to decide.
const UNIT = 1n << 124n;
const at = (k: number): NodeInfo => nodeInfo(NodeId.fromBigInt(BigInt(8 + k) * UNIT), 1000 + k);
const SELF = at(0);
const WINDOW = 6_000;
const hexes = (nodes: readonly NodeInfo[] | undefined): string[] | undefined => nodes?.map((n) => n.id.hex);

/** A leaf set of l = 4 around self: members at -2, -1, +1 and `farRight` (both sides full). */
function fullLeafSet(farRight = 2): LeafSet {
  const leaf = new LeafSet(SELF, 4);
  for (const k of [-2, -1, 1, farRight]) leaf.insert(at(k));
  return leaf;
}

describe("near misses: nodes turned away by a full leaf set, offered back once a side is refilled past them", () => {
  it("hands a near miss back when a side is refilled past it, once", () => {
    const leaf = fullLeafSet();
    const misses = new NearMisses(SELF, WINDOW, 4);
    misses.record(at(3), 1_000); // beyond the right end (+2), which holds a member not yet known dead
    expect(misses.due(leaf, 1_000)).toBeUndefined();
    // +2 is removed and the side refilled with +5, named to us: +3 now lies inside the range, unnamed.
    leaf.remove(at(2).id.hex);
    leaf.insert(at(5));
    expect(hexes(misses.due(leaf, 4_000))).toEqual([at(3).id.hex]);
    expect(misses.due(leaf, 4_000)).toBeUndefined();
    expect(misses.any).toBe(false);
  });

  it("a near miss the candidates refused is offered again at a later change, until its contact is a window old", () => {
    const leaf = fullLeafSet();
    const misses = new NearMisses(SELF, WINDOW, 4);
    misses.record(at(3), 1_000);
    leaf.remove(at(2).id.hex);
    leaf.insert(at(5));
    expect(hexes(misses.due(leaf, 4_000))).toEqual([at(3).id.hex]);
    misses.refused(at(3));
    expect(hexes(misses.due(leaf, 5_000))).toEqual([at(3).id.hex]);
    misses.refused(at(3));
    // Heard at 1 s: by 7 s (a window later) it is no evidence of life any more.
    expect(misses.due(leaf, 7_000)).toBeUndefined();
    expect(misses.any).toBe(false);
    // Only a node the last due() handed back is kept again.
    misses.refused(at(4));
    expect(misses.any).toBe(false);
  });

  it("offers nothing while a side is short: the side's repair request is in charge then", () => {
    const leaf = fullLeafSet();
    const misses = new NearMisses(SELF, WINDOW, 4);
    misses.record(at(3), 1_000);
    leaf.remove(at(2).id.hex);
    expect(misses.due(leaf, 2_000)).toBeUndefined();
    expect(misses.any).toBe(true);
    // Refilled with the near miss itself (it answered a probe): nothing left to offer.
    leaf.insert(at(3));
    expect(misses.due(leaf, 2_500)).toBeUndefined();
    expect(misses.any).toBe(false);
  });

  it("keeps the nearest per side, so a nearer one that crashed does not hide the live one behind it", () => {
    const leaf = fullLeafSet();
    const misses = new NearMisses(SELF, WINDOW, 4);
    expect(nearMissesPerSide(4)).toBe(2);
    misses.record(at(6), 500);
    misses.record(at(3), 1_000); // crashes later
    misses.record(at(4), 1_500);
    misses.record(at(7), 1_600); // farther than the two kept: not kept
    misses.record(at(-4), 1_700); // the other side
    misses.forget(at(3).id.hex); // found dead
    leaf.remove(at(2).id.hex);
    leaf.insert(at(5));
    expect(hexes(misses.due(leaf, 3_000))).toEqual([at(4).id.hex]);
  });

  it("keeps l/2 per side: the l/2 - 1 that crashed with the far member do not hide the live node beyond", () => {
    // l = 8, IDs a 64th of the ring apart: members at -4..-1 and +1..+4; +4 crashed undetected, and with it
    // +5, +6 and +7 (heard from before the crashes); +8 is alive.
    const step = (k: number): NodeInfo => nodeInfo(NodeId.fromBigInt(BigInt(32 + k) << 122n), 2000 + k);
    const leaf = new LeafSet(step(0), 8);
    for (const k of [-4, -3, -2, -1, 1, 2, 3, 4]) leaf.insert(step(k));
    const misses = new NearMisses(step(0), WINDOW, 8);
    expect(nearMissesPerSide(8)).toBe(4);
    for (const k of [5, 6, 7]) misses.record(step(k), 0);
    misses.record(step(8), 3_000); // turned away by the full side (+4 not yet known dead)
    for (const k of [4, 5, 6, 7]) {
      leaf.remove(step(k).id.hex); // all found dead
      misses.forget(step(k).id.hex);
    }
    expect(misses.due(leaf, 6_000)).toBeUndefined(); // short: its repair request is in charge
    leaf.insert(step(9)); // refilled from farther out
    expect(hexes(misses.due(leaf, 6_000))).toEqual([step(8).id.hex]);
  });

  it("keeps the left side apart from the right", () => {
    const leaf = new LeafSet(SELF, 4);
    for (const k of [-1, -2, 1, 2]) leaf.insert(at(k));
    const misses = new NearMisses(SELF, WINDOW, 4);
    misses.record(at(-3), 1_000);
    misses.record(at(3), 1_000);
    leaf.remove(at(-2).id.hex);
    leaf.insert(at(-5));
    expect(hexes(misses.due(leaf, 2_000))).toEqual([at(-3).id.hex]);
    expect(misses.any).toBe(true); // +3 still waits behind the right end
  });

  it("keeps a node beyond the right end that lies nearer counter-clockwise (a sparse stretch) for the right", () => {
    // l = 8, positions in 64ths of the ring from self at 0: left members -1..-4 (near misses -5..-8 heard),
    // right members +1, +2, +3 and +30; +34 lies past the right end but nearer counter-clockwise (30 64ths).
    const pos = (k: number): NodeInfo => nodeInfo(NodeId.fromBigInt(BigInt((k + 64) % 64) << 122n), 3000 + k);
    const leaf = new LeafSet(pos(0), 8);
    for (const k of [-4, -3, -2, -1, 1, 2, 3, 30]) leaf.insert(pos(k));
    const misses = new NearMisses(pos(0), WINDOW, 8);
    for (const k of [-5, -6, -7, -8]) misses.record(pos(k), 0);
    misses.record(pos(34), 1_000); // turned away: +30 (crashed, not yet known dead) is the right end
    leaf.remove(pos(30).id.hex);
    leaf.insert(pos(40)); // refilled from farther out
    expect(hexes(misses.due(leaf, 3_000))).toEqual([pos(34).id.hex]);
  });

  it("forgets a node heard too long ago, and lets a fresh farther one replace it", () => {
    const leaf = fullLeafSet();
    const misses = new NearMisses(SELF, WINDOW, 4);
    misses.record(at(3), 0);
    misses.record(at(4), 0);
    misses.record(at(5), WINDOW); // the two kept are stale now: the fresh one is kept
    leaf.remove(at(2).id.hex);
    leaf.insert(at(6));
    expect(hexes(misses.due(leaf, WINDOW + 1))).toEqual([at(5).id.hex]);
    misses.record(at(3), 10_000);
    leaf.remove(at(5).id.hex);
    leaf.insert(at(7));
    expect(misses.due(leaf, 10_000 + WINDOW)).toBeUndefined();
    expect(misses.any).toBe(false);
  });
});

const probesTo = (outputs: readonly Output[], to: NodeInfo): number =>
  outputs.filter(
    (o) => o.type === "send" && o.out.message.type === "probe" && o.out.to?.id.equals(to.id) === true,
  ).length;

describe("a node whose full side turned a live node away, and was then refilled past it", () => {
  it("probes the node turned away, and takes it in when it answers", () => {
    // A quiet 10-node overlay (l = 4); ring order ... node r1 r2 r3 r4 ...
    const o = quietOverlay(10, 7);
    const ring = o.live().sort((a, b) => a.self.id.compare(b.self.id));
    const node = ring[0] as PastryNode;
    const [r1, r2, r3, r4] = [1, 2, 3, 4].map((i) => (ring[i] as PastryNode).self) as [
      NodeInfo,
      NodeInfo,
      NodeInfo,
      NodeInfo,
    ];
    expect(node.leafSet().right.map((n) => n.id.hex)).toEqual([r1.id.hex, r2.id.hex]);
    const now = o.now + 100;
    // r3 talks to us while our right side is full: it fits nowhere.
    node.receive(r3, { type: "leafSetRequest" }, now);
    node.takeOutputs();
    // r2 leaves naming only r4 (as a stale or partial leaf set would): the side is short, r4 is probed,
    // and r3 is not offered yet.
    node.receive(r2, { type: "leave", leafSet: [r4] }, now + 1_000);
    const onLeave = node.takeOutputs();
    expect(probesTo(onLeave, r4)).toBe(1);
    expect(probesTo(onLeave, r3)).toBe(0);
    // r4 answers: the side is full again, with r3 inside its range and nobody naming it. r3 is probed.
    node.receive(r4, { type: "probeReply", echoSentAt: now + 1_000, leafSet: [], ready: true }, now + 1_100);
    expect(node.leafSet().right.map((n) => n.id.hex)).toEqual([r1.id.hex, r4.id.hex]);
    expect(probesTo(node.takeOutputs(), r3)).toBe(1);
    node.receive(r3, { type: "probeReply", echoSentAt: now + 1_100, leafSet: [], ready: true }, now + 1_200);
    expect(node.leafSet().right.map((n) => n.id.hex)).toEqual([r1.id.hex, r3.id.hex]);
  });
});

const leavesTo = (outputs: readonly Output[], to: NodeInfo): number =>
  outputs.filter(
    (o) => o.type === "send" && o.out.message.type === "leave" && o.out.to?.id.equals(to.id) === true,
  ).length;

describe("a leaving node and the nodes just past its far ends", () => {
  it("sends its leave notice to a near miss heard within the failure timeout, not to one heard before", () => {
    // A quiet 30-node overlay (l = 4, a neighbourhood set of 2). For two nodes, a stranger between the far
    // right member and the node after it talks to it: it may hold the node at its own far end, and nothing
    // but the node knows it (its table slot is held and the neighbourhood set full: it is in no state).
    const o = quietOverlay(30, 7, { neighbourhoodSize: 2 });
    const [fresh, stale] = strangersPastFarRight(o) as [Stranger, Stranger];
    expect(stale).toBeDefined();
    const now = o.now + 100;
    for (const { node, stranger } of [fresh, stale]) {
      node.receive(stranger, { type: "leafSetRequest" }, now);
      node.takeOutputs();
      expect(node.knownPeers().some((n) => n.id.equals(stranger.id))).toBe(false);
    }
    fresh.node.leave(now + 1_000);
    expect(leavesTo(fresh.node.takeOutputs(), fresh.stranger)).toBe(1);
    stale.node.leave(now + DEFAULT_ROUTING_CONFIG.failureTimeoutMs);
    expect(leavesTo(stale.node.takeOutputs(), stale.stranger)).toBe(0);
  });
});
