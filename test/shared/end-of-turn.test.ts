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
});
