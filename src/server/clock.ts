// The runtime's only source of time: monotonic, immune to wall-clock jumps (NTP, manual changes).
import { performance } from "node:perf_hooks";
import type { Millis } from "../routing/types.js";

export interface Clock {
  now(): Millis;
}

export const monotonicClock: Clock = { now: () => performance.now() };
