// Retransmission timeouts per peer from measured round-trip times, as TCP computes them (RFC 6298,
// Jacobson/Karels): srtt + 4 * rttvar. A peer slowed down by a loaded machine gets a longer probe timeout
// instead of being declared dead because its answer came a little late.
import { BoundedMap } from "./bounded-map.js";

/** Gains of RFC 6298: new samples move the mean by 1/8 and the deviation by 1/4. */
const MEAN_GAIN = 1 / 8;
const DEVIATION_GAIN = 1 / 4;

interface Estimate {
  readonly srtt: number;
  readonly rttvar: number;
}

export class RttEstimator {
  private readonly byHex: BoundedMap<string, Estimate>;

  constructor(capacity: number) {
    this.byHex = new BoundedMap<string, Estimate>(capacity);
  }

  /** Folds one round-trip sample (ms) into the peer's estimate; nonsense samples are ignored. */
  record(hex: string, rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    const previous = this.byHex.get(hex);
    if (previous === undefined) {
      this.byHex.set(hex, { srtt: rttMs, rttvar: rttMs / 2 });
      return;
    }
    const rttvar = (1 - DEVIATION_GAIN) * previous.rttvar + DEVIATION_GAIN * Math.abs(previous.srtt - rttMs);
    const srtt = (1 - MEAN_GAIN) * previous.srtt + MEAN_GAIN * rttMs;
    this.byHex.set(hex, { srtt, rttvar });
  }

  /** max(floor, srtt + 4 * rttvar), at most `ceiling`; `floor` while nothing was measured. */
  timeout(hex: string, floor: number, ceiling: number): number {
    const estimate = this.byHex.get(hex);
    if (estimate === undefined) return floor;
    return Math.min(ceiling, Math.max(floor, estimate.srtt + 4 * estimate.rttvar));
  }
}
