// Code warm-up: each kind of traffic runs unmeasured on a cluster before its measured windows.
//
// V8 compiles a function to optimized machine code only after it has run many times, and a daemon sees only
// its share of a cluster's traffic. On 8 fresh daemons (1ab4ea3, Node 20), Send at 64 in flight ran at
// 1,450 msgs/s with 1,160 µs of daemon CPU per message in its first 3 s window, and at 5,500 msgs/s with
// 280 µs from about 20 s of traffic on; with V8's optimizing compiler off it stayed at the cold figure
// (the Get at 1 in flight likewise: 2,300 µs per op cold and flat without it, 850 µs warm). A deployed node
// runs warm for all but its first seconds of traffic, so the figures are of warm daemons; the warm-up's own
// windows are kept in the results, so the cold figures are reported too.
import type { WarmupWindow } from "./result.js";

/** Requests in flight while warming up: the most traffic per second, the quickest warm-up. */
export const WARMUP_IN_FLIGHT = 64;
/** The warm-up is run and recorded in windows of about this length. */
export const WARMUP_WINDOW_MS = 2500;
/**
 * A window whose CPU per op is within this share of the lowest before it has stopped improving. Two such
 * windows in a row end the warm-up (one can be noise on this shared machine).
 */
const STEADY_SHARE = 0.95;
const STEADY_WINDOWS = 2;

/** One window of the traffic being warmed up, of `measureMs` with no warm-up of its own. */
export type WarmupRun = (window: {
  readonly warmupMs: number;
  readonly measureMs: number;
}) => Promise<WarmupWindow>;

export interface WarmupLimits {
  /** Always run at least this long (0: no warm-up at all). */
  readonly minMs: number;
  /** Never run longer, steady or not. */
  readonly maxMs: number;
}

/**
 * Runs `run` in back-to-back windows for at least `minMs`, then until the daemons' CPU per op has stopped
 * falling (STEADY_WINDOWS windows in a row no better than STEADY_SHARE of the best before them) or `maxMs`
 * passed; returns the windows' figures, first to last. The floor is per message, not per second: on a
 * bigger cluster each daemon sees a smaller share of the traffic and takes longer to warm.
 */
export async function warmUp(limits: WarmupLimits, run: WarmupRun): Promise<WarmupWindow[]> {
  return (await warmUpTogether(limits, [run]))[0]!;
}

/**
 * warmUp for several clusters compared with each other (bench/ab.ts): their windows alternate (the order
 * reversed every round, as the measured windows are), each cluster's stopping rule is its own, and every
 * cluster keeps running windows until all are done, so that none sits idle while another warms. Warmed one
 * after the other, the cluster warmed first sat idle for the other's whole warm-up (30-60 s), and in A/A
 * runs of bench/ab.ts (8 daemons a side, 1,000 Sends/s, 10 rounds) it then read 9-11 % more CPU per message
 * than the other (twice); with the order reversed the difference went (1,097 and 1,091 µs).
 */
export async function warmUpTogether(
  limits: WarmupLimits,
  runs: readonly WarmupRun[],
): Promise<WarmupWindow[][]> {
  const progress = runs.map(() => new Steadiness());
  if (!(limits.minMs > 0)) return progress.map((p) => p.windows);
  const windowMs = Math.min(WARMUP_WINDOW_MS, limits.minMs);
  const maxWindows = Math.max(1, Math.ceil(Math.max(limits.minMs, limits.maxMs) / windowMs));
  const minWindows = Math.max(1, Math.round(limits.minMs / windowMs));
  const order = runs.map((_, i) => i);
  for (let round = 0; round < maxWindows; round++) {
    for (const i of round % 2 === 0 ? order : [...order].reverse()) {
      progress[i]!.add(await runs[i]!({ warmupMs: 0, measureMs: windowMs }));
    }
    if (progress.every((p) => p.done(minWindows))) break;
  }
  return progress.map((p) => p.windows);
}

/** One cluster's warm-up windows so far, and whether its CPU per op has stopped falling. */
class Steadiness {
  readonly windows: WarmupWindow[] = [];
  private steadyInARow = 0;

  add(w: WarmupWindow): void {
    const best = Math.min(...this.windows.map((x) => x.cpuSecondsPerOp));
    this.steadyInARow = w.cpuSecondsPerOp >= STEADY_SHARE * best ? this.steadyInARow + 1 : 0;
    this.windows.push({ perSecond: w.perSecond, cpuSecondsPerOp: w.cpuSecondsPerOp });
  }

  done(minWindows: number): boolean {
    return this.windows.length >= minWindows && this.steadyInARow >= STEADY_WINDOWS;
  }
}
