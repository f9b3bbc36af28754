// When a replica may forget a deletion's tombstone. A tombstone orders a deletion after the writes it
// deleted; forgetting it is safe once no member of the key's replica set holds one of those writes (an
// older version) that the tombstone would otherwise have to overrule, and once the grace has passed (it
// bounds how long a deletion is remembered for replicas that were away: repairs in flight, a handover).
import type { KvRecord } from "./record.js";
import { compareVersions, type Version } from "./version.js";

/**
 * True when `tombstone`, held here for `heldForMs`, may be removed: it is a tombstone, the grace has passed,
 * and every other member of the key's replica set answered with the tombstone's version, a newer one, or
 * nothing (`others`: one entry per other member; a member that could not be asked makes it false).
 */
export function tombstoneRemovable(
  tombstone: KvRecord,
  heldForMs: number,
  graceMs: number,
  others: readonly (Version | undefined | "unknown")[],
): boolean {
  if (!tombstone.deleted || heldForMs < graceMs) return false;
  return others.every(
    (v) => v !== "unknown" && (v === undefined || compareVersions(v, tombstone.version) >= 0),
  );
}
