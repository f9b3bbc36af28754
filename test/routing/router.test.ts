import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { LeafSet } from "../../src/routing/leaf-set.js";
import { NeighbourhoodSet } from "../../src/routing/neighbourhood-set.js";
import { RoutingTable } from "../../src/routing/routing-table.js";
import {
  ReservedPurposeError,
  assertApplicationPurpose,
  nextHop,
  nextHopAfterFailure,
  type RoutingState,
} from "../../src/routing/router.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const node = (hex: string): NodeInfo => nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), 1);
const key = (hex: string): NodeId => NodeId.fromHex(hex.padEnd(32, "0"));

function state(
  self: NodeInfo,
  leaf: NodeInfo[],
  table: NodeInfo[],
  neighbours: NodeInfo[] = [],
): RoutingState {
  const leafSet = new LeafSet(self, 4);
  for (const n of leaf) leafSet.insert(n);
  const routingTable = new RoutingTable(self, () => undefined, false);
  for (const n of table) routingTable.insert(n);
  const neighbourhood = new NeighbourhoodSet(8, () => undefined);
  for (const n of neighbours) neighbourhood.insert(n);
  return { self, leafSet, table: routingTable, neighbourhood };
}

const SELF = node("8000");
const LEAF = [node("7f00"), node("7e00"), node("8100"), node("8200")];

