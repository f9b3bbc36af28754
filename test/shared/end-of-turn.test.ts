import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { EndOfTurnFlush } from "../../src/shared/end-of-turn.js";

describe("EndOfTurnFlush", () => {
  it("runs once at the end of the turn however often it was scheduled in it, and not before", async () => {
    let runs = 0;
    const flush = new EndOfTurnFlush(() => runs++);
    for (let i = 0; i < 5; i++) flush.schedule();
    await Promise.resolve();
    expect(runs).toBe(0);
    expect(flush.scheduled).toBe(true);
    await nextTurn();
    expect(runs).toBe(1);
    expect(flush.scheduled).toBe(false);
  });

  it("runs again when scheduled in a later turn, also from within its own flush", async () => {
    let runs = 0;
    const flush = new EndOfTurnFlush(() => {
      runs++;
      if (runs === 1) flush.schedule();
    });
    flush.schedule();
    await nextTurn();
    expect(runs).toBe(1);
    await nextTurn();
    expect(runs).toBe(2);
    await nextTurn();
    expect(runs).toBe(2);
  });

  it("does not run once cancelled, and can be scheduled afresh after", async () => {
    let runs = 0;
    const flush = new EndOfTurnFlush(() => runs++);
    flush.schedule();
    flush.cancel();
    expect(flush.scheduled).toBe(false);
    await nextTurn();
    expect(runs).toBe(0);
    flush.schedule();
    await nextTurn();
    expect(runs).toBe(1);
  });

  it("asked for soon, runs once after the microtasks already queued, before the end of the turn, covering asks made before it runs", async () => {
    const order: string[] = [];
    const flush = new EndOfTurnFlush(() => order.push("flush"));
    setImmediate(() => order.push("end of turn"));
    queueMicrotask(() => {
      order.push("earlier microtask");
      flush.schedule(true);
    });
    flush.schedule(true);
    flush.schedule();
    flush.schedule(true);
    expect(order).toEqual([]);
    expect(flush.scheduled).toBe(true);
    await nextTurn();
    expect(order).toEqual(["earlier microtask", "flush", "end of turn"]);
    expect(flush.scheduled).toBe(false);
    await nextTurn();
    expect(order).toEqual(["earlier microtask", "flush", "end of turn"]);
  });

  it("asked for soon after an end-of-turn ask, runs once, after the current microtasks", async () => {
    const order: string[] = [];
    const flush = new EndOfTurnFlush(() => order.push("flush"));
    flush.schedule();
    setImmediate(() => order.push("end of turn"));
    flush.schedule(true);
    await Promise.resolve();
    await Promise.resolve();
    expect(order).toEqual(["flush"]);
    await nextTurn();
    await nextTurn();
    expect(order).toEqual(["flush", "end of turn"]);
  });

  it("asked for soon, does not run once cancelled, and runs once when asked for soon again before its microtask", async () => {
    let runs = 0;
    const flush = new EndOfTurnFlush(() => runs++);
    flush.schedule(true);
    flush.cancel();
    expect(flush.scheduled).toBe(false);
    await nextTurn();
    expect(runs).toBe(0);
    flush.schedule(true);
    flush.cancel();
    flush.schedule(true);
    await nextTurn();
    expect(runs).toBe(1);
  });
});
