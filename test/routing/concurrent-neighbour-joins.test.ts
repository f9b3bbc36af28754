// Pastry's invariant for leaf sets: once churn stops, leaf-set exchange between neighbours converges to the
// true ring. Here pairs of nodes that are each other's ring neighbours join at the same time on an overloaded
// network (delays, late calls, loss), and for a while every message between the two of a pair is lost, as
// on a starved machine: each may find the other dead while they join. Once the faults stop, every leaf set
// must equal the truth within a bound, with no input but the overlay's own maintenance.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import { Overlay, leafSetOf, randomId, seededRandom, trueLeafSet } from "./overlay-harness.js";

const LEAF_SET_SIZE = 4;
/**
 * Leaf sets must match the truth this long after the faults stopped. Two neighbours that found each other
 * dead while joining (candidates, their deaths told to nobody) ignore gossip naming each other for a
 * failure timeout; the next leaf set of a common neighbour naming them afterwards brings them together.
 * Generous: the bound is what must hold, not how fast it goes.
 */
const CONVERGENCE_BOUND_MS = 120_000;

interface Scenario {
  readonly seed: number;
  readonly ringSize: number;
  readonly pairs: number;
  /** How long every message between the two nodes of a pair is lost, from the start of the joins. */
  readonly cutMs: number;
  readonly lossRate: number;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  ringSize: fc.integer({ min: 5, max: 10 }),
  pairs: fc.integer({ min: 1, max: 3 }),
  cutMs: fc.integer({ min: 0, max: 15_000 }),
  lossRate: fc.double({ min: 0, max: 0.05, noNaN: true }),
});

/** The l/2 nearest ready nodes on each side of `node`. */
/** An ID just clockwise of `id` (a gap no random ID of the ring falls into in practice). */
function justAfter(id: NodeId, gap: bigint): NodeId {
  return NodeId.fromBigInt(id.value + gap);
}

function run(s: Scenario): { unconverged: string[]; notReady: string[] } {
  const overlay = new Overlay({ leafSetSize: LEAF_SET_SIZE, proximityAware: false }, s.seed, "all");
  overlay.acks = true;
  const random = seededRandom(s.seed + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < s.ringSize; i++) overlay.join(randomId(random));
  overlay.advance(3_000);

  const start = overlay.now;
  const faultsEnd = start + Math.max(s.cutMs, 10_000);
  overlay.overload = { until: faultsEnd, maxDelayMs: 40, callTimeoutMs: 1_000, dropRate: s.lossRate };
  const partner = new Map<PastryNode, PastryNode>();
  for (let p = 0; p < s.pairs; p++) {
    const id = randomId(random);
    const a = overlay.startJoin(id);
    const b = overlay.startJoin(justAfter(id, 1n << 64n));
    partner.set(a, b);
    partner.set(b, a);
  }
  // Lost, and the sender is told nothing: its calls time out, as between two processes starved of CPU.
  overlay.hold = (sender, out) =>
    overlay.now < start + s.cutMs && partner.get(sender)?.self.localAddress === out.address;
  overlay.advance(faultsEnd - overlay.now);
  overlay.hold = undefined;
  // A joiner whose seed tries all failed gives up (its join went to its partner, or its final state was
  // lost); the daemon then joins again, as here.
  const seeds = overlay.live().filter((n) => n.isReady());
  for (const node of overlay.live()) {
    if (node.stats().status !== "idle") continue;
    node.join([seeds[Math.floor(random.next() * seeds.length)]!.self.localAddress], overlay.now);
    overlay.collect(node);
  }
  overlay.advance(CONVERGENCE_BOUND_MS);

  const ready = overlay.live().filter((n) => n.isReady());
  return {
    unconverged: ready
      .filter((n) => leafSetOf(n) !== trueLeafSet(n, ready, LEAF_SET_SIZE))
      .map((n) => `${n.self.id.hex}: has ${leafSetOf(n)}, truth ${trueLeafSet(n, ready, LEAF_SET_SIZE)}`),
    notReady: overlay
      .live()
      .filter((n) => !n.isReady())
      .map((n) => `${n.self.id.hex} ${n.stats().status}`),
  };
}

describe("concurrent joins of ring neighbours that cannot reach each other for a while", () => {
  it("every node is ready and every leaf set equals the truth 120 s after the faults stop", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const result = run(s);
        expect(result.notReady).toEqual([]);
        expect(result.unconverged).toEqual([]);
      }),
      { numRuns: 40, seed: 23, endOnFailure: true },
    );
  }, 180_000);
});
