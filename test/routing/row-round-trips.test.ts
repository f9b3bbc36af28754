// A row shared with the sender's round-trip time to each entry: the receiver does not measure an entry that
// the triangle inequality puts no nearer than the measured holder of its slot, and measures the others.
// Driven input by input on a machine of a small overlay.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import { ProximityStore } from "../../src/routing/proximity.js";
import type { NodeInfo, Output, RowEntries } from "../../src/routing/types.js";
import { nodeInfo, type Overlay, quietOverlay, rowZeroStrangers } from "./overlay-harness.js";

function probedIds(outputs: readonly Output[]): string[] {
  return outputs.flatMap((o) =>
    o.type === "send" && o.out.message.type === "probe" && o.out.to !== undefined ? [o.out.to.id.hex] : [],
  );
}

/** Settles `node`'s measurement of `peer` at `rttMs` (the store smooths samples: many of the same). */
function measure(node: PastryNode, peer: NodeInfo, rttMs: number, now: number): void {
  for (let i = 0; i < 40; i++) node.reportRtt(peer, rttMs, now);
}

/** A live node other than `asker` and `holders`. */
function otherThan(o: Overlay, asker: PastryNode, holders: readonly NodeInfo[]): PastryNode {
  const other = o.live().find((n) => n !== asker && !holders.some((h) => h.id.equals(n.self.id)));
  if (other === undefined) throw new Error("no node besides the asker and the holders");
  return other;
}

/**
 * A node of a quiet overlay, two strangers for held slots of its row 0 (see rowZeroStrangers), and a node to
 * name them: the asker measures the namer at 50 ms and both slots' holders at 10 ms.
 */
function measuredAsker(): { asker: PastryNode; namer: PastryNode; named: NodeInfo[]; now: number } {
  const o = quietOverlay(10, 21);
  const asker = o.live()[0]!;
  const { holders, named } = rowZeroStrangers(asker, 2, 900);
  const namer = otherThan(o, asker, holders);
  const now = o.now + 1000;
  measure(asker, namer.self, 50, now);
  for (const holder of holders) measure(asker, holder, 10, now);
  asker.takeOutputs();
  return { asker, namer, named, now };
}

describe("a shared row with round-trip times", () => {
  it("gives the least proximity the triangle inequality allows, 10 % lower, scaled across regions", () => {
    const self = nodeInfo(NodeId.fromBigInt(1n), 1);
    const via = nodeInfo(NodeId.fromBigInt(2n), 2);
    const store = new ProximityStore(self, 3);
    const here = nodeInfo(NodeId.fromBigInt(3n), 3);
    const abroad = nodeInfo(NodeId.fromBigInt(4n), 4, 1, "r2");
    expect(store.lowerBoundVia(via, 10, here)).toBeUndefined();
    store.record(via, 50);
    expect(store.lowerBoundVia(via, 10, here)).toBeCloseTo(36);
    expect(store.lowerBoundVia(via, 90, here)).toBeCloseTo(36);
    expect(store.lowerBoundVia(via, 10, abroad)).toBeCloseTo(108);
  });

  it("measures an entry that may come nearer than its slot's holder, not one that cannot", () => {
    const { asker, namer, named, now } = measuredAsker();
    // From us to named[0]: at least (50 - 5) * 0.9 = 40.5 ms, farther than its slot's holder (10 ms).
    // To named[1]: at least (50 - 48) * 0.9 = 1.8 ms, which may be nearer.
    const row: RowEntries = { row: 0, entries: named, rttMs: [5, 48] };
    asker.receive(namer.self, { type: "row", row }, now);
    const probed = probedIds(asker.takeOutputs());
    expect(probed).not.toContain(named[0]!.id.hex);
    expect(probed).toContain(named[1]!.id.hex);
  });

  it("measures every entry of a row without round-trip times, as before", () => {
    const { asker, namer, named, now } = measuredAsker();
    asker.receive(namer.self, { type: "row", row: { row: 0, entries: named } }, now);
    const probed = probedIds(asker.takeOutputs());
    expect(probed).toEqual(expect.arrayContaining(named.map((n) => n.id.hex)));
  });

  it("is answered to a rowRequest with the sender's round-trip time to each entry, undefined where unmeasured", () => {
    const o = quietOverlay(10, 21);
    const [node, asker] = o.live() as [PastryNode, PastryNode];
    const row = (node.routingTable()[0] ?? []).filter((n): n is NodeInfo => n !== undefined);
    expect(row.length).toBeGreaterThan(1);
    const now = o.now + 1000;
    measure(node, row[0]!, 25, now);
    node.takeOutputs();
    node.receive(asker.self, { type: "rowRequest", row: 0 }, now);
    const answer = node
      .takeOutputs()
      .flatMap((out) => (out.type === "send" && out.out.message.type === "row" ? [out.out.message.row] : []));
    expect(answer).toHaveLength(1);
    expect(answer[0]!.entries.map((n) => n.id.hex)).toEqual(row.map((n) => n.id.hex));
    expect(answer[0]!.rttMs).toHaveLength(row.length);
    expect(answer[0]!.rttMs![0]).toBeCloseTo(25, 0);
  });
});
