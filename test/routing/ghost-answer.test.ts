// A member whose leave notice or death push never reached a node two or more places from it stays in that
// node's leaf set as a ghost: only the gone node's nearest neighbours watched it. The node's predecessor,
// whose leaf set reaches past it, receives the node's gossip naming the ghost: it answers with a notice
// naming it (no leaf set: the node probes it rather than take the word) when it knows the ghost is gone, and
// when it learns so only by probing it as a candidate, once that probe ends.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import {
  DEFAULT_ROUTING_CONFIG,
  type NodeInfo,
  type Output,
  type PeerMessage,
} from "../../src/routing/types.js";
import { Overlay, nodeInfo, randomId, seededRandom } from "./overlay-harness.js";

const leafSetsTo = (outputs: readonly Output[], to: NodeInfo): PeerMessage[] =>
  outputs.flatMap((o) =>
    o.type === "send" && o.out.message.type === "leafSet" && o.out.to?.id.equals(to.id) === true
      ? [o.out.message]
      : [],
  );

/**
 * A quiet 10-node overlay (leaf sets of 4): a node, its successor `sender` (a member) and that one's leaf
 * set. Not proximity-aware: a table entry found dead is then told to nobody (death-notices.ts), which would
 * otherwise reach the sender too when it is in the node's neighbourhood set.
 */
function setup(): { node: PastryNode; sender: NodeInfo; senderLeafSet: NodeInfo[]; now: number } {
  const o = new Overlay({ leafSetSize: 4, proximityAware: false }, 11);
  const random = seededRandom(12);
  o.bootstrap(randomId(random));
  for (let i = 1; i < 10; i++) o.join(randomId(random));
  o.advance(60_000);
  for (const n of o.live()) n.takeOutputs();
  const node = o.live()[0] as PastryNode;
  const sender = node.leafSet().right[0] as NodeInfo;
  const senderNode = o.live().find((n) => n.self.id.equals(sender.id)) as PastryNode;
  const { left, right } = senderNode.leafSet();
  return { node, sender, senderLeafSet: [...left, ...right], now: o.now + 100 };
}

describe("a member's whole leaf set naming a node gone", () => {
  it("names a node that told us it left: answered at once with a notice naming it and no leaf set", () => {
    const { node, sender, senderLeafSet, now } = setup();
    const leaver = node.leafSet().left[1] as NodeInfo;
    node.receive(leaver, { type: "leave", leafSet: [] }, now);
    node.takeOutputs();
    node.receive(sender, { type: "leafSet", leafSet: [...senderLeafSet, leaver], removed: [] }, now + 10);
    const answers = leafSetsTo(node.takeOutputs(), sender);
    expect(answers).toContainEqual({ type: "leafSet", leafSet: [], removed: [leaver.id] });
  });

  it("names a candidate that never answers our probes: its namer is sent a notice naming it once the probe finds it dead", () => {
    const { node, sender, senderLeafSet, now } = setup();
    // A node between us and the sender that nobody runs: it fits our right side, so it is probed.
    const ghost = nodeInfo(NodeId.fromBigInt((node.self.id.value + sender.id.value) / 2n), 30_999);
    node.receive(sender, { type: "leafSet", leafSet: [...senderLeafSet, ghost], removed: [] }, now);
    const first = node.takeOutputs();
    expect(
      first.some((o) => o.type === "send" && o.out.message.type === "probe" && o.out.to?.id.equals(ghost.id)),
    ).toBe(true);
    expect(leafSetsTo(first, sender)).not.toContainEqual({
      type: "leafSet",
      leafSet: [],
      removed: [ghost.id],
    });
    let told: PeerMessage[] = [];
    for (let t = now + 250; t <= now + 10_000 && told.length === 0; t += 250) {
      node.tick(t);
      told = leafSetsTo(node.takeOutputs(), sender).filter(
        (m) => m.type === "leafSet" && m.leafSet.length === 0 && m.removed.some((id) => id.equals(ghost.id)),
      );
    }
    expect(told).toHaveLength(1);
  });

  it("names a node whose death another member pushed to us: answered at once with a notice, and no longer once a failure timeout has passed", () => {
    const { node, sender, senderLeafSet, now } = setup();
    const reporter = node.leafSet().left[0] as NodeInfo;
    // Beyond our leaf set's reach, so not ours to drop: the push is believed for a failure timeout.
    const ghost = nodeInfo(
      NodeId.fromBigInt((sender.id.value + (senderLeafSet.at(-1) as NodeInfo).id.value) / 2n),
      30_998,
    );
    const { left, right } = node.leafSet();
    node.receive(reporter, { type: "leafSet", leafSet: [...left, ...right], removed: [ghost.id] }, now);
    node.takeOutputs();
    node.receive(sender, { type: "leafSet", leafSet: [...senderLeafSet, ghost], removed: [] }, now + 10);
    expect(leafSetsTo(node.takeOutputs(), sender)).toContainEqual({
      type: "leafSet",
      leafSet: [],
      removed: [ghost.id],
    });
    const later = now + DEFAULT_ROUTING_CONFIG.failureTimeoutMs + 10;
    node.receive(sender, { type: "leafSet", leafSet: [...senderLeafSet, ghost], removed: [] }, later);
    expect(leafSetsTo(node.takeOutputs(), sender)).not.toContainEqual({
      type: "leafSet",
      leafSet: [],
      removed: [ghost.id],
    });
  });

  it("comes with a death push (its sender is repairing): not answered so", () => {
    const { node, sender, senderLeafSet, now } = setup();
    const leaver = node.leafSet().left[1] as NodeInfo;
    node.receive(leaver, { type: "leave", leafSet: [] }, now);
    node.takeOutputs();
    const elsewhere = senderLeafSet[0] as NodeInfo;
    node.receive(
      sender,
      { type: "leafSet", leafSet: [...senderLeafSet, leaver], removed: [elsewhere.id] },
      now + 10,
    );
    expect(leafSetsTo(node.takeOutputs(), sender)).not.toContainEqual({
      type: "leafSet",
      leafSet: [],
      removed: [leaver.id],
    });
  });
});
