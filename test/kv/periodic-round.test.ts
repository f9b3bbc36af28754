import { describe, expect, it } from "vitest";
import { PeriodicRound } from "../../src/server/kv/periodic-round.js";

describe("PeriodicRound", () => {
  it("runs no second round while one is running: the overlapping call returns the skipped value", async () => {
    let release: () => void = () => {};
    let bodies = 0;
    const round = new PeriodicRound(
      60_000,
      () => true,
      () => {
        bodies++;
        return new Promise<number>((resolve) => (release = () => resolve(7)));
      },
      0,
    );
    const first = round.run();
    expect(await round.run()).toBe(0);
    release();
    expect(await first).toBe(7);
    expect(bodies).toBe(1);
  });

  it("skips rounds while the node is not ready, and runs once it is", async () => {
    let ready = false;
    let bodies = 0;
    const round = new PeriodicRound(
      60_000,
      () => ready,
      () => Promise.resolve(++bodies),
      -1,
    );
    expect(await round.run()).toBe(-1);
    ready = true;
    expect(await round.run()).toBe(1);
  });

  it("runs the next round after one that threw", async () => {
    let calls = 0;
    const round = new PeriodicRound(
      60_000,
      () => true,
      () => (++calls === 1 ? Promise.reject(new Error("peer gone")) : Promise.resolve(calls)),
      0,
    );
    await expect(round.run()).rejects.toThrow("peer gone");
    expect(await round.run()).toBe(2);
  });
});
