// How long a read waits for the R replicas it asked first before asking the others too: the replicas' usual
// answer time plus four times its spread (the rule of TCP's retransmission timeout, RFC 6298), within
// bounds. A slow or silent replica then costs a short wait; under load, when every answer is slow, the
// other replicas are not asked for nothing.
import { RoundTripEstimate } from "../shared/round-trip-estimate.js";

export interface HedgeBounds {
  /** The wait at least, however quick the answers have been. */
  readonly minMs: number;
  /** The wait at most, and before any answer was timed. */
  readonly maxMs: number;
}

export class AnswerTimes {
  private readonly estimate = new RoundTripEstimate();

  constructor(private readonly bounds: HedgeBounds) {
    if (!(bounds.minMs >= 0 && bounds.maxMs >= bounds.minMs))
      throw new RangeError(`hedge bounds must satisfy 0 <= min <= max, got ${bounds.minMs}..${bounds.maxMs}`);
  }

  /** One replica's answer time, in ms. */
  observe(ms: number): void {
    this.estimate.sample(ms);
  }

  /** How long to wait for the replicas asked first. */
  hedgeMs(): number {
    return this.estimate.bounded(this.bounds.minMs, this.bounds.maxMs, this.bounds.maxMs);
  }
}