describe("2.2 routing procedure", () => {
  it("(1) a key within the leaf set's range goes to the closest leaf member, or is delivered here", () => {
    const s = state(SELF, LEAF, []);
    expect(nextHop(s, key("80f0"))?.id.hex).toBe(node("8100").id.hex);
    expect(nextHop(s, key("7e01"))?.id.hex).toBe(node("7e00").id.hex);
    expect(nextHop(s, key("8010"))).toBeUndefined();
    expect(nextHop(s, key("8000"))).toBeUndefined();
  });

  it("(1) when self is the leaf set's closest to a key in range, a known unsuspected node outside the leaf set that is closer is the next hop", () => {
    // A hole on the right: 8100 is gone and the far member c000 filled the short side, so 8100..c000 looks
    // covered; 8400, known from the table, is closer to 8300 than self.
    const hole = node("8400");
    const s = state(SELF, [node("7f00"), node("7e00"), node("8200"), node("c000")], [hole]);
    s.leafSet.remove(node("8200").id.hex);
    expect(s.leafSet.inRange(key("8300"))).toBe(true);
    expect(nextHop(s, key("8300"))).toBe(hole);
    // Suspected, it is passed over and the key is delivered here; keys nearer self than it stay here too.
    expect(nextHop(s, key("8300"), { suspects: new Set([hole.id.hex]), idHex: undefined })).toBeUndefined();
    expect(nextHop(s, key("8100"))).toBeUndefined();
  });

  it("(2) otherwise the table entry R[l][D_l] for the shared prefix l", () => {
    const entry = node("3abc");
    const s = state(SELF, LEAF, [entry, node("c000")]);
    expect(nextHop(s, key("3000"))).toBe(entry);
  });

  it("(3) rare case: the closest known node sharing >= l digits and strictly closer than self", () => {
    // Key 1234..: row 0 column 1 is empty; 2fff (prefix 0 with the key, like self) is closer than self.
    const closer = node("2fff");
    const s = state(SELF, LEAF, [closer]);
    expect(nextHop(s, key("1234"))).toBe(closer);
    // Right side emptied by failures (not yet repaired): 8100 is outside the range and nothing known that
    // shares its first digit is closer than self, so it is delivered here.
    const holed = state(SELF, LEAF, []);
    holed.leafSet.remove(node("8100").id.hex);
    holed.leafSet.remove(node("8200").id.hex);
    expect(holed.leafSet.inRange(key("8100"))).toBe(false);
    expect(nextHop(holed, key("8100"))).toBeUndefined();
    // R[0][9] is empty; of the nodes known, the neighbourhood's 9000 is closest to 9100 (beating 8200).
    const neighbourOnly = state(SELF, LEAF, [], [node("9000")]);
    expect(nextHop(neighbourOnly, key("9100"))?.id.hex).toBe(node("9000").id.hex);
  });

  it("routes around suspects and around a joiner's own ID", () => {
    const s = state(SELF, LEAF, [node("3abc")]);
    const suspects = new Set([node("8100").id.hex]);
    expect(nextHop(s, key("80f0"), { suspects, idHex: undefined })).toBeUndefined();
    expect(nextHop(s, key("8200"), { suspects: new Set(), idHex: node("8200").id.hex })?.id.hex).toBe(
      node("8100").id.hex,
    );
    // The table entry is a suspect: the rare case picks the known node closest to 3000 (7e00).
    const viaRare = nextHop(s, key("3000"), { suspects: new Set([node("3abc").id.hex]), idHex: undefined });
    expect(viaRare?.id.hex).toBe(node("7e00").id.hex);
  });

  it("after a failed hop, a leaf-set member that makes progress is preferred to another table entry", () => {
    const s = state(SELF, LEAF, [node("3abc"), node("c000")]);
    const avoid = { suspects: new Set<string>(), idHex: undefined };
    // c123 would go to the table entry c000 normally; after a failure, to the leaf member nearest to it.
    expect(nextHop(s, key("c123"), avoid)?.id.hex).toBe(node("c000").id.hex);
    expect(nextHopAfterFailure(s, key("c123"), avoid)?.id.hex).toBe(node("8200").id.hex);
    // Within the leaf range nothing changes.
    expect(nextHopAfterFailure(s, key("80f0"), avoid)?.id.hex).toBe(node("8100").id.hex);
    // No leaf member shares the key's first digit (the right side is a hole): the table entry stays.
    const holed = state(SELF, LEAF, [node("8123")]);
    holed.leafSet.remove(node("8100").id.hex);
    holed.leafSet.remove(node("8200").id.hex);
    expect(nextHopAfterFailure(holed, key("8120"), avoid)?.id.hex).toBe(node("8123").id.hex);
  });

  it("after a failed hop, the detour goes to the nearest leaf-set member that makes progress, measured ones before unmeasured ones", () => {
    const s = state(SELF, LEAF, [node("c000")]);
    const avoid = { suspects: new Set<string>(), idHex: undefined };
    const near = (nearest: string, others: number | undefined) => (n: NodeInfo) =>
      n.id.hex === node(nearest).id.hex ? 10 : others;
    // 8100 and 8200 both make progress towards c123; 8100 is the nearer, though 8200 is closer to the key.
    expect(nextHopAfterFailure(s, key("c123"), avoid, near("8100", 50))?.id.hex).toBe(node("8100").id.hex);
    expect(nextHopAfterFailure(s, key("c123"), avoid, near("8100", undefined))?.id.hex).toBe(
      node("8100").id.hex,
    );
    // 7f00 is the nearest of all but moves away from the key: not taken.
    expect(nextHopAfterFailure(s, key("c123"), avoid, near("7f00", 50))?.id.hex).toBe(node("8200").id.hex);
    // A suspect is passed over however near it is.
    const suspects = { suspects: new Set([node("8100").id.hex]), idHex: undefined };
    expect(nextHopAfterFailure(s, key("c123"), suspects, near("8100", 50))?.id.hex).toBe(node("8200").id.hex);
  });

  it("after a failed hop, a trusted table entry that shares one more digit with the key is kept, on the first detour", () => {
    const s = state(SELF, LEAF, [node("c000")]);
    const avoid = { suspects: new Set<string>(), idHex: undefined };
    const trusted = (n: NodeInfo): boolean => n.id.hex === node("c000").id.hex;
    expect(nextHopAfterFailure(s, key("c123"), avoid, () => undefined, trusted)?.id.hex).toBe(
      node("c000").id.hex,
    );
    // Not trusted: the leaf-set detour as before.
    expect(
      nextHopAfterFailure(
        s,
        key("c123"),
        avoid,
        () => undefined,
        () => false,
      )?.id.hex,
    ).toBe(node("8200").id.hex);
    // The rare case's choice (no digit of progress) is not kept, trusted or not: 3abc shares no digit with
    // 1234 and nothing known does, so the leaf-set member closer to the key is taken.
    const rare = state(SELF, LEAF, [node("3abc")]);
    expect(
      nextHopAfterFailure(
        rare,
        key("1234"),
        avoid,
        () => undefined,
        () => true,
      )?.id.hex,
    ).toBe(node("7e00").id.hex);
  });

  it("a suspect table entry gives way to its slot's runner-up before the rare case", () => {
    const proximity = new Map<string, number>([
      [node("3abc").id.hex, 10],
      [node("3def").id.hex, 20],
    ]);
    const table = new RoutingTable(SELF, (p) => proximity.get(p.id.hex), true);
    table.insert(node("3abc"));
    table.insert(node("3def"));
    const leafSet = new LeafSet(SELF, 4);
    for (const n of LEAF) leafSet.insert(n);
    const s: RoutingState = {
      self: SELF,
      leafSet,
      table,
      neighbourhood: new NeighbourhoodSet(8, () => undefined),
    };
    const suspects = new Set([node("3abc").id.hex]);
    expect(nextHop(s, key("3000"))?.id.hex).toBe(node("3abc").id.hex);
    expect(nextHop(s, key("3000"), { suspects, idHex: undefined })?.id.hex).toBe(node("3def").id.hex);
  });

  it("purposes below 16 are reserved for the protocol", () => {
    expect(() => assertApplicationPurpose(15)).toThrow(ReservedPurposeError);
    expect(() => assertApplicationPurpose(1.5)).toThrow(ReservedPurposeError);
    expect(() => assertApplicationPurpose(16)).not.toThrow();
  });
});
