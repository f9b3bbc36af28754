// The code warm-up's stopping rule (bench/lib/warmup.ts): at least its floor, on while the daemons' CPU per
// op keeps falling, never past its cap.
import { describe, expect, it } from "vitest";
import { WARMUP_WINDOW_MS, warmUp, warmUpTogether, type WarmupRun } from "../../bench/lib/warmup.js";

/** A run whose successive windows cost `cpuUs` µs per op; records the windows asked for. */
function scripted(cpuUs: readonly number[]): { run: WarmupRun; asked: number[] } {
  const asked: number[] = [];
  const run: WarmupRun = (window) => {
    asked.push(window.measureMs);
    const us = cpuUs[Math.min(asked.length - 1, cpuUs.length - 1)]!;
    return Promise.resolve({ perSecond: 1e6 / us, cpuSecondsPerOp: us / 1e6 });
  };
  return { run, asked };
}

describe("code warm-up", () => {
  it("runs nothing when its floor is 0", async () => {
    const { run, asked } = scripted([100]);
    expect(await warmUp({ minMs: 0, maxMs: 60_000 }, run)).toEqual([]);
    expect(asked).toEqual([]);
  });

  it("stops at its floor once the CPU per op is flat", async () => {
    const { run, asked } = scripted([300, 300, 300, 300, 300, 300, 300, 300]);
    const windows = await warmUp({ minMs: 4 * WARMUP_WINDOW_MS, maxMs: 20 * WARMUP_WINDOW_MS }, run);
    expect(windows).toHaveLength(4);
    expect(asked.every((ms) => ms === WARMUP_WINDOW_MS)).toBe(true);
  });

  it("goes on past its floor while the CPU per op falls by more than 5 % a window, then needs two steady windows", async () => {
    const { run } = scripted([1000, 800, 640, 510, 410, 400, 405, 400, 400]);
    const windows = await warmUp({ minMs: 2 * WARMUP_WINDOW_MS, maxMs: 20 * WARMUP_WINDOW_MS }, run);
    // 410 is the last window 5 % better than all before it; 400 and 405 are the two steady ones.
    expect(windows.map((w) => Math.round(w.cpuSecondsPerOp * 1e6))).toEqual([
      1000, 800, 640, 510, 410, 400, 405,
    ]);
  });

  it("stops at its cap while the CPU per op still falls", async () => {
    const { run } = scripted(Array.from({ length: 50 }, (_, i) => 2000 * 0.9 ** i));
    const windows = await warmUp({ minMs: 2 * WARMUP_WINDOW_MS, maxMs: 6 * WARMUP_WINDOW_MS }, run);
    expect(windows).toHaveLength(6);
  });

  it("runs one window of its floor's length when the floor is shorter than a window", async () => {
    const { run, asked } = scripted([100]);
    expect(await warmUp({ minMs: 300, maxMs: 300 }, run)).toHaveLength(1);
    expect(asked).toEqual([300]);
  });
});

describe("code warm-up of clusters compared side by side", () => {
  it("alternates the clusters' windows, the order reversed every round, until both are steady", async () => {
    const calls: string[] = [];
    const costs: Record<string, readonly number[]> = {
      a: [300, 200, 200, 200, 200, 200, 200, 200],
      b: [500, 400, 300, 250, 250, 250, 250, 250],
    };
    const runOf =
      (name: string): WarmupRun =>
      () => {
        const seen = calls.filter((c) => c === name).length;
        calls.push(name);
        const us = costs[name]![Math.min(seen, costs[name]!.length - 1)]!;
        return Promise.resolve({ perSecond: 1e6 / us, cpuSecondsPerOp: us / 1e6 });
      };
    const [a, b] = await warmUpTogether({ minMs: 2 * WARMUP_WINDOW_MS, maxMs: 40 * WARMUP_WINDOW_MS }, [
      runOf("a"),
      runOf("b"),
    ]);
    // a is steady after its 3rd window, b after its 6th; a keeps warming meanwhile instead of sitting idle.
    expect(calls).toEqual(["a", "b", "b", "a", "a", "b", "b", "a", "a", "b", "b", "a"]);
    expect(a).toHaveLength(6);
    expect(b).toHaveLength(6);
  });

  it("is warmUp's rule for a single cluster", async () => {
    const { run, asked } = scripted([300, 250, 200, 200, 200, 200]);
    const [only] = await warmUpTogether({ minMs: 2 * WARMUP_WINDOW_MS, maxMs: 40 * WARMUP_WINDOW_MS }, [run]);
    expect(only!.map((w) => Math.round(w.cpuSecondsPerOp * 1e6))).toEqual([300, 250, 200, 200, 200]);
    expect(asked).toHaveLength(5);
  });
});
