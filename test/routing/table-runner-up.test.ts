// A routing-table slot keeps its runner-up: the nearest measured node that lost the slot (or was displaced
// from it). When the holder is removed, the runner-up takes the slot at once.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DIGIT_BASE, ID_DIGITS, NodeId } from "../../src/routing/id.js";
import { RoutingTable } from "../../src/routing/routing-table.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const node = (hex: string): NodeInfo => nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), 1);
const SELF = node("a1b2");

function table(proximity: Map<string, number>): RoutingTable {
  return new RoutingTable(SELF, (p) => proximity.get(p.id.hex), true);
}

describe("routing-table runner-up", () => {
  it("the nearest measured loser of a slot takes it when the holder is removed", () => {
    const proximity = new Map<string, number>();
    const t = table(proximity);
    const [near, middle, far] = [node("51"), node("52"), node("53")];
    proximity.set(near.id.hex, 10);
    proximity.set(middle.id.hex, 20);
    proximity.set(far.id.hex, 30);
    t.insert(near);
    expect(t.insert(far)).toBe("rejected");
    expect(t.insert(middle)).toBe("rejected");
    expect(t.backup(0, 5)).toBe(middle);
    expect(t.holdsBackup(middle.id.hex)).toBe(true);
    expect(t.remove(near.id)).toBe(0);
    expect(t.get(0, 5)).toBe(middle);
    expect(t.size).toBe(1);
    expect(t.backup(0, 5)).toBeUndefined();
    // No runner-up left: the next removal empties the slot.
    expect(t.remove(middle.id)).toBe(0);
    expect(t.get(0, 5)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it("a holder displaced by a nearer node becomes the runner-up", () => {
    const proximity = new Map<string, number>([
      [node("51").id.hex, 30],
      [node("52").id.hex, 10],
    ]);
    const t = table(proximity);
    t.insert(node("51"));
    expect(t.insert(node("52"))).toBe("inserted");
    expect(t.backup(0, 5)?.id.hex).toBe(node("51").id.hex);
  });

  it("unmeasured nodes never become runners-up, and removing a runner-up leaves the holder", () => {
    const proximity = new Map<string, number>([[node("51").id.hex, 10]]);
    const t = table(proximity);
    t.insert(node("51"));
    t.insert(node("52"));
    expect(t.backup(0, 5)).toBeUndefined();
    proximity.set(node("53").id.hex, 40);
    t.insert(node("53"));
    expect(t.remove(node("53").id)).toBeUndefined();
    expect(t.backup(0, 5)).toBeUndefined();
    expect(t.get(0, 5)?.id.hex).toBe(node("51").id.hex);
  });

  it("property: a slot's runner-up is never its holder, fits the slot, and a removal promotes the nearest loser", () => {
    const hexArb = fc.stringMatching(/^[0-9a-f]{4}$/);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), hexArb, fc.integer({ min: 1, max: 100 })), { maxLength: 80 }),
        (operations) => {
          const proximity = new Map<string, number>();
          const t = table(proximity);
          const known: NodeInfo[] = [];
          for (const [isInsert, hex, rtt] of operations) {
            if (isInsert || known.length === 0) {
              const n = node(hex);
              if (!proximity.has(n.id.hex)) proximity.set(n.id.hex, rtt);
              t.insert(n);
              known.push(n);
            } else {
              const gone = known[rtt % known.length] as NodeInfo;
              const r = SELF.id.commonPrefixLength(gone.id);
              const c = gone.id.digit(r);
              const holder = t.get(r, c);
              const backup = t.backup(r, c);
              t.remove(gone.id);
              if (holder?.id.equals(gone.id) === true) expect(t.get(r, c)).toBe(backup);
            }
          }
          let held = 0;
          for (let r = 0; r < ID_DIGITS; r++) {
            for (let c = 0; c < DIGIT_BASE; c++) {
              const holder = t.get(r, c);
              const backup = t.backup(r, c);
              if (holder !== undefined) held++;
              if (backup === undefined) continue;
              expect(holder).toBeDefined();
              expect(backup.id.equals((holder as NodeInfo).id)).toBe(false);
              expect(SELF.id.commonPrefixLength(backup.id)).toBe(r);
              expect(backup.id.digit(r)).toBe(c);
              expect(proximity.get(backup.id.hex)).toBeDefined();
            }
          }
          expect(held).toBe(t.size);
        },
      ),
      { numRuns: 200 },
    );
  });
});
