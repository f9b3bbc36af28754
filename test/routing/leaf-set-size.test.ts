// Why the smallest leaf set is 4: with two neighbours on each side, one failed (or suspected) neighbour
// never makes a node deliver a key that a live, confirmed node is closer to; with one per side it does.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

const RING = 1n << 128n;
const NODES = 12;

interface Run {
  /** Deliveries made after the crash. */
  readonly checked: number;
  /** Of those, deliveries at a node other than the live ready node closest to the key. */
  readonly wrong: number;
}

/**
 * Builds a ring, crashes one node (its neighbours either suspect it at once or have not noticed yet), then
 * sends keys that fall around the crashed node from random live nodes, over the seconds in which the
 * failure is detected and repaired.
 */
function crashAndRoute(seed: number, leafSetSize: number, victimIndex: number, suspectAtOnce: boolean): Run {
  const overlay = new Overlay({ leafSetSize }, seed);
  const random = seededRandom(seed + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < NODES; i++) overlay.join(randomId(random));
  overlay.advance(2000);
  const ring = [...overlay.live()].sort((a, b) => (a.self.id.value < b.self.id.value ? -1 : 1));
  const at = victimIndex % ring.length;
  const victim = ring[at]!;
  const before = ring[(at + ring.length - 1) % ring.length]!;
  const after = ring[(at + 1) % ring.length]!;
  overlay.crash(victim);
  if (suspectAtOnce) {
    for (const neighbour of [before, after]) {
      neighbour.sendFailed(
        { to: victim.self, address: victim.self.localAddress, message: { type: "heartbeat" } },
        overlay.now,
      );
      overlay.collect(neighbour);
    }
  }
  const firstChecked = overlay.deliveries.length;
  const keyNear = (): NodeId => {
    // Anywhere between the crashed node's two ring neighbours: the keys it owned and those next to them.
    const span = (after.self.id.value - before.self.id.value + RING) % RING;
    const offset = BigInt(Math.floor(random.next() * 2 ** 30)) * (span / 2n ** 30n);
    return NodeId.fromBigInt((before.self.id.value + offset) % RING);
  };
  const live = (): PastryNode[] => overlay.live();
  for (let round = 0; round < 12; round++) {
    for (let i = 0; i < 8; i++) {
      const from = live()[Math.floor(random.next() * live().length)]!;
      overlay.send(from, keyNear());
    }
    overlay.pump();
    overlay.advance(400, 100);
  }
  const deliveries = overlay.deliveries.slice(firstChecked);
  const wrong = deliveries.filter((d) => d.at.self.id.hex !== d.trueOwnerHex).length;
  return { checked: deliveries.length, wrong };
}

describe("leaf-set size against one failure per side", () => {
  it("with l >= 4, one crashed neighbour (suspected or not yet noticed) never makes a node deliver a key a live ready node is closer to", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(4, 6, 8),
        fc.nat({ max: NODES - 1 }),
        fc.boolean(),
        (seed, leafSetSize, victim, suspectAtOnce) => {
          const run = crashAndRoute(seed, leafSetSize, victim, suspectAtOnce);
          expect(run.checked).toBeGreaterThan(0);
          expect(run.wrong).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("with l = 2 the same scenario does deliver at the wrong node (what the minimum of 4 rules out)", () => {
    let wrong = 0;
    for (let seed = 1; seed <= 20 && wrong === 0; seed++) {
      for (let victim = 0; victim < NODES && wrong === 0; victim += 3) {
        wrong += crashAndRoute(seed, 2, victim, true).wrong;
      }
    }
    expect(wrong).toBeGreaterThan(0);
  });
});
