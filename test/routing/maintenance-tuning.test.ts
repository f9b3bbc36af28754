import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import {
  FailureRateEstimator,
  GossipSuppression,
  shouldBeListedBy,
  tableMaintenanceInterval,
} from "../../src/routing/maintenance-tuning.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

describe("failure-rate estimate", () => {
  it("is 0 with no failures and approaches failures / peer-time under steady failures", () => {
    const quiet = new FailureRateEstimator(60_000);
    for (let t = 0; t <= 600_000; t += 1000) quiet.observe(40, t);
    expect(quiet.rate()).toBe(0);

    // 40 peers, one failure every 10 s: 1 / (40 * 10,000 ms) per peer per ms.
    const busy = new FailureRateEstimator(60_000);
    for (let t = 0; t <= 600_000; t += 1000) {
      if (t > 0 && t % 10_000 === 0) busy.failure(40, t);
      else busy.observe(40, t);
    }
    expect(busy.rate()).toBeGreaterThan(0.8 / 400_000);
    expect(busy.rate()).toBeLessThan(1.2 / 400_000);
  });

  it("forgets old churn: the rate falls once failures stop", () => {
    const e = new FailureRateEstimator(60_000);
    for (let t = 0; t <= 120_000; t += 1000) e.failure(40, t);
    const during = e.rate();
    for (let t = 121_000; t <= 600_000; t += 1000) e.observe(40, t);
    expect(e.rate()).toBeLessThan(during / 100);
  });
});

describe("table maintenance interval", () => {
  it("stretches to 8x the base at rest, shortens with failures, and never goes below a quarter of the base", () => {
    expect(tableMaintenanceInterval(60_000, 0, 50)).toBe(480_000);
    const slow = tableMaintenanceInterval(60_000, 1e-8, 50); // stale entry every 2,000 s
    const fast = tableMaintenanceInterval(60_000, 1e-6, 50); // every 20 s
    expect(slow).toBe(480_000);
    expect(fast).toBe(20_000);
    expect(tableMaintenanceInterval(60_000, 1e-3, 50)).toBe(15_000);
    expect(tableMaintenanceInterval(Number.POSITIVE_INFINITY, 1e-3, 50)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("leaf-set gossip suppression", () => {
  it("gossips after a change, and otherwise only every quietRounds rounds", () => {
    const g = new GossipSuppression(4);
    const rounds = (n: number): boolean[] => Array.from({ length: n }, () => g.shouldGossip());
    expect(rounds(9)).toEqual([true, false, false, false, true, false, false, false, true]);
    g.leafSetChanged();
    expect(rounds(2)).toEqual([true, false]);
  });
});

describe("who a gossiping neighbour should list", () => {
  const id = (n: number): NodeId => NodeId.fromBigInt(BigInt(n) << 100n);
  const info = (n: number): NodeInfo => nodeInfo(id(n), 1000 + n);

  it("a member within the sender's l/2 nearest on its side, not listed: should be listed", () => {
    // Sender 10 lists 11 and 9 (half = 2 per side): 12 is its second on the right, so it should be there.
    expect(shouldBeListedBy(id(10), [info(11), info(9)], id(12), 2)).toBe(true);
    expect(shouldBeListedBy(id(10), [info(11), info(9)], id(8), 2)).toBe(true);
  });

  it("a member listed, beyond both full sides, or the sender itself: not a discrepancy", () => {
    expect(shouldBeListedBy(id(10), [info(11), info(12), info(9)], id(12), 2)).toBe(false);
    expect(shouldBeListedBy(id(10), [info(11), info(12), info(9), info(8)], id(13), 2)).toBe(false);
    expect(shouldBeListedBy(id(10), [info(11), info(12)], id(10), 2)).toBe(false);
  });

  it("a member nearer clockwise but within the sender's l/2 nearest counter-clockwise: should be listed", () => {
    // On a ring of five, sender 10's left side (half = 2) is 9 and then, wrapping, the next node
    // counter-clockwise: 13 if alive, else 12. Listing [11 12 9], it lacks 13, though 13 lies beyond its
    // full right side.
    expect(shouldBeListedBy(id(10), [info(11), info(12), info(9)], id(13), 2)).toBe(true);
    // Across the ring's zero, as in the churn property's case: 0x9b86 lists 0x5a3e 0x0e2f 0x048d 0xfc04 to
    // the left and 0xa049 0xa45b 0xc127 0xc668 to the right; 0x0222 lies nearer clockwise, beyond the
    // right side, but is the fourth counter-clockwise, before 0xfc04.
    const at = (n: number): NodeId => NodeId.fromBigInt(BigInt(n) << 112n);
    const listed = [0x5a3e, 0x0e2f, 0x048d, 0xfc04, 0xa049, 0xa45b, 0xc127, 0xc668].map((n) =>
      nodeInfo(at(n), n),
    );
    expect(shouldBeListedBy(at(0x9b86), listed, at(0x0222), 4)).toBe(true);
    expect(shouldBeListedBy(at(0x9b86), listed, at(0xf000), 4)).toBe(false);
  });
});
