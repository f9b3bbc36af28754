import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReplayWindow, type ReplayVerdict } from "../../src/server/auth/replay-window.js";

/** The obvious (unbounded-memory) definition the window must agree with. */
function referenceVerdicts(size: number, seqs: readonly number[]): ReplayVerdict[] {
  const seen = new Set<number>();
  let highest = 0;
  return seqs.map((seq) => {
    if (seq > highest) {
      highest = seq;
      seen.add(seq);
      return "fresh";
    }
    if (highest - seq >= size) return "too-old";
    if (seen.has(seq)) return "replayed";
    seen.add(seq);
    return "fresh";
  });
}

describe("ReplayWindow", () => {
  it("accepts any order of distinct seqs within the window once, and rejects every repeat", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 200 }),
        (size, base, raw) => {
          // Every seq lies in [base+1, base+size]: a span the window covers whatever arrives first.
          const seqs = raw.map((r) => base + 1 + (r % size));
          const window = new ReplayWindow(size);
          const firstSeen = new Set<number>();
          for (const seq of seqs) {
            const expected = firstSeen.has(seq) ? "replayed" : "fresh";
            firstSeen.add(seq);
            expect(window.accept(seq)).toBe(expected);
          }
        },
      ),
    );
  });

  it("accepts a whole 1024-wide window in shuffled order exactly once", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([...Array(1024).keys()], { minLength: 1024 }), (order) => {
        const window = new ReplayWindow(1024);
        const first = order.map((i) => window.accept(i + 1));
        const again = order.map((i) => window.accept(i + 1));
        expect(first.every((v) => v === "fresh") && again.every((v) => v === "replayed")).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it("agrees with the reference definition on arbitrary traffic, including seqs far behind", () => {
    // A random walk of seqs (steps up to a little more than the window either way): the window slides by
    // small and large steps, and late, duplicate and too-old seqs all occur.
    const traffic = fc.integer({ min: 1, max: 16 }).chain((size) =>
      fc.tuple(
        fc.constant(size),
        fc.array(fc.integer({ min: -size - 2, max: size + 2 }), { maxLength: 200 }).map((steps) => {
          let seq = 1;
          return steps.map((step) => (seq = Math.max(1, seq + step)));
        }),
      ),
    );
    fc.assert(
      fc.property(traffic, ([size, seqs]) => {
        const window = new ReplayWindow(size);
        expect(seqs.map((s) => window.accept(s))).toEqual(referenceVerdicts(size, seqs));
      }),
      { numRuns: 300 },
    );
  });

  it("keeps the oldest in-window seq and refuses the one just past the edge", () => {
    const window = new ReplayWindow(1024);
    expect(window.accept(2000)).toBe("fresh");
    expect(window.accept(2000 - 1023)).toBe("fresh");
    expect(window.accept(2000 - 1024)).toBe("too-old");
    expect(window.accept(2000 - 1023)).toBe("replayed");
  });

  it("forgets slots it slides past, including a jump wider than the window", () => {
    const window = new ReplayWindow(4);
    expect(window.accept(1)).toBe("fresh");
    expect(window.accept(2)).toBe("fresh");
    // Jumping a whole window (2 -> 6) forgets every slot; unseen 3 and 5 are then accepted.
    expect(window.accept(6)).toBe("fresh");
    expect(window.accept(3)).toBe("fresh");
    expect(window.accept(5)).toBe("fresh");
    expect(window.accept(2)).toBe("too-old");
    // Sliding 6 -> 8 skips 7, whose slot last held the seen 3: it must be cleared, so unseen 7 is fresh.
    expect(window.accept(8)).toBe("fresh");
    expect(window.accept(7)).toBe("fresh");
    expect(window.accept(100)).toBe("fresh");
    expect(window.accept(97)).toBe("fresh");
    expect(window.accept(96)).toBe("too-old");
  });

  it("treats zero, negatives, fractions and unsafe integers as invalid", () => {
    const window = new ReplayWindow();
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53]) expect(window.accept(bad)).toBe("invalid");
    expect(window.accept(1)).toBe("fresh");
  });

  it("refuses a size below one", () => {
    expect(() => new ReplayWindow(0)).toThrow(RangeError);
  });
});
