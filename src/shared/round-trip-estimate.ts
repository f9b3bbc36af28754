// A smoothed round-trip time and its variation, as TCP keeps them for its retransmission timeout (RFC 6298):
// the estimate is the smoothed time plus four times its variation. Used wherever a wait should follow the
// answer times actually seen (a hop's acknowledgement, a read's hedge) instead of one fixed figure.

export class RoundTripEstimate {
  private smoothed: number | undefined;
  private variation = 0;

  /** One measured round trip, in ms; negative or non-finite samples are ignored. */
  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    if (this.smoothed === undefined) {
      this.smoothed = ms;
      this.variation = ms / 2;
      return;
    }
    this.variation = 0.75 * this.variation + 0.25 * Math.abs(this.smoothed - ms);
    this.smoothed = 0.875 * this.smoothed + 0.125 * ms;
  }

  /** Smoothed time plus four times its variation, within [min, max]; `fallback` before any sample. */
  bounded(min: number, max: number, fallback: number): number {
    if (this.smoothed === undefined) return fallback;
    return Math.min(max, Math.max(min, this.smoothed + 4 * this.variation));
  }
}
