// Overload storms (16 processes on 2 busy cores): answers come late, calls time out although their message
// arrived, some messages are lost. The overlay must ride it out: no live node declared dead for good,
// maintenance traffic bounded while it lasts, leaf sets exact afterwards, acknowledged messages delivered
// once. Driven by the in-test pump's overload model (see Overload in overlay-harness.ts).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { clockwiseDistance, type NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

const RUNS = Number(process.env.ROUTING_RUNS ?? 4);
const MAINTENANCE = ["probe", "probeReply", "leafSet", "leafSetRequest", "rowRequest", "row", "heartbeat"];

function build(size: number, seed: number, leafSetSize: number): Overlay {
  const overlay = new Overlay({ leafSetSize }, seed);
  overlay.acks = true;
  const random = seededRandom(seed * 7919 + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < size; i++) overlay.join(randomId(random));
  overlay.advance(5_000);
  return overlay;
}

function leafSetsExact(overlay: Overlay, leafSetSize: number): boolean {
  const live = overlay.live();
  const half = leafSetSize / 2;
  return live.every((node) => {
    const others = live.filter((n) => n !== node).map((n) => n.self.id);
    const nearest = (distance: (o: NodeId) => bigint): string[] =>
      [...others]
        .sort((a, b) => (distance(a) < distance(b) ? -1 : distance(a) > distance(b) ? 1 : 0))
        .slice(0, half)
        .map((id) => id.hex);
    const actual = node.leafSet();
    return (
      JSON.stringify(actual.right.map((n) => n.id.hex)) ===
        JSON.stringify(nearest((o) => clockwiseDistance(node.self.id, o))) &&
      JSON.stringify(actual.left.map((n) => n.id.hex)) ===
        JSON.stringify(nearest((o) => clockwiseDistance(o, node.self.id)))
    );
  });
}

/** Every live node's nearest member on each side is its true ring neighbour: the key ranges are exact. */
function neighboursExact(overlay: Overlay): boolean {
  const live = overlay.live().map((n) => n.self.id);
  return overlay.live().every((node) => {
    const others = live.filter((id) => !id.equals(node.self.id));
    const nearest = (distance: (o: NodeId) => bigint): string | undefined =>
      others.reduce<NodeId | undefined>(
        (best, o) => (best === undefined || distance(o) < distance(best) ? o : best),
        undefined,
      )?.hex;
    const { left, right } = node.leafSet();
    return (
      right[0]?.id.hex === nearest((o) => clockwiseDistance(node.self.id, o)) &&
      left[0]?.id.hex === nearest((o) => clockwiseDistance(o, node.self.id))
    );
  });
}

/** Advances in steps of 5 s until every leaf set is exact, for at most `boundMs`; returns whether they are. */
function settle(overlay: Overlay, leafSetSize: number, boundMs: number): boolean {
  for (let waited = 0; waited < boundMs; waited += 5_000) {
    if (leafSetsExact(overlay, leafSetSize)) return true;
    overlay.advance(5_000);
  }
  return leafSetsExact(overlay, leafSetSize);
}

function maintenanceSent(overlay: Overlay): number {
  return MAINTENANCE.reduce((sum, type) => sum + (overlay.sentByType.get(type) ?? 0), 0);
}

/** Live nodes some live node has dropped from its leaf set (or never taken in), as exit events show. */
function falseDeaths(overlay: Overlay, since: number): number {
  return overlay.events
    .slice(since)
    .filter((e) => e.event.type === "nodeExited" && !e.event.graceful)
    .filter((e) => e.event.type === "nodeExited" && !overlay.isDown(nodeAt(overlay, e.event.node.id))).length;
}

function nodeAt(overlay: Overlay, id: NodeId): PastryNode {
  const node = overlay.live().find((n) => n.self.id.equals(id));
  if (node === undefined) throw new Error(`no node ${id.hex}`);
  return node;
}

/** Sends acknowledged messages from random nodes to random keys, spread over `durationMs`. */
function trafficDuring(overlay: Overlay, seed: number, count: number, durationMs: number): string[] {
  const random = seededRandom(seed);
  const ids: string[] = [];
  const step = 250;
  for (let t = 0; t < durationMs; t += step) {
    for (let i = 0; i < Math.ceil((count * step) / durationMs) && ids.length < count; i++) {
      const nodes = overlay.live();
      const from = nodes[Math.floor(random.next() * nodes.length)] as PastryNode;
      ids.push(overlay.send(from, randomId(random), true));
    }
    overlay.advance(step);
  }
  return ids;
}

