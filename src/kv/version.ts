// Versions of a key's value, ordered without wall clocks: a per-key counter, with the ID of the node that
// coordinated the write to break ties between writes made concurrently by different coordinators.
import type { NodeId } from "../routing/id.js";

export interface Version {
  /** 1 for a key's first write; one more than the highest counter its coordinator read. */
  readonly counter: bigint;
  /** The node that coordinated the write. */
  readonly writer: NodeId;
}

/** Negative when a is older than b, zero when equal, positive when newer: counter first, then writer ID. */
export function compareVersions(a: Version, b: Version): number {
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  return a.writer.value === b.writer.value ? 0 : a.writer.value < b.writer.value ? -1 : 1;
}

export function sameVersion(a: Version, b: Version): boolean {
  return compareVersions(a, b) === 0;
}

/** The newest of some versions; undefined for none. */
export function newestVersion(versions: Iterable<Version | undefined>): Version | undefined {
  let newest: Version | undefined;
  for (const v of versions)
    if (v !== undefined && (newest === undefined || compareVersions(v, newest) > 0)) newest = v;
  return newest;
}

/** The version a coordinator writes after reading `seen` (the versions a read quorum holds). */
export function nextVersion(seen: Iterable<Version | undefined>, writer: NodeId): Version {
  const newest = newestVersion(seen);
  return { counter: (newest?.counter ?? 0n) + 1n, writer };
}

export function formatVersion(v: Version | undefined): string {
  return v === undefined ? "none" : `${v.counter}@${v.writer.hex}`;
}
