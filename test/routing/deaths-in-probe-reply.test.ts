// A node that joins a leaf set was beyond it when that leaf set's recent deaths were pushed: the member whose
// probe reply takes it in tells it those deaths in that reply, and it acts on them as on a leaf-set push.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { nodeInfo, seededRandom } from "./overlay-harness.js";

const at = (n: bigint): NodeInfo => nodeInfo(NodeId.fromBigInt(n << 96n), Number(n));
const MEMBERS = [1560n, 1570n, 1580n, 1590n, 1610n, 1620n, 1630n, 1640n];

/** A ready node at `self` (leaf-set size 8) that heard from each of `members` at t = 10 ms. */
function readyNode(self: bigint, members: readonly bigint[]): PastryNode {
  const node = new PastryNode(at(self), { random: seededRandom(1), config: { leafSetSize: 8 } });
  node.bootstrap(0);
  for (const n of members) node.receive(at(n), { type: "heartbeat" }, 10);
  node.takeOutputs();
  return node;
}

const sentTo = (outputs: readonly Output[], to: NodeInfo): PeerMessage[] =>
  outputs.flatMap((o) => (o.type === "send" && o.out.to?.id.equals(to.id) === true ? [o.out.message] : []));

const hexes = (nodes: readonly NodeInfo[]): string[] => nodes.map((n) => n.id.hex);

describe("recent deaths told in the probe reply", () => {
  it("a member answering a newcomer's probe names the deaths in its leaf set lately in that reply, and sends it no leaf set for them", () => {
    const member = readyNode(1600n, MEMBERS);
    const dead = at(1620n);
    // Pushed (10 s after it last heard from it) 1620's death.
    member.receive(at(1610n), { type: "leafSet", leafSet: [member.self], removed: [dead.id] }, 10_000);
    member.takeOutputs();
    const newcomer = at(1625n);
    member.receive(newcomer, { type: "probe", sentAt: 10_100, joining: true }, 10_100);
    const toNewcomer = sentTo(member.takeOutputs(), newcomer);
    expect(toNewcomer.map((m) => m.type)).toEqual(["probeReply"]);
    expect(toNewcomer[0]).toMatchObject({ type: "probeReply", removed: [dead.id] });
    // A node already in the leaf set is told nothing.
    member.receive(at(1610n), { type: "probe", sentAt: 10_200, joining: false }, 10_200);
    expect(sentTo(member.takeOutputs(), at(1610n))).toMatchObject([{ type: "probeReply", removed: [] }]);
  });

  it("the prober drops a member named dead in the reply, as it would for a leaf-set push", () => {
    const prober = readyNode(1625n, [1590n, 1600n, 1610n, 1620n, 1630n, 1640n, 1650n, 1660n]);
    const dead = at(1620n);
    expect(hexes(prober.leafSet().left)).toContain(dead.id.hex);
    const reply: PeerMessage = {
      type: "probeReply",
      echoSentAt: 10_000,
      leafSet: [1590n, 1600n, 1610n, 1630n].map(at),
      ready: true,
      removed: [dead.id],
    };
    prober.receive(at(1600n), reply, 10_050);
    expect(hexes(prober.leafSet().left)).not.toContain(dead.id.hex);
  });
});
