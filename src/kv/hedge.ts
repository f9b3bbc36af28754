// How long a read waits for the R replicas it asked first before asking the others too: the replicas' usual
// answer time plus four times its spread (the rule of TCP's retransmission timeout, RFC 6298), within
// bounds. A slow or silent replica then costs a short wait; under load, when every answer is slow, the
// other replicas are not asked for nothing.

export interface HedgeBounds {
  /** The wait at least, however quick the answers have been. */
  readonly minMs: number;
  /** The wait at most, and before any answer was timed. */
  readonly maxMs: number;
}

export class AnswerTimes {
  private smoothed: number | undefined;
  private spread = 0;

  constructor(private readonly bounds: HedgeBounds) {
    if (!(bounds.minMs >= 0 && bounds.maxMs >= bounds.minMs))
      throw new RangeError(`hedge bounds must satisfy 0 <= min <= max, got ${bounds.minMs}..${bounds.maxMs}`);
  }

  /** One replica's answer time, in ms. */
  observe(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.smoothed === undefined) {
      this.smoothed = ms;
      this.spread = ms / 2;
      return;
    }
    this.spread = 0.75 * this.spread + 0.25 * Math.abs(this.smoothed - ms);
    this.smoothed = 0.875 * this.smoothed + 0.125 * ms;
  }

  /** How long to wait for the replicas asked first. */
  hedgeMs(): number {
    if (this.smoothed === undefined) return this.bounds.maxMs;
    return Math.min(this.bounds.maxMs, Math.max(this.bounds.minMs, this.smoothed + 4 * this.spread));
  }
}
