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

  it("interleaved schedules and pops, growing past its initial capacity, match a sorted model (property)", () => {
    // Each step schedules a burst of events some delay after now, then takes a few: the heap grows well
    // beyond its first 1024 slots and shrinks again, and every pop must be the earliest (ties: oldest) left.
    const step = fc.record({
      delays: fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 400 }),
      pops: fc.integer({ min: 0, max: 300 }),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (rest) => {
        // A first burst larger than the initial capacity makes every run grow the heap.
        const steps = [
          { delays: Array.from({ length: 1500 }, (_, i) => (i * 7919) % 41), pops: 200 },
          ...rest,
        ];
        const q = new EventQueue<number>();
        const model: { t: number; i: number }[] = [];
        let next = 0;
        const take = (): void => {
          const expected = model.shift();
          expect(q.pop()).toBe(expected?.i);
          if (expected !== undefined) expect(q.now).toBe(expected.t);
        };
        for (const { delays, pops } of steps) {
          for (const d of delays) {
            model.push({ t: q.now + d, i: next });
            q.after(d, next++);
          }
          model.sort((a, b) => a.t - b.t || a.i - b.i);
          for (let k = 0; k < pops; k++) take();
          expect(q.size).toBe(model.length);
        }
        while (model.length > 0) take();
        expect(q.pop()).toBeUndefined();
      }),
      { numRuns: 30 },
    );
  });

  it("events scheduled in order (the lane) and out of it (the heap) come out as one stable sort by time (property)", () => {
    // Each step either schedules through schedule() or scheduleInOrder() (in or out of order: the latter
    // falls back to the heap) some delay after now, or takes an event; a growing lane wraps around its ring.
    const op = fc.oneof(
      fc.record({ kind: fc.constant("heap" as const), delay: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant("lane" as const), delay: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant("pop" as const), delay: fc.constant(0) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const q = new EventQueue<number>();
        const model: { t: number; i: number }[] = [];
        let next = 0;
        const take = (): void => {
          model.sort((a, b) => a.t - b.t || a.i - b.i);
          const expected = model.shift();
          expect(q.pop()).toBe(expected?.i);
          if (expected !== undefined) expect(q.now).toBe(expected.t);
        };
        for (const { kind, delay } of ops) {
          if (kind === "pop") {
            take();
            continue;
          }
          model.push({ t: q.now + delay, i: next });
          if (kind === "heap") q.schedule(q.now + delay, next++);
          else q.scheduleInOrder(q.now + delay, next++);
          expect(q.size).toBe(model.length);
          expect(q.peekTime()).toBe(Math.min(...model.map((m) => m.t)));
        }
        while (model.length > 0) take();
        expect(q.pop()).toBeUndefined();
        expect(q.size).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it("a lane of periodic events grows past its initial ring and keeps them in order", () => {
    // 3,000 events a fixed period apart, each re-scheduled when taken, as the simulator does with ticks.
    const q = new EventQueue<number>();
    for (let i = 0; i < 3000; i++) q.scheduleInOrder(i / 3, i);
    const seen: number[] = [];
    for (let k = 0; k < 6000; k++) {
      const e = q.pop() as number;
      seen.push(e);
      q.scheduleInOrder(q.now + 1000, e);
    }
    expect(seen).toEqual([
      ...Array.from({ length: 3000 }, (_, i) => i),
      ...Array.from({ length: 3000 }, (_, i) => i),
    ]);
    expect(q.size).toBe(3000);
  });
});
