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
/** The warm-up is recorded in windows of about this length. */
const WARMUP_WINDOW_MS = 2500;

/** One window of the traffic being warmed up, of `measureMs` with no warm-up of its own. */
export type WarmupRun = (window: {
  readonly warmupMs: number;
  readonly measureMs: number;
}) => Promise<WarmupWindow>;

/** Runs `run` for about `totalMs` in back-to-back windows; their figures, first to last (none for 0 ms). */
export async function warmUp(totalMs: number, run: WarmupRun): Promise<WarmupWindow[]> {
  if (!(totalMs > 0)) return [];
  const count = Math.max(1, Math.round(totalMs / WARMUP_WINDOW_MS));
  const windows: WarmupWindow[] = [];
  for (let i = 0; i < count; i++) {
    const w = await run({ warmupMs: 0, measureMs: totalMs / count });
    windows.push({ perSecond: w.perSecond, cpuSecondsPerOp: w.cpuSecondsPerOp });
  }
  return windows;
}
