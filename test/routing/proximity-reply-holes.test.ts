// The reply to a proximity probe (a node named in a routing-table row, measured for its round trip) names the
// prober's leaf set. It is not merged, except the nodes inside our own leaf-set range that we do not hold: a
// hole there is learnt, probed and taken in (after adjacent crashes a side could otherwise skip a live node
// until gossip came round).
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output } from "../../src/routing/types.js";
import { nodeInfo, quietOverlay, rowZeroStrangers } from "./overlay-harness.js";

const probedIds = (outputs: readonly Output[]): string[] =>
  outputs.flatMap((o) =>
    o.type === "send" && o.out.message.type === "probe" && o.out.to !== undefined ? [o.out.to.id.hex] : [],
  );

/** `asker` measures a stranger named in a row; returns the stranger and the time of the probe. */
function proximityProbeOut(): { asker: PastryNode; stranger: NodeInfo; now: number } {
  const o = quietOverlay(10, 11);
  const [asker, namer] = o.live() as [PastryNode, PastryNode];
  const [stranger] = rowZeroStrangers(asker, 1, 999).named as [NodeInfo];
  const now = o.now + 1000;
  asker.receive(namer.self, { type: "row", row: { row: 0, entries: [stranger] } }, now);
  expect(probedIds(asker.takeOutputs())).toEqual([stranger.id.hex]);
  return { asker, stranger, now };
}

describe("a proximity probe's reply", () => {
  it("naming a node inside our leaf-set range that we do not hold: that node is probed", () => {
    const { asker, stranger, now } = proximityProbeOut();
    // Just clockwise of the asker: nearer than its nearest right member.
    const hole = nodeInfo(NodeId.fromBigInt(asker.self.id.value + 1n), 998);
    const reply = { type: "probeReply" as const, echoSentAt: now, leafSet: [hole], ready: true };
    asker.receive(stranger, reply, now + 40);
    asker.tick(now + 50);
    expect(probedIds(asker.takeOutputs())).toContain(hole.id.hex);
  });

  it("naming only nodes outside our leaf-set range: nothing is probed", () => {
    const { asker, stranger, now } = proximityProbeOut();
    const [outside] = rowZeroStrangers(asker, 2, 990).named.slice(1) as [NodeInfo];
    const reply = { type: "probeReply" as const, echoSentAt: now, leafSet: [outside], ready: true };
    asker.receive(stranger, reply, now + 40);
    asker.tick(now + 50);
    expect(probedIds(asker.takeOutputs())).toEqual([]);
  });
});
