// A routing-table death notice (a leaf-set message with no leaf set: death-notices.ts, or the notice to a row
// namer whose entry did not answer one proximity probe, named-dead-entry.test.ts) does not remove a leaf-set
// member: the member is probed. A live member dropped on such a word may never be named to us again (the
// overload property's seed 406161). A death pushed with the pusher's leaf set is believed, as before.
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, PeerMessage } from "../../src/routing/types.js";
import { quietOverlay, type Overlay } from "./overlay-harness.js";

const notice = (dead: NodeInfo): PeerMessage => ({ type: "leafSet", leafSet: [], removed: [dead.id] });

const members = (node: PastryNode): NodeInfo[] => {
  const { left, right } = node.leafSet();
  return [...left, ...right];
};
const holds = (node: PastryNode, other: NodeInfo): boolean =>
  members(node).some((n) => n.id.equals(other.id));

/** A quiet 10-node overlay (leaf sets of 4): `node`, its far right member, its nearest left one, a non-member. */
function setup(): {
  o: Overlay;
  node: PastryNode;
  member: NodeInfo;
  neighbour: NodeInfo;
  outsider: NodeInfo;
} {
  const o = quietOverlay(10, 11);
  const node = o.live()[0] as PastryNode;
  const { left, right } = node.leafSet();
  const outsider = o.live().find((n) => n !== node && !holds(node, n.self)) as PastryNode;
  return { o, node, member: right[1] as NodeInfo, neighbour: left[0] as NodeInfo, outsider: outsider.self };
}

/** `member`'s death as `from` would push it: with `from`'s leaf set (here: `node`'s others). */
function push(node: PastryNode, from: NodeInfo, member: NodeInfo): PeerMessage {
  const leafSet = members(node).filter((n) => !n.id.equals(member.id) && !n.id.equals(from.id));
  return { type: "leafSet", leafSet, removed: [member.id] };
}

describe("a leaf-set member's death told by a routing-table notice", () => {
  it("leaves the member in the leaf set, checked by a probe it answers", () => {
    const { o, node, member, outsider } = setup();
    let probes = 0;
    o.observe = (from, output) => {
      if (from === node && output.type === "send" && output.out.message.type === "probe")
        probes += output.out.to?.id.equals(member.id) === true ? 1 : 0;
    };
    node.receive(outsider, notice(member), o.now);
    expect(holds(node, member)).toBe(true);
    o.collect(node);
    o.advance(30_000);
    expect(probes).toBeGreaterThan(0);
    expect(holds(node, member)).toBe(true);
    expect(o.events.filter((e) => e.at === node && e.event.type === "nodeExited")).toEqual([]);
  });

  it("leaves the member in the leaf set when the notice comes from another member too", () => {
    const { o, node, member, neighbour } = setup();
    node.receive(neighbour, notice(member), o.now);
    expect(holds(node, member)).toBe(true);
  });

  it("drops the member once the probe goes unanswered", () => {
    const { o, node, member, outsider } = setup();
    o.crash(o.live().find((n) => n.self.id.equals(member.id)) as PastryNode);
    node.receive(outsider, notice(member), o.now);
    expect(holds(node, member)).toBe(true);
    o.collect(node);
    o.advance(10_000);
    expect(holds(node, member)).toBe(false);
  });
});

describe("a leaf-set member's death pushed with the pusher's leaf set", () => {
  it("drops the member at once, pushed by a member", () => {
    const { o, node, member, neighbour } = setup();
    node.receive(neighbour, push(node, neighbour, member), o.now);
    expect(holds(node, member)).toBe(false);
  });

  it("drops the member at once, pushed by a node outside the leaf set", () => {
    const { o, node, member, outsider } = setup();
    node.receive(outsider, push(node, outsider, member), o.now);
    expect(holds(node, member)).toBe(false);
  });
});
