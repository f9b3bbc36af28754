import { afterEach, describe, expect, it, vi } from "vitest";
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

  describe("sleeping", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    function counting(intervalMs: number): { round: PeriodicRound<number>; rounds: () => number } {
      let rounds = 0;
      const round = new PeriodicRound(
        intervalMs,
        () => true,
        () => Promise.resolve(++rounds),
        0,
      );
      return { round, rounds: () => rounds };
    }

    it("runs no round during a sleep, and one every interval again after its end", async () => {
      vi.useFakeTimers();
      const { round, rounds } = counting(100);
      round.start();
      await vi.advanceTimersByTimeAsync(300);
      expect(rounds()).toBe(3);
      round.sleep(1000);
      await vi.advanceTimersByTimeAsync(999);
      expect(rounds()).toBe(3);
      await vi.advanceTimersByTimeAsync(1 + 300);
      expect(rounds()).toBe(6);
      round.stop();
    });

    it("ends a sleep at wake(): the next round an interval later", async () => {
      vi.useFakeTimers();
      const { round, rounds } = counting(100);
      round.start();
      round.sleep(10_000);
      await vi.advanceTimersByTimeAsync(500);
      round.wake();
      await vi.advanceTimersByTimeAsync(99);
      expect(rounds()).toBe(0);
      await vi.advanceTimersByTimeAsync(1);
      expect(rounds()).toBe(1);
      round.stop();
    });

    it("does not restart a stopped round, whether woken or at the sleep's end", async () => {
      vi.useFakeTimers();
      const { round, rounds } = counting(100);
      round.start();
      round.sleep(1000);
      round.stop();
      round.wake();
      await vi.advanceTimersByTimeAsync(5000);
      expect(rounds()).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
