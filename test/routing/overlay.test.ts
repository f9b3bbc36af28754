// Whole-overlay behaviour: many PastryNode machines wired by the in-test message pump, checked against
// global truth (the sorted list of all live nodes).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { clockwiseDistance, type NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import type { RandomSource } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom, trueSides } from "./overlay-harness.js";
import {
  ADJACENT_CRASH_BOUND_MS,
  build,
  crashAdjacent,
  ringOrder,
  sendRandom,
} from "./adjacent-crash-runs.js";

const RUNS = Number(process.env.ROUTING_RUNS ?? 6);

/** Each message delivered exactly once, by the node that was the true owner at that moment. */
function expectDeliveredOnceAtOwner(overlay: Overlay, ids: readonly string[]): void {
  for (const id of ids) {
    const deliveries = overlay.deliveriesOf(id);
    expect(deliveries, `message ${id}`).toHaveLength(1);
    const [delivery] = deliveries;
    expect(delivery?.at.self.id.hex).toBe(delivery?.trueOwnerHex);
  }
}

/** Every live node's leaf-set sides equal the true nearest min(l/2, others) live nodes on each side. */
function expectLeafSetsExact(overlay: Overlay, leafSetSize: number): void {
  const live = overlay.live();
  for (const node of live) {
    const truth = trueSides(node, live, leafSetSize);
    const actual = node.leafSet();
    expect(
      actual.right.map((n) => n.id.hex),
      `right side of ${node.self.id.hex}`,
    ).toEqual(truth.right);
    expect(
      actual.left.map((n) => n.id.hex),
      `left side of ${node.self.id.hex}`,
    ).toEqual(truth.left);
  }
}

/**
 * Everything not dropped as "undeliverable" is delivered exactly once at the owner, and re-sending a
 * dropped message's key succeeds within `rounds` (each drop teaches the dropping node at least one more
 * failed peer). Dropped messages are never delivered.
 */
function expectDeliveredWithResends(overlay: Overlay, ids: readonly string[], rounds: number): void {
  let outstanding = ids;
  const delivered: string[] = [];
  for (let round = 0; round < rounds && outstanding.length > 0; round++) {
    const undeliverable = droppedAs(overlay, "undeliverable");
    const retried: string[] = [];
    for (const id of outstanding) {
      const drop = undeliverable.get(id);
      if (drop === undefined) delivered.push(id);
      else retried.push(overlay.send(drop.origin, drop.key));
    }
    // A hop that failed twice waits for the liveness verdict on its next node: time lets the probes finish.
    overlay.advance(5_000);
    outstanding = retried;
  }
  expectDeliveredOnceAtOwner(overlay, [...delivered, ...outstanding]);
  for (const id of droppedAs(overlay, "undeliverable").keys())
    expect(overlay.deliveriesOf(id)).toHaveLength(0);
}

/** Dropped messages by id, for one drop reason, with the node that originated them. */
function droppedAs(overlay: Overlay, reason: string): Map<string, { origin: PastryNode; key: NodeId }> {
  const dropped = new Map<string, { origin: PastryNode; key: NodeId }>();
  for (const { event } of overlay.events) {
    if (event.type !== "dropped" || event.reason !== reason) continue;
    const origin = overlay.byAddress.get(event.message.origin.localAddress);
    if (origin !== undefined) dropped.set(event.message.id, { origin, key: event.message.key });
  }
  return dropped;
}

/** The live nodes in ring order. */
describe("2.2 routing: a message reaches the numerically closest live node", () => {
  it("in random overlays, for random keys, from random origins", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 45 }), (seed, size) => {
        const overlay = build(size, seed, 8);
        expect(overlay.live().every((n) => n.isReady())).toBe(true);
        expectLeafSetsExact(overlay, 8);
        const ids = sendRandom(overlay, seededRandom(seed), 60, true);
        overlay.pump();
        expectDeliveredOnceAtOwner(overlay, ids);
        const acked = overlay.events.filter((e) => e.event.type === "acked").length;
        expect(acked).toBe(ids.length);
        const hops = overlay.deliveries.map((d) => d.message.hops);
        expect(Math.max(...hops)).toBeLessThanOrEqual(8);
      }),
      { numRuns: RUNS },
    );
  });
});

/**
 * Adjacent crashes that once failed the property below, each with what went wrong: [seed, l, crashes, every
 * failed send reported]. They run every time, beside the property's random seeds (as fast-check examples they
 * counted among its numRuns: at the default ROUTING_RUNS only the first six ran, and no random seed).
 */
