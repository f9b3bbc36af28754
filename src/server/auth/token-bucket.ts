// A token bucket on a monotonic clock: `ratePerSecond` tokens a second, holding at most that many.

export class TokenBucket {
  private tokens: number;
  private lastRefill: number;

  constructor(
    private readonly ratePerSecond: number,
    now: number,
  ) {
    if (!(ratePerSecond > 0)) throw new RangeError("token bucket rate must be > 0");
    this.tokens = ratePerSecond;
    this.lastRefill = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    if (this.ratePerSecond === Infinity) return true;
    const elapsed = Math.max(0, now - this.lastRefill);
    this.tokens = Math.min(this.ratePerSecond, this.tokens + (elapsed * this.ratePerSecond) / 1000);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
