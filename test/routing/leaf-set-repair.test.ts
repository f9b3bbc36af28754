import { describe, expect, it } from "vitest";
import { routingConfig } from "../../src/routing/config.js";
import { NodeId } from "../../src/routing/id.js";
import { LeafSet } from "../../src/routing/leaf-set.js";
import { LeafSetRepair } from "../../src/routing/leaf-set-repair.js";
import type { PeerSend } from "../../src/routing/outbox.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const config = routingConfig({ leafSetSize: 4, probeTimeoutMs: 500, heartbeatIntervalMs: 1000 });
const at = (n: bigint, port = Number(n)): NodeInfo => nodeInfo(NodeId.fromBigInt(n << 100n), port);
const self = at(100n);
const notBusy = (): boolean => false;

function leafOf(...members: NodeInfo[]): LeafSet {
  const leaf = new LeafSet(self, config.leafSetSize);
  for (const m of members) leaf.insert(m);
  return leaf;
}

const targets = (sends: readonly PeerSend[]): string[] =>
  sends.map((s) => `${s.message.type}->${s.to.id.hex.slice(0, 2)}`);

describe("LeafSetRepair", () => {
  it("keeps only the l/2 nearest candidates per side: a farther one is not to be probed", () => {
    const repair = new LeafSetRepair(self, config);
    for (const n of [98n, 99n, 101n, 102n]) expect(repair.offerCandidate(at(n))).toBe(true);
    expect(repair.offerCandidate(at(103n))).toBe(false);
    expect(repair.isCandidate(at(103n).id.hex)).toBe(false);
  });

  it("a death found first-hand is pushed to every member and to the dead node, once per tick", () => {
    const repair = new LeafSetRepair(self, config);
    const dead = at(103n);
    const leaf = leafOf(at(99n), at(101n));
    repair.memberDied(dead, true, 0);
    const first = repair.finish(true, leaf, 0, notBusy);
    expect(first.sends).toHaveLength(3);
    expect(first.sends.every((s) => s.message.type === "leafSet" && s.message.removed[0] === dead.id)).toBe(
      true,
    );
    repair.memberDied(at(98n), true, 1);
    expect(repair.finish(true, leaf, 1, notBusy).sends).toEqual([]);
    repair.newTick();
    expect(repair.finish(true, leaf, 2, notBusy).sends).toHaveLength(3);
  });

  it("a death we were only told of is not pushed; a reinstated node is struck from the push", () => {
    const repair = new LeafSetRepair(self, config);
    const leaf = leafOf(at(101n));
    repair.memberDied(at(103n), false, 0);
    expect(repair.finish(true, leaf, 0, notBusy).sends).toEqual([]);
    repair.memberDied(at(104n), true, 0);
    repair.reinstate(at(104n).id.hex);
    expect(repair.finish(true, leaf, 0, notBusy).sends).toEqual([]);
  });

  it("a member that joins after a death is told of it; one that joins after it was reinstated is not", () => {
    const repair = new LeafSetRepair(self, config);
    const newcomer = at(101n);
    const leaf = leafOf(newcomer);
    repair.memberDied(at(103n), false, 0);
    repair.memberAdded(newcomer, true);
    const { sends } = repair.finish(true, leaf, 0, notBusy);
    expect(sends).toHaveLength(1);
    expect(sends[0]?.message).toMatchObject({ type: "leafSet", removed: [at(103n).id] });
    repair.reinstate(at(103n).id.hex);
    repair.memberAdded(newcomer, true);
    expect(repair.finish(true, leaf, 1, notBusy).sends).toEqual([]);
  });

  it("a new member whose probe we answer is told the recent deaths in that answer, and sent no leaf set of its own for them", () => {
    const repair = new LeafSetRepair(self, config);
    const prober = at(101n);
    const other = at(102n);
    const leaf = leafOf(prober, other);
    repair.memberDied(at(103n), false, 0);
    repair.memberAdded(prober, true);
    repair.memberAdded(other, true);
    expect(repair.deathsToTell(other)).toEqual([at(103n).id]);
    // Told once: asked again in the same input, nothing.
    expect(repair.deathsToTell(other)).toEqual([]);
    // A node that did not join during this input has nothing to be told.
    expect(repair.deathsToTell(at(99n))).toEqual([]);
    const { sends } = repair.finish(true, leaf, 0, notBusy);
    expect(targets(sends)).toEqual([`leafSet->${prober.id.hex.slice(0, 2)}`]);
  });

  it("a side that lost a member to a leave whose notice named its leaf set asks nobody", () => {
    const repair = new LeafSetRepair(self, config);
    const leaf = leafOf(at(98n), at(99n), at(101n), at(102n), at(103n), at(97n));
    repair.memberLost({ left: false, right: true }, true);
    expect(repair.finish(true, leaf, 0, notBusy).sends).toEqual([]);
  });

  it("a side whose nearest candidates are all members or being probed asks nobody; one idle candidate and it asks", () => {
    const repair = new LeafSetRepair(self, config);
    // The right side lost a member; a push named 102, nearer than 103, and 102 is being probed.
    const leaf = leafOf(at(97n), at(98n), at(99n), at(101n), at(103n));
    for (const n of [97n, 98n, 99n, 101n, 103n, 102n]) repair.offerCandidate(at(n));
    const probing102 = (hex: string): boolean => hex === at(102n).id.hex;
    const request = [`leafSetRequest->${at(103n).id.hex.slice(0, 2)}`];
    repair.memberLost({ left: false, right: true });
    expect(repair.finish(true, leaf, 0, notBusy, probing102).sends).toEqual([]);
    // No probe out to 102 (it answered earlier, while the side was full): the side asks its farthest member.
    repair.memberLost({ left: false, right: true });
    expect(targets(repair.finish(true, leaf, 1_000, notBusy, notBusy).sends)).toEqual(request);
    // 102 did not answer: too few candidates are left on that side, and it asks again.
    repair.dropCandidate(at(102n).id.hex, false);
    expect(targets(repair.finish(true, leaf, 2_000, notBusy, probing102).sends)).toEqual(request);
  });

  it("a short side filled from the far half of the ring asks its farthest member two probe timeouts later, unless refilled from its own half", () => {
    // The right side lost 102; a push from the left named 96 and 97, past the left end. A short side takes
    // any node, so 96 (nearest clockwise of the two, the long way round) fills the right side's second place.
    const setUp = (): { repair: LeafSetRepair; leaf: LeafSet } => {
      const repair = new LeafSetRepair(self, config);
      const leaf = leafOf(at(101n), at(102n), at(98n), at(99n));
      leaf.remove(at(102n).id.hex);
      for (const n of [98n, 99n, 101n, 96n, 97n]) repair.offerCandidate(at(n));
      expect(repair.isCandidate(at(96n).id.hex)).toBe(true);
      repair.memberLost({ left: false, right: true });
      return { repair, leaf };
    };
    const probing = (hex: string): boolean => [96n, 97n, 103n].some((n) => at(n).id.hex === hex);
    const request = [`leafSetRequest->${at(101n).id.hex.slice(0, 2)}`];
    const asks = setUp();
    expect(asks.repair.finish(true, asks.leaf, 0, notBusy, probing).sends).toEqual([]);
    expect(asks.repair.retryAt).toBe(1_000);
    expect(asks.repair.finish(true, asks.leaf, 999, notBusy, probing).sends).toEqual([]);
    expect(targets(asks.repair.finish(true, asks.leaf, 1_000, notBusy, probing).sends)).toEqual(request);
    // What is due now is the short side's own retry, two probe timeouts after its request.
    expect(asks.repair.retryAt).toBe(2_000);
    // Within the grace 103, beyond 101 on the right, talks to us (as the holder the relay told would): the
    // side is covered from its own half, and nobody is asked.
    const refilled = setUp();
    expect(refilled.repair.finish(true, refilled.leaf, 0, notBusy, probing).sends).toEqual([]);
    refilled.repair.offerCandidate(at(103n));
    expect(refilled.repair.finish(true, refilled.leaf, 1_000, notBusy, probing).sends).toEqual([]);
    expect(refilled.repair.retryAt).toBe(Number.POSITIVE_INFINITY);
  });

  it("a side that lost a member asks its farthest non-busy member, at most once per probe timeout", () => {
    const repair = new LeafSetRepair(self, config);
    const leaf = leafOf(at(98n), at(99n), at(101n), at(102n), at(103n), at(97n));
    repair.memberLost({ left: false, right: true });
    const busy = (hex: string): boolean => hex === at(102n).id.hex;
    expect(targets(repair.finish(true, leaf, 0, busy).sends)).toEqual([
      `leafSetRequest->${at(101n).id.hex.slice(0, 2)}`,
    ]);
    expect(repair.mayRequestLeafSet(at(101n), 499)).toBe(false);
    repair.memberLost({ left: false, right: true });
    expect(repair.finish(true, leaf, 499, busy).sends).toEqual([]);
    // Held back, not forgotten: the next input after the interval sends it.
    expect(targets(repair.finish(true, leaf, 500, busy).sends)).toHaveLength(1);
  });

  it("a side still short after its request asks again 2, 4 and 8 probe timeouts later, then no more until it was full again", () => {
    const repair = new LeafSetRepair(self, config);
    // Two adjacent crashes cut the right side to 101: the sides do not wrap round (the ring is larger).
    const leaf = leafOf(at(101n), at(102n), at(98n), at(99n));
    leaf.remove(at(102n).id.hex);
    expect(leaf.wrapsAround()).toBe(false);
    const asked = (now: number): string[] =>
      repair.finish(true, leaf, now, notBusy).sends.map((s) => `${s.message.type} ${s.to.id.hex}`);
    const ask101 = [`leafSetRequest ${at(101n).id.hex}`];
    repair.memberLost({ left: false, right: true });
    expect(asked(0)).toEqual(ask101);
    expect(repair.retryAt).toBe(1_000);
    expect(asked(999)).toEqual([]);
    expect(asked(1_000)).toEqual(ask101);
    expect(repair.retryAt).toBe(3_000);
    expect(asked(3_000)).toEqual(ask101);
    expect(repair.retryAt).toBe(7_000);
    expect(asked(7_000)).toEqual(ask101);
    expect(repair.retryAt).toBe(Number.POSITIVE_INFINITY);
    expect(asked(60_000)).toEqual([]);
    // Full again, then short again: the retries start afresh.
    leaf.insert(at(102n));
    expect(asked(61_000)).toEqual([]);
    leaf.remove(at(102n).id.hex);
    repair.memberLost({ left: false, right: true });
    expect(asked(62_000)).toEqual(ask101);
    expect(repair.retryAt).toBe(63_000);
  });

  it("a side that fills after its request is not asked for again", () => {
    const repair = new LeafSetRepair(self, config);
    const leaf = leafOf(at(101n), at(102n), at(98n), at(99n));
    leaf.remove(at(102n).id.hex);
    repair.memberLost({ left: false, right: true });
    expect(repair.finish(true, leaf, 0, notBusy).sends).toHaveLength(1);
    leaf.insert(at(103n));
    expect(repair.finish(true, leaf, 1_000, notBusy).sends).toEqual([]);
    expect(repair.retryAt).toBe(Number.POSITIVE_INFINITY);
  });

  it("announces the leaf set once per input that changed it, and only when ready", () => {
    const repair = new LeafSetRepair(self, config);
    const leaf = leafOf(at(101n));
    repair.markChanged();
    expect(repair.finish(false, leaf, 0, notBusy).changed).toBeUndefined();
    expect(repair.finish(true, leaf, 0, notBusy).changed).toEqual(leaf.list());
    expect(repair.finish(true, leaf, 0, notBusy).changed).toBeUndefined();
  });

  it("a node not ready drops batched pushes and repairs instead of sending them later", () => {
    const repair = new LeafSetRepair(self, config);
    const leaf = leafOf(at(99n), at(101n));
    repair.memberDied(at(103n), true, 0);
    repair.refute();
    repair.memberLost({ left: true, right: true });
    repair.finish(false, leaf, 0, notBusy);
    expect(repair.finish(true, leaf, 0, notBusy).sends).toEqual([]);
  });

  it("gossips every 6 heartbeats to the predecessor, in place of a heartbeat", () => {
    const repair = new LeafSetRepair(self, config);
    repair.startGossip(0);
    expect(repair.gossipDue(5_999)).toBe(false);
    expect(repair.gossipDue(6_000)).toBe(true);
    expect(repair.gossipDue(6_001)).toBe(false);
    expect(repair.gossip(leafOf())).toBeUndefined();
    const leaf = leafOf(at(98n), at(99n), at(101n));
    expect(repair.gossip(leaf)).toEqual({
      to: at(99n),
      message: { type: "leafSet", leafSet: leaf.list(), removed: [] },
    });
  });
});
