// The benchmark's CPU reading must resolve a few milliseconds: short smoke windows measure a daemon that
// runs for only a few ms, which 10 ms scheduler ticks can round to zero.
import { describe, expect, it } from "vitest";
import { cpuSeconds, memoryParts, parseSmaps, rssBytes } from "../../bench/lib/proc.js";

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

  it("splits an smaps listing's resident memory into the executable's pages and anonymous ones", () => {
    const smaps = [
      "00400000-00600000 r-xp 00000000 08:01 42                         /usr/bin/node",
      "Rss:                 300 kB",
      "Anonymous:             0 kB",
      "00800000-00900000 rw-p 00200000 08:01 42                         /usr/bin/node",
      "Rss:                  20 kB",
      "Anonymous:            12 kB",
      "01000000-02000000 rw-p 00000000 00:00 0                          [heap]",
      "Rss:                 100 kB",
      "Anonymous:           100 kB",
      "7f0000000000-7f0000100000 r-xp 00000000 08:01 7                  /usr/lib/libc.so.6",
      "Rss:                  40 kB",
      "Anonymous:             0 kB",
      "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 ",
      "Rss:                  60 kB",
      "Anonymous:            60 kB",
    ].join("\n");
    expect(parseSmaps(smaps, "/usr/bin/node")).toEqual({
      rssBytes: 520 * 1024,
      executableBytes: 320 * 1024,
      anonymousBytes: 172 * 1024,
    });
  });

  it("finds this process's executable pages and anonymous memory, together within its RSS", () => {
    const parts = memoryParts(process.pid);
    expect(parts.executableBytes).toBeGreaterThan(1024 * 1024);
    expect(parts.anonymousBytes).toBeGreaterThan(1024 * 1024);
    expect(parts.executableBytes + parts.anonymousBytes).toBeLessThanOrEqual(parts.rssBytes);
  });
});
