// verifyLearnedNodes: a node named by another (gossip, a row, a join state) enters the routing table and
// neighbourhood set only once it answered a probe itself; without it (the default, the simulator's) it is
// taken in on the word of whoever named it.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { nodeInfo, seededRandom } from "./overlay-harness.js";

const info = (n: bigint, port: number): NodeInfo => nodeInfo(NodeId.fromBigInt(n << 100n), port, 1);

function probesTo(outputs: readonly Output[], node: NodeInfo): number {
  return outputs.filter(
    (o) => o.type === "send" && o.out.message.type === "probe" && o.out.to?.id.equals(node.id) === true,
  ).length;
}

const known = (node: PastryNode, peer: NodeInfo): boolean =>
  node.knownPeers().some((n) => n.id.equals(peer.id));

function started(verifyLearnedNodes: boolean): PastryNode {
  const node = new PastryNode(info(1n, 1), {
    random: seededRandom(1),
    config: { verifyLearnedNodes, leafSetSize: 4 },
  });
  node.bootstrap(0);
  node.takeOutputs();
  return node;
}

const gossip: [string, (named: NodeInfo) => PeerMessage][] = [
  ["a row", (named) => ({ type: "row", row: { row: 0, entries: [named] } })],
  ["a leaf set", (named) => ({ type: "leafSet", leafSet: [named], removed: [] })],
];

describe("a node named by another", () => {
  for (const [what, message] of gossip) {
    it(`in ${what} is probed, and taken in only from its own answer (verifyLearnedNodes)`, () => {
      const node = started(true);
      const teller = info(0x20n, 2);
      const named = info(0x30n, 3);
      node.receive(teller, message(named), 10);
      expect(probesTo(node.takeOutputs(), named)).toBe(1);
      expect(known(node, teller)).toBe(true);
      expect(known(node, named)).toBe(false);
      node.receive(named, { type: "probeReply", echoSentAt: 10, leafSet: [], ready: true }, 12);
      expect(known(node, named)).toBe(true);
    });

    it(`in ${what} never enters the table when nobody answers in its name (verifyLearnedNodes)`, () => {
      const node = started(true);
      const named = info(0x30n, 3);
      node.receive(info(0x20n, 2), message(named), 10);
      // Its probes go unanswered (an invented ID at someone else's address) until it is found dead.
      for (let t = 10; t <= 60_000; t += 250) node.tick(t);
      expect(known(node, named)).toBe(false);
    });
  }

  it("is taken in at once without verifyLearnedNodes (the default)", () => {
    const node = started(false);
    const named = info(0x30n, 3);
    node.receive(info(0x20n, 2), { type: "row", row: { row: 0, entries: [named] } }, 10);
    expect(known(node, named)).toBe(true);
  });
});
