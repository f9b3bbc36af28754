import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EventQueue } from "../../src/sim/event-queue.js";

describe("EventQueue", () => {
  it("pops in time order, ties in scheduling order, and advances the clock", () => {
    const q = new EventQueue<string>();
    q.schedule(30, "c");
    q.schedule(10, "a1");
    q.schedule(20, "b");
    q.schedule(10, "a2");
    q.schedule(10, "a3");
    const seen: [string, number][] = [];
    for (let e = q.pop(); e !== undefined; e = q.pop()) seen.push([e, q.now]);
    expect(seen).toEqual([
      ["a1", 10],
      ["a2", 10],
      ["a3", 10],
      ["b", 20],
      ["c", 30],
    ]);
    expect(q.size).toBe(0);
  });

  it("never schedules into the past", () => {
    const q = new EventQueue<string>();
    q.schedule(50, "first");
    q.pop();
    q.schedule(10, "late");
    expect(q.peekTime()).toBe(50);
    q.after(5, "soon");
    expect(q.pop()).toBe("late");
    expect(q.pop()).toBe("soon");
    expect(q.now).toBe(55);
  });

  it("advances through quiet time but not past a due event", () => {
    const q = new EventQueue<number>();
    q.advanceTo(100);
    expect(q.now).toBe(100);
    q.after(10, 1);
    expect(() => q.advanceTo(200)).toThrow(/due at 110/);
  });

  it("matches a stable sort for any schedule (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const q = new EventQueue<number>();
        times.forEach((t, i) => q.schedule(t, i));
        const out: number[] = [];
        for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e);
        const expected = times.map((t, i) => ({ t, i })).sort((a, b) => a.t - b.t || a.i - b.i);
        expect(out).toEqual(expected.map((x) => x.i));
      }),
    );
  });
});
