// A node that was itself paused (SIGSTOP, a stalled process) must not act on its stale view when it wakes.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import type { RouteMessage } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

function settledOverlay(pauseThresholdMs: number): { overlay: Overlay; nodes: PastryNode[] } {
  const overlay = new Overlay({ pauseThresholdMs, leafSetSize: 8 }, 3);
  const random = seededRandom(5);
  const first = overlay.bootstrap(randomId(random));
  const nodes = [first];
  for (let i = 0; i < 11; i++) nodes.push(overlay.join(randomId(random)));
  overlay.advance(5_000);
  return { overlay, nodes };
}

/** A hop for `key` arriving at `at` from `from`, `ms` after the last tick: what a paused node reads first. */
function hopAfterPause(
  overlay: Overlay,
  at: PastryNode,
  from: PastryNode,
  key: NodeId,
  ms: number,
): RouteMessage {
  overlay.now += ms;
  const message: RouteMessage = {
    id: "after-pause-1",
    key,
    purpose: 16,
    payload: new Uint8Array(),
    origin: from.self,
    hops: 1,
    maxHops: 20,
    wantAck: false,
  };
  at.receive(from.self, { type: "route", message }, overlay.now);
  return message;
}

describe("paused node", () => {
  it("holds what it would deliver until its leaf set is confirmed again, then delivers it once", () => {
    const { overlay, nodes } = settledOverlay(2_500);
    const [x, y] = [nodes[4]!, nodes[7]!];
    const probesBefore = overlay.sentByType.get("probe") ?? 0;
    const message = hopAfterPause(overlay, x, y, x.self.id, 10_000);
    overlay.collect(x);
    // Nothing delivered on the stale view; every leaf-set member is probed first.
    expect(overlay.deliveriesOf(message.id)).toHaveLength(0);
    const members = new Set([...x.leafSet().left, ...x.leafSet().right].map((n) => n.id.hex));
    expect((overlay.sentByType.get("probe") ?? 0) - probesBefore).toBe(members.size);
    expect(x.isReady()).toBe(false);
    // The answers come; the held hop is delivered once the leaf set is confirmed.
    overlay.advance(3_000);
    expect(x.isReady()).toBe(true);
    const delivered = overlay.deliveriesOf(message.id);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.at.self.id.hex).toBe(overlay.trueOwner(message.key).self.id.hex);
  });

  it("without the pause check the same input is delivered on the spot (what the check prevents)", () => {
    const { overlay, nodes } = settledOverlay(Number.POSITIVE_INFINITY);
    const [x, y] = [nodes[4]!, nodes[7]!];
    const message = hopAfterPause(overlay, x, y, x.self.id, 10_000);
    overlay.collect(x);
    expect(overlay.deliveriesOf(message.id)).toHaveLength(1);
  });

  it("ordinary tick gaps do not trigger it", () => {
    const { overlay, nodes } = settledOverlay(2_500);
    overlay.advance(10_000);
    expect(nodes.every((n) => n.isReady())).toBe(true);
    const key = NodeId.fromString("k");
    overlay.send(nodes[0]!, key);
    overlay.pump();
    expect(overlay.deliveries.filter((d) => d.message.key.equals(key))).toHaveLength(1);
  });
});
