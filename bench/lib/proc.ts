// CPU time and resident memory of a process, read from /proc (Linux), for the daemons under test.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

// USER_HZ is 100 on every Linux architecture Node supports; /proc/<pid>/stat counts in these ticks.
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * User plus system CPU seconds the process's live threads have used so far. Read from each thread's
 * schedstat (nanoseconds): /proc/<pid>/stat counts in 10 ms ticks, and a daemon that ran for a few ms of a
 * short, busy window could read as zero. Falls back to the ticks where schedstat is missing.
 */
export function cpuSeconds(pid: number): number {
  try {
    let nanoseconds = 0;
    for (const thread of readdirSync(`/proc/${pid}/task`))
      nanoseconds += orZero(() =>
        Number(readFileSync(`/proc/${pid}/task/${thread}/schedstat`, "utf8").split(" ")[0]),
      );
    if (nanoseconds > 0) return nanoseconds / 1e9;
  } catch {
    // No task directory (not Linux, or the process is gone): the ticks below say which.
  }
  return tickCpuSeconds(pid);
}

function tickCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * What a process's resident memory is made of (from /proc/<pid>/smaps): most of an idle daemon's RSS is
 * pages of the Node.js executable itself (its code, built-in libraries and snapshot), clean, shared with
 * every Node.js process of the machine and reclaimable; its own memory (V8's heap, buffers, malloc) is the
 * anonymous part. A memory limit is mostly about the second.
 */
export interface MemoryParts {
  readonly rssBytes: number;
  /** Resident pages mapped from the process's executable (/proc/<pid>/exe). */
  readonly executableBytes: number;
  /** Resident anonymous pages: the process's own memory. */
  readonly anonymousBytes: number;
}

export function memoryParts(pid: number): MemoryParts {
  return parseSmaps(readFileSync(`/proc/${pid}/smaps`, "utf8"), readlinkSync(`/proc/${pid}/exe`));
}

/** Sums an smaps listing's Rss (all, and of mappings of `executable`) and Anonymous fields, kB to bytes. */
export function parseSmaps(smaps: string, executable: string): MemoryParts {
  let rss = 0;
  let ofExecutable = 0;
  let anonymous = 0;
  let mapsExecutable = false;
  for (const line of smaps.split("\n")) {
    const field = /^(\w+):\s+(\d+) kB$/.exec(line);
    if (field === null) {
      // A mapping's header: "start-end perms offset dev inode [path]".
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) mapsExecutable = line.trimEnd().endsWith(` ${executable}`);
      continue;
    }
    const kB = Number(field[2]);
    if (field[1] === "Rss") {
      rss += kB;
      if (mapsExecutable) ofExecutable += kB;
    } else if (field[1] === "Anonymous") anonymous += kB;
  }
  return { rssBytes: rss * 1024, executableBytes: ofExecutable * 1024, anonymousBytes: anonymous * 1024 };
}

/** CPU seconds of the processes that still exist (one that crashed mid-run is left out). */
export function totalCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + orZero(() => cpuSeconds(pid)), 0);
}

/** The largest RSS among the processes that still exist. */
export function maxRssBytes(pids: readonly number[]): number {
  return Math.max(0, ...pids.map((pid) => orZero(() => rssBytes(pid))));
}

function orZero(read: () => number): number {
  try {
    return read();
  } catch {
    return 0;
  }
}
