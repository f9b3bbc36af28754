// The lines bench/scenarios/embedded.ts and bench/embedded/embedded-process.ts exchange (JSON, one a line).
import type { LatencySummary } from "../lib/stats.js";

/** One measured window of closed-loop Send traffic. */
export interface EmbeddedWindow {
  readonly inFlight: number;
  readonly payloadBytes: number;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface EmbeddedWindowResult {
  readonly perSecond: number;
  readonly latency: LatencySummary;
  /** The whole process's CPU seconds (clusters, load and applications) per delivered message. */
  readonly cpuSecondsPerOp: number;
  readonly meanHops: number;
  readonly failed: number;
  readonly misdelivered: number;
  readonly rssBytes: number;
  readonly latenciesMs: number[];
}