const ADJACENT_CRASH_REGRESSIONS: readonly (readonly [number, number, number, boolean])[] = [
  // Three adjacent crashes whose outer ring neighbours are dead too; a branch that let only the dead node's
  // two ring neighbours push its death left a crashed node in a leaf set here.
  [389693, 8, 3, false],
  [304365, 16, 4, false],
  // A side emptied by four crashes asked a member whose own side the crashes had cut (its answer named
  // nothing new) and stayed one short until the gossip round, 28 s later: short sides now ask again.
  [487, 8, 4, false],
  [1743, 8, 4, false],
  // A side holding an undetected dead node turned away the live node beyond it; refilled later with a
  // node named to it from farther out, it held a hole behind that far member until gossip (30 s):
  // nodes turned away lately are offered again once the side is refilled past them (near-misses.ts).
  [2202, 8, 4, false],
  // The same, with the live node beyond not remembered: the two near misses kept per side were nodes
  // that crashed with the far member (30 s and 18.75 s): l/2 are kept per side now.
  [3069, 8, 4, false],
  [4109, 8, 4, false],
  // The node just beyond a right far end lay nearer counter-clockwise (a sparse stretch of the ring),
  // so its contact was kept as a near miss for the left side only (26.25 s): kept per direction now.
  [8831, 8, 4, false],
  // A finder that was not the dead node's neighbour checked only the crashes its own leaf set held;
  // the neighbour, told, found the rest one by one (16.5 s, 13.25 s): it checks those itself now,
  // the nearest first (beyond-checks.ts).
  [6078, 8, 4, false],
  [8238, 8, 4, false],
  // l/2 crashes at l = 16 (the generator draws at most 7; the sweep runs 8): a stale table row named a
  // crashed node just pushed dead to a node that did not hold it, which probed it for 3 s while it held
  // the candidate slot of the live node beyond (15 s): such deaths are believed briefly too.
  [21072, 16, 8, false],
  // A side whose near misses came back while the candidates held members and candidates still being
  // checked (crashed): refused, they were struck off and named by nobody until gossip (30 s). A near
  // miss refused so is kept to be offered again (near-misses.ts).
  [96780, 8, 4, false],
  // The case ADJACENT_CRASH_BOUND_MS is made of (exact after 12.25 s, past the 12 s the property allowed
  // before): the first crashed node heartbeated just before the crashes, a finder two places behind it
  // pushed its death, and its neighbour checked the three beyond, the nearest first.
  [141240, 8, 4, false],
  // The crashed run spans the ring's zero: the finder, the live node after it, found the first crash by a
  // failed send 3 s in, when the other three were not yet quiet to it, and checked none of them; its push
  // reached the neighbour while the neighbour's own probe of that crash was out, and named the three, so
  // the neighbour found them one verdict after another (14 s). A neighbour that suspected the dead node
  // itself checks every member past it now, the nearest first.
  [293331, 8, 4, false],
];

/**
 * Up to l/2 adjacent crashes (crashAdjacent): every leaf set exact within the bound, then 60 messages
 * delivered, at most `crashes + 1` sends each.
 */
function expectAdjacentCrashesRepaired(
  seed: number,
  leafSetSize: number,
  crashCount: number,
  reportAll: boolean,
): void {
  // Traffic right after the crashes exercises sendFailed; time then lets heartbeats and probes work.
  const { overlay, random, crashes } = crashAdjacent(seed, leafSetSize, crashCount, reportAll);
  overlay.advance(ADJACENT_CRASH_BOUND_MS);
  expectLeafSetsExact(overlay, leafSetSize);
  const ids = sendRandom(overlay, random, 60);
  overlay.advance(5_000);
  // Table entries for the crashed nodes are repaired lazily: a message whose hop fails twice at one
  // node waits for the probe's verdict, is routed around the dead node, and is dropped as
  // "undeliverable" if that fails too (and that node learns of both failures).
  expectDeliveredWithResends(overlay, ids, crashes + 1);
}

describe("2.3 node departure: adjacent crashes are repaired", () => {
  it("after up to l/2 adjacent crashes, every leaf set that held a crashed node drops it, with no hole, and delivery is correct", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(8, 16),
        fc.integer({ min: 1, max: 7 }),
        fc.boolean(),
        expectAdjacentCrashesRepaired,
      ),
      { numRuns: RUNS },
    );
  });

  it.each(ADJACENT_CRASH_REGRESSIONS)(
    "seed %i, l = %i, %i adjacent crashes (every failed send reported: %s), a case that once failed: repaired within the bound, delivery correct",
    expectAdjacentCrashesRepaired,
  );
});

