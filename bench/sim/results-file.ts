// The day's simulation results file: runs of the same day are merged into it, one row per size, mode,
// seed selection and topology (e.g. --sizes 100000 adds to an earlier run of the smaller sizes). Runs may
// go on at the same time, so each merge is a read-modify-write under a lock file, and the new file replaces
// the old by rename: no run loses another's rows, and no reader sees a half-written file.
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import type { BenchResult, IncompleteBuild } from "./benchmark.js";

export type SimRow = BenchResult | IncompleteBuild;

export interface SimResultsDoc {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string };
  readonly results: readonly SimRow[];
}

/** A lock older than this was left by a run that died while holding it. */
const STALE_LOCK_MS = 60_000;
const LOCK_RETRY_MS = 20;
const LOCK_GIVE_UP_MS = 120_000;

export const rowKey = (r: SimRow): string =>
  `${r.nodes}/${r.proximityAware}/${r.seedSelection}/${r.topology ?? "regions"}`;

/** Regions rows first, then by size, proximity before plain. */
function rowOrder(a: SimRow, b: SimRow): number {
  const onPlane = (r: SimRow): number => Number(r.topology === "plane");
  return onPlane(a) - onPlane(b) || a.nodes - b.nodes || Number(b.proximityAware) - Number(a.proximityAware);
}

/**
 * Adds `row` to the results file at `jsonPath` (replacing the row with the same key), then calls `also`
 * with the merged document while still holding the lock (to render the markdown beside it).
 */
export function addResult(
  jsonPath: string,
  row: SimRow,
  header: Omit<SimResultsDoc, "results">,
  also: (doc: SimResultsDoc) => void = () => {},
): SimResultsDoc {
  return withLock(`${jsonPath}.lock`, () => {
    const rows = new Map<string, SimRow>();
    if (existsSync(jsonPath)) {
      const previous = JSON.parse(readFileSync(jsonPath, "utf8")) as { results: SimRow[] };
      for (const r of previous.results) rows.set(rowKey(r), r);
    }
    rows.set(rowKey(row), row);
    const doc: SimResultsDoc = { ...header, results: [...rows.values()].sort(rowOrder) };
    const temporary = `${jsonPath}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(doc, null, 2) + "\n");
    renameSync(temporary, jsonPath);
    also(doc);
    return doc;
  });
}

export function withLock<T>(lockPath: string, work: () => T): T {
  const givingUpAt = Date.now() + LOCK_GIVE_UP_MS;
  for (;;) {
    try {
      closeSync(openSync(lockPath, "wx"));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (lockAgeMs(lockPath) > STALE_LOCK_MS) {
        rmIfPresent(lockPath);
        continue;
      }
      if (Date.now() > givingUpAt) {
        throw new Error(`${lockPath} held for over ${LOCK_GIVE_UP_MS} ms`, { cause: error });
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, LOCK_RETRY_MS);
    }
  }
  try {
    return work();
  } finally {
    rmIfPresent(lockPath);
  }
}

function lockAgeMs(lockPath: string): number {
  try {
    return Date.now() - statSync(lockPath).mtimeMs;
  } catch {
    return 0;
  }
}

function rmIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}
