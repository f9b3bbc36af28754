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
  if (!(limits.minMs > 0)) return [];
  const windowMs = Math.min(WARMUP_WINDOW_MS, limits.minMs);
  const maxWindows = Math.max(1, Math.ceil(Math.max(limits.minMs, limits.maxMs) / windowMs));
  const minWindows = Math.max(1, Math.round(limits.minMs / windowMs));
  const windows: WarmupWindow[] = [];
  let steadyInARow = 0;
  while (windows.length < maxWindows) {
    const w = await run({ warmupMs: 0, measureMs: windowMs });
    const best = Math.min(...windows.map((x) => x.cpuSecondsPerOp));
    steadyInARow = w.cpuSecondsPerOp >= STEADY_SHARE * best ? steadyInARow + 1 : 0;
    windows.push({ perSecond: w.perSecond, cpuSecondsPerOp: w.cpuSecondsPerOp });
    if (windows.length >= minWindows && steadyInARow >= STEADY_WINDOWS) break;
  }
  return windows;
}