describe("overload storms: late answers, timed-out calls that arrived, lost messages", () => {
  it("answers up to 3x the probe timeout late: no live node declared dead, each acked message delivered once", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const leafSetSize = 32;
        const overlay = build(16, seed, leafSetSize);
        const eventsBefore = overlay.events.length;
        const sentBefore = maintenanceSent(overlay);
        // 20 s of starvation: calls take up to 1.5 s, a third of them time out at 1 s but still arrive.
        overlay.overload = {
          until: overlay.now + 20_000,
          maxDelayMs: 1_500,
          callTimeoutMs: 1_000,
          dropRate: 0,
        };
        const ids = trafficDuring(overlay, seed + 1, 200, 20_000);
        const stormMaintenance = maintenanceSent(overlay) - sentBefore;
        overlay.advance(10_000);

        expect(falseDeaths(overlay, eventsBefore)).toBe(0);
        expect(leafSetsExact(overlay, leafSetSize)).toBe(true);
        // Heartbeats (1/s), gossip (0.2/s), the probes they prompt and a few repairs: measured 2.2-2.6 per node per s.
        expect(stormMaintenance / 16 / 20).toBeLessThan(4);
        const acked = new Set(
          overlay.events.flatMap((e) => (e.event.type === "acked" ? [e.event.messageId] : [])),
        );
        expect(acked.size).toBeGreaterThan(ids.length * 0.9);
        for (const id of ids) {
          const at = overlay.deliveriesOf(id);
          expect(at.length, `message ${id}`).toBeLessThanOrEqual(1);
          if (acked.has(id)) expect(at, `acked message ${id}`).toHaveLength(1);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("with a tenth of all messages lost as well: ranges exact 30 s after, leaf sets exact in 10 min, traffic back to quiet", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
        const leafSetSize = 8;
        const overlay = build(16, seed, leafSetSize);
        const sentBefore = maintenanceSent(overlay);
        overlay.overload = {
          until: overlay.now + 20_000,
          maxDelayMs: 1_500,
          callTimeoutMs: 1_000,
          dropRate: 0.1,
        };
        trafficDuring(overlay, seed + 2, 100, 20_000);
        const stormMaintenance = maintenanceSent(overlay) - sentBefore;
        expect(stormMaintenance / 16 / 20).toBeLessThan(4);
        // Repair after the storm. A node's nearest neighbours hear from it first-hand within a heartbeat or a
        // failure timeout (its heartbeat, its successor's probe), so every range is exact 30 s on.
        overlay.advance(30_000);
        expect(neighboursExact(overlay)).toBe(true);
        for (const node of overlay.live()) expect(node.isReady()).toBe(true);
        // The rest of each leaf set has no such bound when a death push or its refutation was lost: the death
        // is believed for a failure timeout (heard of) or 60 s (found first-hand and pushed), and then only
        // anti-entropy, one random member every 15-30 s, brings the live node back (docs/protocol.md,
        // Leaf-set maintenance). Measured over 9,000 seeds: 0.3 % not exact 30 s on, all within 230 s.
        expect(settle(overlay, leafSetSize, 600_000)).toBe(true);
        // Quiet again: heartbeat and gossip, 1.2 per node per second.
        const quietBefore = maintenanceSent(overlay);
        overlay.advance(10_000);
        expect((maintenanceSent(overlay) - quietBefore) / 16 / 10).toBeLessThan(2);
      }),
      // 53585: a refutation lost, and the repair's answer from the node that reported the death, naming the
      // node again, was ignored (see failure-handling.test.ts).
      // 499472, 694364 (and 406161 with a short-side rule tried since): a row namer's death notice (its one
      // proximity probe lost in the storm) dropped a live leaf-set member that nothing named again (see
      // member-death-table-notice.test.ts). 18 of seeds 400,001-405,000 failed so before.
      { numRuns: RUNS, examples: [[53585], [406161], [499472], [694364]] },
    );
  });
});
