// Sliding anti-replay window over per-session sequence numbers (as IPsec's, RFC 4303 section 3.4.3).
// Concurrent HTTP/2 calls can arrive out of order, so any unseen seq within `size` of the highest seen is
// accepted once; anything older is refused, because the window no longer remembers whether it was seen.

export const DEFAULT_REPLAY_WINDOW = 1024;

export type ReplayVerdict = "fresh" | "replayed" | "too-old" | "invalid";

export class ReplayWindow {
  private highest = 0;
  /** seen[seq % size] is set when that seq (one of the last `size` up to `highest`) was accepted. */
  private readonly seen: Uint8Array;

  constructor(readonly size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`replay window size must be >= 1`);
    this.seen = new Uint8Array(size);
  }

  /** Checks `seq` and, when fresh, records it. Sequence numbers start at 1. */
  accept(seq: number): ReplayVerdict {
    if (!Number.isSafeInteger(seq) || seq < 1) return "invalid";
    if (seq > this.highest) {
      this.advanceTo(seq);
      this.seen[seq % this.size] = 1;
      return "fresh";
    }
    if (this.highest - seq >= this.size) return "too-old";
    const slot = seq % this.size;
    if (this.seen[slot] === 1) return "replayed";
    this.seen[slot] = 1;
    return "fresh";
  }

  /** Slides the window up; slots for seqs skipped on the way are cleared (never seen). */
  private advanceTo(seq: number): void {
    const gap = seq - this.highest;
    if (gap >= this.size) {
      this.seen.fill(0);
    } else {
      for (let s = this.highest + 1; s <= seq; s++) this.seen[s % this.size] = 0;
    }
    this.highest = seq;
  }
}
