import { describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { Prng } from "../../src/sim/prng.js";
import { RingTruth } from "../../src/sim/ring-truth.js";

describe("RingTruth", () => {
  it("finds the same owner as a linear scan with closestTo, through adds and removes", () => {
    const p = new Prng(21);
    const truth = new RingTruth();
    const members = Array.from({ length: 300 }, (_, index) => ({ id: p.nodeId(), index }));
    for (const m of members) truth.add(m);
    for (const m of members.slice(0, 100)) expect(truth.remove(m.id)).toBe(true);
    const live = members.slice(100);
    expect(truth.size).toBe(200);
    for (let i = 0; i < 2000; i++) {
      const key = p.nodeId();
      expect(truth.owner(key)).toBe(closestTo(key, live));
    }
    for (const m of live) expect(truth.owner(m.id)).toBe(m);
  });

  it("wraps around the ring and breaks exact ties towards the lower ID", () => {
    const truth = new RingTruth();
    const low = { id: NodeId.fromBigInt(10n), index: 0 };
    const high = { id: NodeId.fromBigInt(30n), index: 1 };
    const top = { id: NodeId.fromBigInt((1n << 128n) - 5n), index: 2 };
    truth.add(high);
    truth.add(top);
    truth.add(low);
    expect(truth.owner(NodeId.fromBigInt(20n))).toBe(low);
    expect(truth.owner(NodeId.fromBigInt(21n))).toBe(high);
    expect(truth.owner(NodeId.fromBigInt(0n))).toBe(top);
    expect(truth.owner(NodeId.fromBigInt(3n))).toBe(low);
    expect(truth.all().map((m) => m.index)).toEqual([0, 1, 2]);
    expect(truth.has(high.id)).toBe(true);
    expect(truth.remove(NodeId.fromBigInt(11n))).toBe(false);
  });

  it("has no owner when empty", () => {
    expect(new RingTruth().owner(NodeId.fromBigInt(1n))).toBeUndefined();
  });
});
