// Quorum decisions: when a write or read has heard enough, and when it can no longer succeed.

export type QuorumState = "pending" | "reached" | "failed";

/**
 * A request to `total` replicas that needs `needed` successes. Reached as soon as `needed` succeeded;
 * failed as soon as too many failed for the rest to make up the difference.
 */
export class Quorum {
  private successes = 0;
  private failures = 0;

  constructor(
    readonly total: number,
    readonly needed: number,
  ) {
    if (!(Number.isInteger(needed) && needed >= 1))
      throw new RangeError(`a quorum needs at least 1, got ${needed}`);
  }

  succeeded(): QuorumState {
    this.successes++;
    return this.state;
  }

  failed(): QuorumState {
    this.failures++;
    return this.state;
  }

  get state(): QuorumState {
    if (this.successes >= this.needed) return "reached";
    if (this.total - this.failures < this.needed) return "failed";
    return "pending";
  }

  get answered(): number {
    return this.successes;
  }

  /** Every replica has answered, one way or the other. */
  get settled(): boolean {
    return this.successes + this.failures >= this.total;
  }
}

/**
 * How many replicas a put's version read needs so that it meets every acknowledged write: a read set and a
 * write set of the same k replicas intersect when they hold more than k together.
 */
export function versionReadQuorum(k: number, writeQuorum: number, readQuorum: number): number {
  return Math.max(readQuorum, k - writeQuorum + 1);
}
