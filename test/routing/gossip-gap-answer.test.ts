// Anti-entropy goes one way (a node gossips to its predecessor), so a node whose first word from a new or
// refuting neighbour was lost would hear of it from nobody. The receiver of a member's whole leaf set that
// lacks a member of its own that the sender should hold answers with its own leaf set (and probes that member
// if it has not heard from it lately: it may be the one that is wrong).
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { quietOverlay } from "./overlay-harness.js";

const leafSetsTo = (outputs: readonly Output[], to: NodeInfo): PeerMessage[] =>
  outputs.flatMap((o) =>
    o.type === "send" && o.out.message.type === "leafSet" && o.out.to?.id.equals(to.id) === true
      ? [o.out.message]
      : [],
  );

/**
 * A quiet 10-node overlay (leaf sets of 4), ring order ... p2 p1 [node] m x ...: `sender` = p1, whose right
 * side is node, m; `gap` = its leaf set with m left out and x in its place; node heard from m just now.
 */
function setup(): { node: PastryNode; sender: NodeInfo; missing: NodeInfo; gap: NodeInfo[]; now: number } {
  const o = quietOverlay(10, 11);
  const node = o.live()[0] as PastryNode;
  const { left, right } = node.leafSet();
  const [p1, p2] = left as [NodeInfo, NodeInfo];
  const [m, x] = right as [NodeInfo, NodeInfo];
  const beyond = o
    .live()
    .find((n) => n.self.id.equals(p2.id))!
    .leafSet().left[0] as NodeInfo;
  const now = o.now + 100;
  node.heardFrom(m, now);
  node.takeOutputs();
  return { node, sender: p1, missing: m, gap: [beyond, p2, node.self, x], now };
}

describe("a member's leaf set lacking a member of ours", () => {
  it("is answered with our leaf set, which names the missing node", () => {
    const { node, sender, missing, gap, now } = setup();
    node.receive(sender, { type: "leafSet", leafSet: gap, removed: [] }, now);
    const answers = leafSetsTo(node.takeOutputs(), sender);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ type: "leafSet", removed: [] });
    const named = answers[0]?.type === "leafSet" ? answers[0].leafSet : [];
    expect(named.some((n) => n.id.equals(missing.id))).toBe(true);
  });

  it("is answered, and the member probed, when we have not heard from the member lately either", () => {
    const { node, sender, missing, gap, now } = setup();
    const later = now + 10_000;
    node.receive(sender, { type: "leafSet", leafSet: gap, removed: [] }, later);
    const outputs = node.takeOutputs();
    expect(leafSetsTo(outputs, sender)).toHaveLength(1);
    const probes = outputs.filter(
      (o) => o.type === "send" && o.out.message.type === "probe" && o.out.to?.id.equals(missing.id) === true,
    );
    expect(probes).toHaveLength(1);
  });

  it("is answered once per failure timeout (6 s), not again at once", () => {
    const { node, sender, missing, gap, now } = setup();
    node.receive(sender, { type: "leafSet", leafSet: gap, removed: [] }, now);
    expect(leafSetsTo(node.takeOutputs(), sender)).toHaveLength(1);
    node.receive(sender, { type: "leafSet", leafSet: gap, removed: [] }, now + 10);
    expect(leafSetsTo(node.takeOutputs(), sender)).toEqual([]);
    node.heardFrom(missing, now + 6_000);
    node.receive(sender, { type: "leafSet", leafSet: gap, removed: [] }, now + 6_000);
    expect(leafSetsTo(node.takeOutputs(), sender)).toHaveLength(1);
  });

  it("is not answered when it came with a death push (its sender is repairing)", () => {
    const { node, sender, gap, now } = setup();
    const elsewhere = gap[0] as NodeInfo;
    node.receive(sender, { type: "leafSet", leafSet: gap, removed: [elsewhere.id] }, now);
    expect(leafSetsTo(node.takeOutputs(), sender)).toEqual([]);
  });

  it("is not answered when it lists every member it should", () => {
    const { node, sender, missing, gap, now } = setup();
    const whole = [gap[0], gap[1], node.self, missing] as NodeInfo[];
    node.receive(sender, { type: "leafSet", leafSet: whole, removed: [] }, now);
    expect(leafSetsTo(node.takeOutputs(), sender)).toEqual([]);
  });
});
