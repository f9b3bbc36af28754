// The overload storms of overload.test.ts as plain functions, so that test/routing/sweep-lossy-overload.ts can
// run one property over thousands of seeds and count the failures (fast-check stops at the first): the
// failure rate of the code before a change is the bar for the change.
import { clockwiseDistance, type NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import { leafSetsExact, Overlay, randomId, seededRandom } from "./overlay-harness.js";

export const MAINTENANCE = [
  "probe",
  "probeReply",
  "leafSet",
  "leafSetRequest",
  "rowRequest",
  "row",
  "heartbeat",
];

export function build(size: number, seed: number, leafSetSize: number): Overlay {
  const overlay = new Overlay({ leafSetSize }, seed);
  overlay.acks = true;
  const random = seededRandom(seed * 7919 + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < size; i++) overlay.join(randomId(random));
  overlay.advance(5_000);
  return overlay;
}

/** Every live node's nearest member on each side is its true ring neighbour: the key ranges are exact. */
export function neighboursExact(overlay: Overlay): boolean {
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

/**
 * Advances in steps of 5 s until every leaf set is exact, for at most `boundMs`; returns how long that took
 * (0: exact at once), or undefined if they are not exact by then.
 */
export function settle(overlay: Overlay, leafSetSize: number, boundMs: number): number | undefined {
  for (let waited = 0; waited < boundMs; waited += 5_000) {
    if (leafSetsExact(overlay, leafSetSize)) return waited;
    overlay.advance(5_000);
  }
  return leafSetsExact(overlay, leafSetSize) ? boundMs : undefined;
}

export function maintenanceSent(overlay: Overlay): number {
  return MAINTENANCE.reduce((sum, type) => sum + (overlay.sentByType.get(type) ?? 0), 0);
}

/** Live nodes some live node has dropped from its leaf set (or never taken in), as exit events show. */
export function falseDeaths(overlay: Overlay, since: number): number {
  return overlay.events
    .slice(since)
    .filter((e) => e.event.type === "nodeExited" && !e.event.graceful)
    .filter((e) => e.event.type === "nodeExited" && !overlay.isDown(nodeAt(overlay, e.event.node.id))).length;
}

export function nodeAt(overlay: Overlay, id: NodeId): PastryNode {
  const node = overlay.live().find((n) => n.self.id.equals(id));
  if (node === undefined) throw new Error(`no node ${id.hex}`);
  return node;
}

/** Sends acknowledged messages from random nodes to random keys, spread over `durationMs`. */
export function trafficDuring(overlay: Overlay, seed: number, count: number, durationMs: number): string[] {
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

/** What one lossy storm (16 nodes, l = 8, 20 s with 10 % of messages lost) did; see runLossyOverload. */
export interface LossyOverloadVerdicts {
  /** Maintenance messages per node per second during the storm. */
  readonly stormMaintenanceRate: number;
  /** Every node's nearest member on each side is its true neighbour 30 s after the storm. */
  readonly neighboursExactAfter30s: boolean;
  readonly allReady: boolean;
  /** How long after those 30 s every leaf set was exact (within 10 minutes), or undefined. */
  readonly settledAfterMs: number | undefined;
  /** Maintenance messages per node per second over the 10 s after that. */
  readonly quietMaintenanceRate: number;
}

export const LOSSY_LEAF_SET_SIZE = 8;

/** The storm of the property "with a tenth of all messages lost as well", for one seed. */
export function runLossyOverload(seed: number): LossyOverloadVerdicts {
  const overlay = build(16, seed, LOSSY_LEAF_SET_SIZE);
  const sentBefore = maintenanceSent(overlay);
  overlay.overload = { until: overlay.now + 20_000, maxDelayMs: 1_500, callTimeoutMs: 1_000, dropRate: 0.1 };
  trafficDuring(overlay, seed + 2, 100, 20_000);
  const stormMaintenanceRate = (maintenanceSent(overlay) - sentBefore) / 16 / 20;
  overlay.advance(30_000);
  const neighboursExactAfter30s = neighboursExact(overlay);
  const allReady = overlay.live().every((node) => node.isReady());
  const settledAfterMs = settle(overlay, LOSSY_LEAF_SET_SIZE, 600_000);
  const quietBefore = maintenanceSent(overlay);
  overlay.advance(10_000);
  const quietMaintenanceRate = (maintenanceSent(overlay) - quietBefore) / 16 / 10;
  return { stormMaintenanceRate, neighboursExactAfter30s, allReady, settledAfterMs, quietMaintenanceRate };
}
