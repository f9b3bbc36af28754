// A live node whose probe replies were lost must not stay out of a leaf set it belongs in. Driven input by input
// on a machine of a small overlay, with a stranger (a node in none of the machine's state) just past its far
// right member.
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { quietOverlay, strangersPastFarRight } from "./overlay-harness.js";

const sendsTo = (outputs: readonly Output[], to: NodeInfo): PeerMessage[] =>
  outputs.flatMap((o) => (o.type === "send" && o.out.to?.id.equals(to.id) === true ? [o.out.message] : []));
const probesTo = (outputs: readonly Output[], to: NodeInfo): number =>
  sendsTo(outputs, to).filter((m) => m.type === "probe").length;
const rightSide = (node: PastryNode): string[] => node.leafSet().right.map((n) => n.id.hex);

interface Setting {
  readonly node: PastryNode;
  readonly stranger: NodeInfo;
  readonly near: NodeInfo;
  readonly far: NodeInfo;
  readonly now: number;
}

/**
 * A quiet 30-node overlay (l = 4, a neighbourhood set of 2), and a stranger between a node's far right member
 * and the node after it, whose table slot is held: it is in none of the node's state.
 */
function strangerPastFarRight(): Setting {
  const o = quietOverlay(30, 7, { neighbourhoodSize: 2 });
  const first = strangersPastFarRight(o)[0];
  if (first === undefined)
    throw new Error("no node with a held table slot for a stranger past its far right member");
  const { node, stranger } = first;
  expect(node.knownPeers().some((n) => n.id.equals(stranger.id))).toBe(false);
  const [near, far] = node.leafSet().right as [NodeInfo, NodeInfo];
  return { node, stranger, near, far, now: o.now + 100 };
}

/**
 * Ticks `node` every 100 ms for `ms` from `from`; returns what it output. The peers in `answering` answer its
 * probes (the rest of the overlay is not driven: its members would be found dead).
 */
function tickFor(node: PastryNode, from: number, ms: number, answering: readonly NodeInfo[] = []): Output[] {
  const out: Output[] = [];
  for (let t = from; t <= from + ms; t += 100) {
    node.tick(t);
    const outputs = node.takeOutputs();
    out.push(...outputs);
    for (const peer of answering) {
      if (probesTo(outputs, peer) === 0) continue;
      node.receive(peer, { type: "probeReply", echoSentAt: t, leafSet: [], ready: true }, t + 10);
      out.push(...node.takeOutputs());
    }
  }
  return out;
}

describe("a stranger whose message made us probe it, and whose one reply was lost", () => {
  it("is still a leaf-set candidate once a side opens for it: probed, and taken in when it answers", () => {
    const { node, stranger, near, far, now } = strangerPastFarRight();
    // It asks for our leaf set: we answer, and probe it once to measure it. The reply is lost.
    node.receive(stranger, { type: "leafSetRequest" }, now);
    expect(probesTo(node.takeOutputs(), stranger)).toBe(1);
    // One attempt only (it is in none of our state).
    expect(probesTo(tickFor(node, now + 100, 3_000), stranger)).toBe(0);
    // Within the failure timeout the far right member leaves, naming the stranger: the side is short, and
    // the stranger is a candidate like any other.
    node.receive(far, { type: "leave", leafSet: [stranger] }, now + 3_200);
    expect(probesTo(node.takeOutputs(), stranger)).toBe(1);
    node.receive(
      stranger,
      { type: "probeReply", echoSentAt: now + 3_200, leafSet: [], ready: true },
      now + 3_250,
    );
    expect(rightSide(node)).toEqual([near.id.hex, stranger.id.hex]);
  });
});

describe("a leaf-set candidate whose every probe attempt went unanswered", () => {
  it("is told it was found dead, and taken in when it refutes that", () => {
    const { node, stranger, near, far, now } = strangerPastFarRight();
    node.receive(far, { type: "leave", leafSet: [stranger] }, now);
    expect(probesTo(node.takeOutputs(), stranger)).toBe(1);
    const after = tickFor(node, now + 100, 10_000, [near]);
    expect(probesTo(after, stranger)).toBe(2); // the two attempts after the first
    const told = sendsTo(after, stranger).flatMap((m) => (m.type === "leafSet" ? [m.removed] : []));
    expect(told).toEqual([[stranger.id]]);
    // Alive (its replies were lost): it refutes the death to its leaf set, which holds us.
    node.receive(stranger, { type: "leafSet", leafSet: [node.self, near], removed: [] }, now + 10_200);
    expect(rightSide(node)).toEqual([near.id.hex, stranger.id.hex]);
  });
});
