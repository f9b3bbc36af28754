import { describe, expect, it } from "vitest";
import { BeyondChecks } from "../../src/routing/beyond-checks.js";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output } from "../../src/routing/types.js";
import { build, ringOrder } from "./adjacent-crash-runs.js";
import { nodeInfo } from "./overlay-harness.js";

const at = (k: number): NodeInfo => nodeInfo(NodeId.fromBigInt(BigInt(8 + k) << 124n), 1000 + k);
const hexes = (nodes: readonly NodeInfo[] | undefined): string[] | undefined => nodes?.map((n) => n.id.hex);

describe("beyond checks: the members held behind the first one probed", () => {
  it("releases the members held behind a node once, when an attempt to it goes unanswered in time", () => {
    const checks = new BeyondChecks(4);
    checks.hold(at(2), [at(3), at(4)], 6_000);
    expect(hexes(checks.release(at(2).id.hex, 500))).toEqual([at(3).id.hex, at(4).id.hex]);
    expect(checks.release(at(2).id.hex, 1_000)).toBeUndefined();
  });

  it("releases nothing after its deadline, nor for a node that answered or left", () => {
    const checks = new BeyondChecks(4);
    checks.hold(at(2), [at(3)], 6_000);
    expect(checks.release(at(2).id.hex, 6_001)).toBeUndefined();
    checks.hold(at(5), [at(6)], 6_000);
    checks.forget(at(5).id.hex);
    expect(checks.release(at(5).id.hex, 100)).toBeUndefined();
    expect(checks.size).toBe(0);
  });

  it("holds nothing when no member lies behind the first, and at most its capacity (the oldest gives way)", () => {
    const checks = new BeyondChecks(2);
    checks.hold(at(1), [], 6_000);
    expect(checks.size).toBe(0);
    checks.hold(at(1), [at(2)], 6_000);
    checks.hold(at(3), [at(4)], 6_000);
    checks.hold(at(5), [at(6)], 6_000);
    expect(checks.size).toBe(2);
    expect(checks.release(at(1).id.hex, 100)).toBeUndefined();
    expect(hexes(checks.release(at(5).id.hex, 100))).toEqual([at(6).id.hex]);
  });
});

const probesTo = (outputs: readonly Output[], to: NodeInfo): number =>
  outputs.filter(
    (o) => o.type === "send" && o.out.message.type === "probe" && o.out.to?.id.equals(to.id) === true,
  ).length;

/**
 * A quiet overlay of 20 nodes (l = 8). In ring order ... f g node d r2 r3 r4 ...: d, our nearest right member,
 * is pushed dead by f (two places behind us), whose leaf set reaches r2 but not r3 and r4.
 */
function toldByAFinderBehind(suspectedFirst = false): {
  node: PastryNode;
  d: NodeInfo;
  r2: NodeInfo;
  r3: NodeInfo;
  r4: NodeInfo;
  suspected: Output[];
  told: Output[];
  now: number;
} {
  const o = build(20, 11, 8);
  o.advance(60_000);
  for (const n of o.live()) n.takeOutputs();
  const ring = ringOrder(o);
  const node = ring[2] as PastryNode;
  const [f, g, d, r2, r3, r4] = [0, 1, 3, 4, 5, 6].map((i) => (ring[i] as PastryNode).self) as NodeInfo[] as [
    NodeInfo,
    NodeInfo,
    NodeInfo,
    NodeInfo,
    NodeInfo,
    NodeInfo,
  ];
  expect(hexes(node.leafSet().right)).toEqual([d, r2, r3, r4].map((n) => n.id.hex));
  // Ten seconds on (no member heard from since: all quiet), f pushes d's death with its leaf set; with
  // `suspectedFirst`, a tick just before has found d, our successor, silent and sent a probe of our own.
  const now = o.now + 10_000;
  if (suspectedFirst) node.tick(now - 100);
  const suspected = node.takeOutputs();
  const fLeft = (ring[0] as PastryNode).leafSet().left;
  node.receive(f, { type: "leafSet", leafSet: [...fLeft, g, node.self, r2], removed: [d.id] }, now);
  return { node, d, r2, r3, r4, suspected, told: node.takeOutputs(), now };
}

describe("the dead node's neighbour, told by a finder whose leaf set did not reach past it", () => {
  it("probes the nearest member beyond the finder's reach only, and the rest when its first attempt goes unanswered", () => {
    const { node, r3, r4, told, now } = toldByAFinderBehind();
    expect(probesTo(told, r3)).toBe(1);
    expect(probesTo(told, r4)).toBe(0);
    node.tick(now + 1_000);
    const later = node.takeOutputs();
    expect(probesTo(later, r3)).toBe(1); // its second attempt
    expect(probesTo(later, r4)).toBe(1);
  });

  it("probes every member past the dead node, the finder's too, the nearest first, when its own probe of it was out", () => {
    const { node, d, r2, r3, r4, suspected, told, now } = toldByAFinderBehind(true);
    expect(probesTo(suspected, d)).toBe(1);
    expect(probesTo(told, r2)).toBe(1);
    expect(probesTo(told, r3)).toBe(0);
    expect(probesTo(told, r4)).toBe(0);
    node.tick(now + 1_000);
    const later = node.takeOutputs();
    expect(probesTo(later, r3)).toBe(1);
    expect(probesTo(later, r4)).toBe(1);
  });

  it("does not probe at the push a member the finder's leaf set lists when it had not suspected the dead node", () => {
    const { r2, told } = toldByAFinderBehind();
    expect(probesTo(told, r2)).toBe(0);
  });

  it("probes no more when the nearest member beyond the finder's reach answers", () => {
    const { node, r3, r4, now } = toldByAFinderBehind();
    node.receive(r3, { type: "probeReply", echoSentAt: now, leafSet: [], ready: true }, now + 100);
    node.tick(now + 1_000);
    expect(probesTo(node.takeOutputs(), r4)).toBe(0);
  });
});
