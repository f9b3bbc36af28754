import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DIGIT_BASE, ID_DIGITS, NodeId } from "../../src/routing/id.js";
import { RoutingTable } from "../../src/routing/routing-table.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const node = (hex: string, incarnation = 1): NodeInfo =>
  nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), 1, incarnation);
const SELF = node("a1b2");

describe("2.1 routing table", () => {
  it("puts an entry at row = shared prefix, column = its digit at that row", () => {
    const table = new RoutingTable(SELF, () => undefined, true);
    const n = node("a1c7");
    expect(table.insert(n)).toBe("inserted");
    expect(table.get(2, 0xc)).toBe(n);
    expect(table.row(2)[0xc]).toBe(n);
    expect(table.lookup(n.id)).toBe(n);
    expect(table.size).toBe(1);
    expect(table.insert(SELF)).toBe("rejected");
    expect(table.insert(n)).toBe("present");
  });

  it("without proximity awareness the existing entry stays", () => {
    const table = new RoutingTable(SELF, () => 1, false);
    const first = node("51");
    table.insert(first);
    expect(table.insert(node("52"))).toBe("rejected");
    expect(table.get(0, 5)).toBe(first);
  });

  it("proximity-aware: the nearer candidate wins, unknown loses to known, unknown vs unknown keeps the occupant", () => {
    const proximity = new Map<string, number>();
    const table = new RoutingTable(SELF, (p) => proximity.get(p.id.hex), true);
    const far = node("51");
    const near = node("52");
    const unknown = node("53");
    table.insert(far);
    expect(table.insert(unknown)).toBe("rejected");
    proximity.set(far.id.hex, 50);
    proximity.set(near.id.hex, 10);
    expect(table.insert(near)).toBe("inserted");
    expect(table.get(0, 5)).toBe(near);
    expect(table.insert(far)).toBe("rejected");
    expect(table.insert(unknown)).toBe("rejected");
    // A measured candidate beats an unmeasured occupant.
    const table2 = new RoutingTable(SELF, (p) => proximity.get(p.id.hex), true);
    table2.insert(unknown);
    expect(table2.insert(far)).toBe("inserted");
    expect(table2.size).toBe(1);
  });

  it("a new incarnation of the same ID replaces the old entry", () => {
    const table = new RoutingTable(SELF, () => undefined, true);
    table.insert(node("77", 1));
    expect(table.insert(node("77", 2))).toBe("inserted");
    expect(table.lookup(NodeId.fromHex("77".padEnd(32, "0")))?.incarnation).toBe(2);
    expect(table.size).toBe(1);
  });

  it("removes by ID, returning the row; other IDs in the same slot are left alone", () => {
    const table = new RoutingTable(SELF, () => undefined, true);
    const n = node("a19");
    table.insert(n);
    expect(table.remove(NodeId.fromHex("a1a".padEnd(32, "0")))).toBeUndefined();
    expect(table.remove(n.id)).toBe(2);
    expect(table.size).toBe(0);
    expect(table.get(2, 9)).toBeUndefined();
  });

  it("invariants hold after any sequence of inserts and removals", () => {
    const hexArb = fc.stringMatching(/^[0-9a-f]{32}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), hexArb, fc.nat(100)), { maxLength: 120 }), (operations) => {
        const proximity = new Map<string, number>();
        const table = new RoutingTable(SELF, (p) => proximity.get(p.id.hex), true);
        const inserted: NodeInfo[] = [];
        for (const [isInsert, hex, rtt] of operations) {
          const n = nodeInfo(NodeId.fromHex(hex), 1);
          if (isInsert || inserted.length === 0) {
            proximity.set(n.id.hex, rtt);
            table.insert(n);
            inserted.push(n);
          } else {
            table.remove((inserted[rtt % inserted.length] as NodeInfo).id);
          }
        }
        const entries = table.entries();
        expect(entries).toHaveLength(table.size);
        for (let r = 0; r < ID_DIGITS; r++) {
          for (let c = 0; c < DIGIT_BASE; c++) {
            const entry = table.get(r, c);
            if (entry === undefined) continue;
            expect(SELF.id.commonPrefixLength(entry.id)).toBe(r);
            expect(entry.id.digit(r)).toBe(c);
          }
        }
        expect(new Set(entries.map((e) => e.id.hex)).size).toBe(entries.length);
      }),
      { numRuns: 150 },
    );
  });

  it("snapshots as 32 rows of 16 slots", () => {
    const table = new RoutingTable(SELF, () => undefined, true);
    table.insert(node("0f"));
    const snapshot = table.snapshot();
    expect(snapshot).toHaveLength(ID_DIGITS);
    expect(snapshot.every((row) => row.length === DIGIT_BASE)).toBe(true);
    expect(snapshot[0]?.[0]?.id.hex.startsWith("0f")).toBe(true);
    expect(table.rowEntries(0)).toHaveLength(1);
  });
});
