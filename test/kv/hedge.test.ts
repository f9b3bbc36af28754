// The hedge time of a read (src/kv/hedge.ts): the replicas' smoothed answer time plus four times its
// spread, within its bounds; the upper bound before any answer was timed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AnswerTimes } from "../../src/kv/hedge.js";

const bounds = { minMs: 5, maxMs: 100 };

describe("AnswerTimes", () => {
  it("waits the upper bound before any answer was timed", () => {
    expect(new AnswerTimes(bounds).hedgeMs()).toBe(100);
  });

  it("waits the lower bound after steady answers quicker than it", () => {
    const times = new AnswerTimes(bounds);
    for (let i = 0; i < 50; i++) times.observe(1);
    expect(times.hedgeMs()).toBe(5);
  });

  it("waits longer after answers that vary than after steady ones of the same mean", () => {
    const steady = new AnswerTimes(bounds);
    const varying = new AnswerTimes(bounds);
    for (let i = 0; i < 50; i++) {
      steady.observe(10);
      varying.observe(i % 2 === 0 ? 2 : 18);
    }
    expect(varying.hedgeMs()).toBeGreaterThan(steady.hedgeMs());
  });

  it("ignores times that are not finite non-negative numbers", () => {
    const times = new AnswerTimes(bounds);
    times.observe(Number.NaN);
    times.observe(-1);
    times.observe(Number.POSITIVE_INFINITY);
    expect(times.hedgeMs()).toBe(100);
  });

  it("always waits within its bounds, whatever the answer times", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 1e6, noNaN: false }), { maxLength: 200 }),
        (observed) => {
          const times = new AnswerTimes(bounds);
          for (const ms of observed) times.observe(ms);
          const wait = times.hedgeMs();
          return wait >= bounds.minMs && wait <= bounds.maxMs;
        },
      ),
    );
  });

  it("refuses bounds whose lower end exceeds the upper", () => {
    expect(() => new AnswerTimes({ minMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});
