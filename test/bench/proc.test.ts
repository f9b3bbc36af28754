// The benchmark's CPU reading must resolve a few milliseconds: short smoke windows measure a daemon that
// runs for only a few ms, which 10 ms scheduler ticks can round to zero.
import { describe, expect, it } from "vitest";
import { cpuSeconds, rssBytes } from "../../bench/lib/proc.js";

/** Spins until the process has used `ms` more CPU (by getrusage), whatever the machine's load. */
function burn(ms: number): void {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
}

describe("process CPU and memory from /proc", () => {
  it("sees 3 ms of CPU as 3 ms, not as zero or one tick", () => {
    const before = cpuSeconds(process.pid);
    burn(3);
    const used = cpuSeconds(process.pid) - before;
    expect(used).toBeGreaterThanOrEqual(0.0025);
    // Other threads (GC, the worker pool) may add a little; a 10 ms tick would overshoot far more often.
    expect(used).toBeLessThan(0.0095);
  });

  it("agrees with getrusage over a longer burn", () => {
    const before = cpuSeconds(process.pid);
    const usage = process.cpuUsage();
    burn(50);
    const used = cpuSeconds(process.pid) - before;
    const rusage = process.cpuUsage(usage);
    expect(used).toBeCloseTo((rusage.user + rusage.system) / 1e6, 1);
  });

  it("reads the resident set size", () => {
    expect(rssBytes(process.pid)).toBeGreaterThan(1024 * 1024);
  });
});
