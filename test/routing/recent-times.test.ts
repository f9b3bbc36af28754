import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RecentTimes } from "../../src/routing/recent-times.js";

describe("RecentTimes", () => {
  it("answers a time only within the window; older entries are swept out as the map grows", () => {
    const times = new RecentTimes(100, 1_000);
    times.record("a", 0);
    expect(times.recent("a", 99)).toBe(0);
    expect(times.recent("a", 100)).toBeUndefined();
    for (let i = 0; i < 500; i++) times.record(`k${i}`, 1_000 + i);
    // Everything but the last window's worth was swept: memory follows recent activity, not history.
    expect(times.size).toBeLessThanOrEqual(2 * 100 + 32);
    expect(times.recent("k499", 1_499)).toBe(1_499);
    expect(times.recent("a", 1_499)).toBeUndefined();
  });

  it("prune drops everything outside the window at once, without changing any answer", () => {
    const times = new RecentTimes(100, 1_000);
    for (let i = 0; i < 20; i++) times.record(`k${i}`, i * 10);
    times.prune(250); // k0..k15 (at 0..150) are 100 ms or more before 250
    expect(times.size).toBe(4);
    expect(times.recent("k16", 250)).toBe(160);
    expect(times.recent("k15", 250)).toBeUndefined();
  });

  it("keeps at most `capacity` entries, forgetting the oldest inserted", () => {
    const times = new RecentTimes(1_000_000, 3);
    for (const key of ["a", "b", "c", "d"]) times.record(key, 1);
    expect(times.recent("a", 2)).toBeUndefined();
    expect(["b", "c", "d"].map((k) => times.recent(k, 2))).toEqual([1, 1, 1]);
  });

  it("answers like a plain map read as 'within the window' (property)", () => {
    const op = fc.record({ key: fc.integer({ min: 0, max: 40 }), step: fc.integer({ min: 0, max: 30 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const times = new RecentTimes(50, 10_000);
        const plain = new Map<string, number>();
        let now = 0;
        for (const { key, step } of ops) {
          now += step;
          times.record(`${key}`, now);
          plain.set(`${key}`, now);
          for (let k = 0; k <= 40; k++) {
            const at = plain.get(`${k}`);
            expect(times.recent(`${k}`, now)).toBe(at !== undefined && now - at < 50 ? at : undefined);
          }
        }
      }),
      { numRuns: 50 },
    );
  });
});
