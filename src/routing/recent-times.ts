// When each peer was last seen doing something, for questions that only ever ask "within the last `window`
// ms?". Entries older than the window answer like absent ones, so they are swept out now and then: with
// 100,000 simulated nodes in one process, keeping every peer ever seen would cost hundreds per node. The
// sweep runs when the map has doubled since the last one (amortised O(1) per record, no per-record reorder).
const MIN_SWEEP_SIZE = 32;

export class RecentTimes {
  private readonly times = new Map<string, number>();
  private sweepAtSize = MIN_SWEEP_SIZE;

  /**
   * @param windowMs only times within this long of the question's `now` count.
   * @param capacity beyond this many recent entries, the oldest inserted are forgotten (a memory bound).
   */
  constructor(
    readonly windowMs: number,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.times.size;
  }

  /** The time recorded for `key` if it lies within the window before `now`, else undefined. */
  recent(key: string, now: number): number | undefined {
    const at = this.times.get(key);
    return at !== undefined && now - at < this.windowMs ? at : undefined;
  }

  record(key: string, at: number): void {
    // Size first: below capacity (nearly always) no look-up is needed before the set.
    if (this.times.size >= this.capacity && !this.times.has(key)) {
      const oldest = this.times.keys().next();
      if (oldest.done !== true) this.times.delete(oldest.value);
    }
    this.times.set(key, at);
    if (this.times.size >= this.sweepAtSize) this.prune(at);
  }

  /** Drops every entry outside the window before `now` (answers do not change). */
  prune(now: number): void {
    // forEach, not for-of: no [key, value] pair allocated per entry (this runs every gossip round per node).
    this.times.forEach((at, key, times) => {
      if (now - at >= this.windowMs) times.delete(key);
    });
    this.sweepAtSize = Math.max(MIN_SWEEP_SIZE, 2 * this.times.size);
  }
}
