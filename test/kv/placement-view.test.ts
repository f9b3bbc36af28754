// The replica-set cache (src/kv/placement.ts) over a real routing node: replicas() leaves suspects out, and
// a suspicion is raised or cleared without any leaf-set event, so the cache must follow the node's view
// itself, not the events: a suspected member leaves every cached set at once, and comes back once heard from.
import { describe, expect, it } from "vitest";
import { Placement } from "../../src/kv/placement.js";
import { ReplicationTracker } from "../../src/kv/re-replication.js";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "../routing/overlay-harness.js";

const K = 3;

/** Seven ready nodes, l = 8 (each has every other in its leaf set); `a` and its successor `b`. */
function ring(): { a: PastryNode; b: PastryNode } {
  const overlay = new Overlay({ leafSetSize: 8 }, 31);
  const random = seededRandom(32);
  overlay.bootstrap(randomId(random));
  for (let i = 0; i < 6; i++) overlay.join(randomId(random));
  const a = overlay.live()[0]!;
  const successor = a.leafSet().right[0]!;
  const b = overlay.live().find((n) => n.self.id.equals(successor.id))!;
  a.takeOutputs();
  return { a, b };
}

/** The placement as the runtime and the simulator build it over a node's view. */
function placementOf(node: PastryNode): Placement {
  return new Placement(() => node.replicaCandidates(), K);
}

/** Makes `a` suspect `b` (a heartbeat to it failed) at time `at`. */
function suspect(a: PastryNode, b: PastryNode, at: number): void {
  a.sendFailed({ to: b.self, address: b.self.localAddress, message: { type: "heartbeat" } }, at);
}

const ids = (set: readonly NodeInfo[]): string[] => set.map((n) => n.id.hex);

describe("the replica-set cache follows suspicion, which no leaf-set event reports", () => {
  it("a member suspected after its set was cached is out of the cached set at once, and back in once it is heard from", () => {
    const { a, b } = ring();
    const key = b.self.id;
    const placement = placementOf(a);
    expect(ids(placement.of(key).set)).toContain(b.self.id.hex);
    const before = placement.of(key).signature;

    suspect(a, b, 100_000);
    expect(a.stats().suspects).toBe(1);
    expect(ids(placement.of(key).set)).not.toContain(b.self.id.hex);
    expect(ids(placement.of(key).set)).toEqual(ids(a.replicas(key, K)));
    expect(placement.of(key).signature).not.toBe(before);

    a.heardFrom(b.self, 100_200);
    expect(a.stats().suspects).toBe(0);
    expect(ids(placement.of(key).set)).toContain(b.self.id.hex);
    expect(ids(placement.of(key).set)).toEqual(ids(a.replicas(key, K)));
    expect(placement.of(key).signature).toBe(before);
  });

  it("a suspicion starts a new re-replication pass over every held key (the set's new member needs them)", () => {
    const { a, b } = ring();
    const placement = placementOf(a);
    const tracker = new ReplicationTracker(placement, 3_600_000);
    const held = [b.self.id.hex, a.self.id.hex];
    expect(tracker.nextKeys(0, () => held, 10).sort()).toEqual([...held].sort());
    expect(tracker.nextKeys(1, () => held, 10)).toEqual([]);
    suspect(a, b, 100_000);
    expect(tracker.nextKeys(2, () => held, 10).sort()).toEqual([...held].sort());
  });

  it("a suspicion of a node outside the leaf set keeps every cached set as it was (no needless pass)", () => {
    const { a } = ring();
    const placement = placementOf(a);
    const tracker = new ReplicationTracker(placement, 3_600_000);
    const held = [a.self.id.hex];
    const epoch = placement.currentEpoch;
    expect(tracker.nextKeys(0, () => held, 10)).toEqual(held);
    const stranger = { ...a.self, id: randomId(seededRandom(99)), localAddress: "127.0.0.1:1" };
    a.sendFailed({ to: stranger, address: stranger.localAddress, message: { type: "heartbeat" } }, 100_000);
    expect(a.stats().suspects).toBe(1);
    expect(placement.currentEpoch).toBe(epoch);
    expect(tracker.nextKeys(1, () => held, 10)).toEqual([]);
  });
});
