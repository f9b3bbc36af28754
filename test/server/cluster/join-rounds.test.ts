import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { JoinRounds } from "../../../src/server/cluster/join-rounds.js";
import { JoinError, NotReadyError } from "../../../src/server/errors.js";

function rounds(retryWindowMs: number, random = 0.5): { joins: JoinRounds; clock: { t: number } } {
  const clock = { t: 0 };
  const joins = new JoinRounds({
    clock: { now: () => clock.t },
    random: { next: () => random },
    retryWindowMs,
  });
  return { joins, clock };
}

describe("JoinRounds", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("retries a failed round after a backoff that doubles (250, 500, 1000 ms with the largest jitter factor, 1)", () => {
    const { joins } = rounds(60_000, 1);
    void joins.start(["a:1"]);
    const next = vi.fn();
    for (const backoff of [250, 500, 1000]) {
      expect(joins.roundFailed("refused", next)).toBe(true);
      vi.advanceTimersByTime(backoff - 1);
      const before = next.mock.calls.length;
      vi.advanceTimersByTime(1);
      expect(next.mock.calls.length).toBe(before + 1);
    }
    expect(joins.seeds).toEqual(["a:1"]);
  });

  it("fails the join with JoinError once the retry window is spent, and schedules no further round", async () => {
    const { joins, clock } = rounds(1000);
    const joined = joins.start(["a:1"]);
    clock.t = 1000;
    const next = vi.fn();
    expect(joins.roundFailed("no seed answered", next)).toBe(false);
    await expect(joined).rejects.toBeInstanceOf(JoinError);
    await expect(joined).rejects.toThrow(/within 1000 ms: no seed answered/);
    vi.runAllTimers();
    expect(next).not.toHaveBeenCalled();
  });

  it("resolves the join when it succeeds", async () => {
    const { joins } = rounds(1000);
    const joined = joins.start(["a:1"]);
    joins.succeeded();
    await expect(joined).resolves.toBeUndefined();
  });

  it("on stop, cancels the pending round and fails the join with NotReadyError", async () => {
    const { joins } = rounds(60_000);
    const joined = joins.start(["a:1"]);
    const next = vi.fn();
    joins.roundFailed("refused", next);
    joins.stopped();
    await expect(joined).rejects.toBeInstanceOf(NotReadyError);
    vi.runAllTimers();
    expect(next).not.toHaveBeenCalled();
  });
});
