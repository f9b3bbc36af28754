// Helpers shared by the hostile-input tests: a node's resident memory and a routed-message check.
import { readFileSync } from "node:fs";
import type { PeerProcess } from "../../integration/harness.js";

/** Resident set size of a node's process in bytes (Linux /proc). */
export function residentBytes(peer: PeerProcess): number {
  const pid = peer.child.pid;
  if (pid === undefined) throw new Error(`${peer.options.name} has no pid`);
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  const kb = Number(/(\d+)/.exec(line ?? "")?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for pid ${pid}`);
  return kb * 1024;
}

/** Runs `tasks` with at most `width` in flight at once; results in task order. */
export async function inBatches<T>(tasks: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

/** Counts of each value. */
export function tally<T>(values: readonly T[]): Map<T, number> {
  const counts = new Map<T, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
