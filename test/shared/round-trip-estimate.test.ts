import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RoundTripEstimate } from "../../src/shared/round-trip-estimate.js";

describe("RoundTripEstimate (RFC 6298)", () => {
  it("gives the fallback before any sample, and ignores negative or non-finite samples", () => {
    const estimate = new RoundTripEstimate();
    estimate.sample(-1);
    estimate.sample(Number.NaN);
    estimate.sample(Number.POSITIVE_INFINITY);
    expect(estimate.bounded(0, 1000, 123)).toBe(123);
  });

  it("after a first sample s is smoothed s plus four times s/2 (3s), clamped to the bounds", () => {
    const estimate = new RoundTripEstimate();
    estimate.sample(10);
    expect(estimate.bounded(0, 1000, 0)).toBe(30);
    expect(estimate.bounded(50, 1000, 0)).toBe(50);
    expect(estimate.bounded(0, 20, 0)).toBe(20);
  });

  it("a steady round trip converges on that round trip (the variation decays)", () => {
    const estimate = new RoundTripEstimate();
    for (let i = 0; i < 200; i++) estimate.sample(8);
    expect(estimate.bounded(0, 1000, 0)).toBeCloseTo(8, 3);
  });

  it("the estimate always lies within [min, max] whatever the samples", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -10, max: 1e6, noNaN: false })),
        fc.nat(1000),
        fc.nat(1000),
        (samples, a, b) => {
          const [min, max] = a <= b ? [a, b] : [b, a];
          const estimate = new RoundTripEstimate();
          for (const s of samples) estimate.sample(s);
          const value = estimate.bounded(min, max, min);
          return value >= min && value <= max;
        },
      ),
    );
  });
});
