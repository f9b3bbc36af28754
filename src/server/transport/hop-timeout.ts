// How long a hop on one RouteStream waits for its acknowledgement. A fixed timeout fails hops whenever
// the peer's round trip outgrows it: on a loaded machine (64 messages in flight over several hops, many
// daemons on two cores) round trips of a second and more are common, and each hop failed so is sent again,
// then parked waiting for a liveness probe that is just as slow, and its copies add to the load that made
// it slow. So the timeout follows the stream's measured round trips, as TCP's retransmission timeout does
// (RFC 6298: smoothed round trip plus four times its variation), never below the configured timeout (an
// idle or fast link behaves as before) and never above a few times it (a peer that stops answering is
// still given up on within seconds). A hop sent again to the same peer waits twice as long per earlier
// failed send, as TCP backs off its timer (RFC 6298, 5.5): copies of a hop to a slow peer then come ever
// more rarely instead of adding a copy per timeout to the load that made it slow.
import { RoundTripEstimate } from "../../shared/round-trip-estimate.js";

/** The timeout never grows beyond this many times the configured one. */
export const MAX_TIMEOUT_FACTOR = 4;
/** A backed-off timeout's ceiling (RFC 6298 allows one of at least 60 s). */
export const MAX_BACKOFF_MS = 60_000;

/** `timeoutMs` doubled once per earlier failed send of the same hop (`attempt`), at most MAX_BACKOFF_MS. */
export function backedOff(timeoutMs: number, attempt = 0): number {
  if (attempt <= 0) return timeoutMs;
  return Math.min(Math.max(timeoutMs, MAX_BACKOFF_MS), timeoutMs * 2 ** Math.min(attempt, 16));
}

export class HopTimeout {
  private readonly estimate = new RoundTripEstimate();

  /** `baseMs`: the configured timeout, the floor. */
  constructor(private readonly baseMs: number) {}

  /** The timeout for a hop sent now, in ms. */
  get currentMs(): number {
    return this.estimate.bounded(this.baseMs, MAX_TIMEOUT_FACTOR * this.baseMs, this.baseMs);
  }

  /** The timeout for a hop sent now after `attempt` failed sends of it to this peer, in ms. */
  forAttempt(attempt: number | undefined): number {
    return backedOff(this.currentMs, attempt);
  }

  /** A hop was acknowledged `rttMs` after it was queued. */
  sample(rttMs: number): void {
    this.estimate.sample(rttMs);
  }
}
