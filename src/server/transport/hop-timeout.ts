// How long a hop on one RouteStream waits for its acknowledgement. A fixed timeout fails hops whenever
// the peer's round trip outgrows it: on a loaded machine (64 messages in flight over several hops, many
// daemons on two cores) round trips of a second and more are common, and each hop failed so is sent again,
// then parked waiting for a liveness probe that is just as slow, and its copies add to the load that made
// it slow. So the timeout follows the stream's measured round trips, as TCP's retransmission timeout does
// (RFC 6298: smoothed round trip plus four times its variation), never below the configured timeout (an
// idle or fast link behaves as before) and never above a few times it (a peer that stops answering is
// still given up on within seconds).
import { RoundTripEstimate } from "../../shared/round-trip-estimate.js";

/** The timeout never grows beyond this many times the configured one. */
export const MAX_TIMEOUT_FACTOR = 4;

export class HopTimeout {
  private readonly estimate = new RoundTripEstimate();

  /** `baseMs`: the configured timeout, the floor. */
  constructor(private readonly baseMs: number) {}

  /** The timeout for a hop sent now, in ms. */
  get currentMs(): number {
    return this.estimate.bounded(this.baseMs, MAX_TIMEOUT_FACTOR * this.baseMs, this.baseMs);
  }

  /** A hop was acknowledged `rttMs` after it was queued. */
  sample(rttMs: number): void {
    this.estimate.sample(rttMs);
  }
}
