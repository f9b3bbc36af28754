// Leaf-set candidates named together (a leaver's leaf set, a death's push, gossip) are weighed together:
// only those among the nearest once every name is in are probed, whatever the order they are listed in.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo, seededRandom } from "./overlay-harness.js";

const at = (n: bigint): NodeInfo => nodeInfo(NodeId.fromBigInt(n << 96n), Number(n));

/** A ready node at 1600 whose sides hold 1560-1590 and 1610-1640 (leaf-set size 8: both full). */
function nodeWithRightSide(): PastryNode {
  const node = new PastryNode(at(1600n), { random: seededRandom(1), config: { leafSetSize: 8 } });
  node.bootstrap(0);
  for (const n of [1560n, 1570n, 1580n, 1590n, 1610n, 1620n, 1630n, 1640n])
    node.receive(at(n), { type: "heartbeat" }, 10);
  expect(node.leafSet().right.map((m) => m.localAddress)).toEqual(
    [1610n, 1620n, 1630n, 1640n].map((n) => at(n).localAddress),
  );
  node.takeOutputs();
  return node;
}

const probed = (node: PastryNode): string[] =>
  node
    .takeOutputs()
    .flatMap((o) =>
      o.type === "send" && o.out.message.type === "probe" && o.out.to !== undefined
        ? [o.out.to.localAddress]
        : [],
    );

describe("leaf-set candidates named in one message", () => {
  it("listed from the far end inwards, only the nearest of them is probed (it alone fits among the 4 nearest on its side)", () => {
    const node = nodeWithRightSide();
    const named = [1639n, 1637n, 1635n, 1633n].map(at);
    node.receive(at(1610n), { type: "leafSet", leafSet: named, removed: [] }, 20);
    expect(probed(node)).toEqual([at(1633n).localAddress]);
  });

  it("named in two messages, each message's nearest is probed: the second's is nearer still", () => {
    const node = nodeWithRightSide();
    node.receive(at(1610n), { type: "leafSet", leafSet: [1639n, 1637n].map(at), removed: [] }, 20);
    expect(probed(node)).toEqual([at(1637n).localAddress]);
    node.receive(at(1610n), { type: "leafSet", leafSet: [1635n, 1633n].map(at), removed: [] }, 30);
    expect(probed(node)).toEqual([at(1633n).localAddress]);
  });
});