describe("2.3 node arrival: a joining node never delivers what it does not own and loses nothing", () => {
  it("while messages flow during the join", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const overlay = build(20, seed, 8);
        const random = seededRandom(seed + 3);
        const ids: string[] = [];
        const joiner = overlay.startJoin(randomId(random));
        // Keys next to the joiner's ID are the ones whose owner changes during the join.
        for (let round = 0; round < 200 && (overlay.queued > 0 || ids.length < 40); round++) {
          const from = overlay.live().filter((n) => n.isReady())[round % 20] as PastryNode;
          const near = joinerNeighbourhoodKey(joiner.self.id, random);
          ids.push(overlay.send(from, near));
          if (round % 7 === 0) ids.push(overlay.send(joiner, near));
          for (let s = 0; s < 3; s++) overlay.step();
        }
        overlay.pump();
        expect(joiner.isReady()).toBe(true);
        expectDeliveredOnceAtOwner(overlay, ids);
        expect(overlay.deliveries.some((d) => d.at === joiner)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

/** A key within a small distance of `id`, on either side. */
function joinerNeighbourhoodKey(id: NodeId, random: RandomSource): NodeId {
  const offset = BigInt(Math.floor(random.next() * 2 ** 40)) << 60n;
  return random.next() < 0.5 ? idPlus(id, offset) : idPlus(id, -offset);
}

function idPlus(id: NodeId, delta: bigint): NodeId {
  return (id.constructor as unknown as { fromBigInt(v: bigint): NodeId }).fromBigInt(id.value + delta);
}

describe("2.3 node departure: a graceful leave repairs at once", () => {
  it("without any time passing, leaf sets are exact and every message reaches the owner", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom(8, 16), (seed, leafSetSize) => {
        const overlay = build(2 * leafSetSize + 6, seed, leafSetSize);
        const ring = ringOrder(overlay);
        const leaver = ring[seed % ring.length] as PastryNode;
        overlay.leave(leaver);
        expectLeafSetsExact(overlay, leafSetSize);
        const exited = overlay.events.filter((e) => e.event.type === "nodeExited" && e.event.graceful);
        expect(exited.length).toBeGreaterThanOrEqual(leafSetSize);
        const ids = sendRandom(overlay, seededRandom(seed), 60);
        overlay.pump();
        expect(droppedAs(overlay, "undeliverable").size).toBe(0);
        expectDeliveredOnceAtOwner(overlay, ids);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("2.3 node arrival: a restarted node (same id, new incarnation) rejoins", () => {
  it("replaces its old incarnation and owns its keys again", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.boolean(), (seed, detectFirst) => {
        const leafSetSize = 8;
        const overlay = build(24, seed, leafSetSize);
        const ring = ringOrder(overlay);
        const old = ring[seed % ring.length] as PastryNode;
        overlay.crash(old);
        // Either the crash is noticed before the restart, or the new incarnation arrives first.
        if (detectFirst) overlay.advance(6_000);
        const reborn = overlay.join(old.self.id, old.self.incarnation + 1);
        expect(reborn.isReady()).toBe(true);
        overlay.advance(6_000);
        expectLeafSetsExact(overlay, leafSetSize);
        const listings = overlay
          .live()
          .flatMap((node) => [...node.leafSet().left, ...node.leafSet().right])
          .filter((member) => member.id.equals(old.self.id));
        expect(listings.length).toBeGreaterThan(0);
        for (const member of listings) expect(member.incarnation).toBe(reborn.self.incarnation);
        const random = seededRandom(seed);
        const ids = sendRandom(overlay, random, 40);
        const nearReborn = overlay.live().map((n) => overlay.send(n, reborn.self.id));
        overlay.pump();
        expectDeliveredWithResends(overlay, [...ids, ...nearReborn], 3);
        expect(overlay.deliveries.filter((d) => d.at === reborn).length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });
});

/** Steps the overlay (ticking every 50 ms when quiet) until `node` is ready; bounded by `limitMs`. */
function runUntilReady(overlay: Overlay, node: PastryNode, limitMs: number): void {
  const end = overlay.now + limitMs;
  while (!node.isReady() && overlay.now < end) {
    if (!overlay.step()) overlay.advance(50, 50);
  }
}

describe("2.3 node arrival: a joiner whose answers are lost", () => {
  it("is not ready before every leaf-set member it was told of answered (lost probe replies)", () => {
    fc.assert(
      // Up to two of its answers lost: a third would leave all PROBE_ATTEMPTS (3) probes unanswered, which is a
      // death verdict by design.
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 2 }), (seed, lost) => {
        const leafSetSize = 8;
        const overlay = build(12, seed, leafSetSize);
        const random = seededRandom(seed + 11);
        const joiner = overlay.startJoin(randomId(random));
        // The joiner's nearest member answers nothing for a while (its channel to the joiner is stale).
        const nearest = overlay
          .live()
          .filter((n) => n !== joiner)
          .sort((a, b) => {
            const d = (n: PastryNode): bigint => {
              const cw = clockwiseDistance(joiner.self.id, n.self.id);
              const ccw = clockwiseDistance(n.self.id, joiner.self.id);
              return cw < ccw ? cw : ccw;
            };
            return d(a) < d(b) ? -1 : d(a) > d(b) ? 1 : 0;
          })[0] as PastryNode;
        let toLose = lost;
        overlay.lose = (sender, out) =>
          sender === nearest && out.to?.id.equals(joiner.self.id) === true && out.message.type !== "joinState"
            ? toLose-- > 0
            : false;
        runUntilReady(overlay, joiner, 30_000);
        expect(joiner.isReady()).toBe(true);
        // At the moment it became ready, before any repair could run, it knows its true neighbours.
        expectLeafSetsExact(overlay, leafSetSize);
      }),
      { numRuns: RUNS },
    );
  });

  it("gets its final join state again when the first send of it failed, without restarting its join", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const overlay = build(12, seed, 8);
        const random = seededRandom(seed + 13);
        const joiner = overlay.startJoin(randomId(random));
        let lostFinal = false;
        overlay.lose = (_sender, out) => {
          const m = out.message;
          if (lostFinal || m.type !== "joinState" || !m.final) return false;
          lostFinal = true;
          return true;
        };
        const joinsBefore = overlay.sentByType.get("join") ?? 0;
        const startedAt = overlay.now;
        runUntilReady(overlay, joiner, 30_000);
        expect(lostFinal).toBe(true);
        expect(joiner.isReady()).toBe(true);
        // Only the joiner's first join and the hops it took: no second attempt through a seed.
        const joinerJoins = (overlay.sentByType.get("join") ?? 0) - joinsBefore;
        expect(joinerJoins).toBeLessThanOrEqual(1 + 3);
        expect(overlay.now - startedAt).toBeLessThan(overlay.config.joinTimeoutMs ?? 10_000);
        expectLeafSetsExact(overlay, 8);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("2.3 node arrival: concurrent joins", () => {
  it("many nodes joining at once all become ready with exact leaf sets (joins reaching a joining node wait)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 2, max: 15 }),
        (seed, joiners) => {
          const overlay = build(8, seed, 8);
          const random = seededRandom(seed + 5);
          const joining = Array.from({ length: joiners }, () => overlay.startJoin(randomId(random)));
          overlay.pump();
          overlay.advance(3_000);
          expect(joining.every((n) => n.isReady())).toBe(true);
          expectLeafSetsExact(overlay, 8);
          const ids = sendRandom(overlay, random, 40);
          overlay.pump();
          expectDeliveredOnceAtOwner(overlay, ids);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("while messages to keys beside the joiners flow, each is delivered once, by its owner at that moment", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 2, max: 8 }), (seed, joiners) => {
        const overlay = build(10, seed, 8);
        const random = seededRandom(seed + 17);
        // Half the joiners are next to each other on the ring: adjacent concurrent joins are the hard case.
        const base = randomId(random);
        const joining = Array.from({ length: joiners }, (_, i) =>
          overlay.startJoin(i % 2 === 0 ? randomId(random) : joinerNeighbourhoodKey(base, random)),
        );
        const ids: string[] = [];
        for (let round = 0; round < 400 && (overlay.queued > 0 || ids.length < 120); round++) {
          const ready = overlay.live().filter((n) => n.isReady());
          const from = ready[round % ready.length] as PastryNode;
          const near = joining[round % joining.length] as PastryNode;
          ids.push(overlay.send(from, joinerNeighbourhoodKey(near.self.id, random)));
          for (let s = 0; s < 2; s++) if (!overlay.step()) overlay.advance(50, 50);
        }
        overlay.pump();
        overlay.advance(3_000);
        expect(joining.every((n) => n.isReady())).toBe(true);
        expectDeliveredOnceAtOwner(overlay, ids);
      }),
      { numRuns: RUNS },
    );
  });
});
