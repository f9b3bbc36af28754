// Network proximity per peer: smoothed round-trip time, scaled when the peer lives in another region, and
// the retransmission timeout derived from the same samples. One record per peer, updated in place: with
// 100,000 simulated nodes in one process, every per-peer map entry counts.
import type { NodeInfo } from "./types.js";

/** Weight of a new RTT sample in the proximity average: recent samples dominate, one outlier does not. */
const RTT_SMOOTHING = 0.3;
/** Gains of RFC 6298 for the timeout: new samples move the mean by 1/8 and the deviation by 1/4. */
const MEAN_GAIN = 1 / 8;
const DEVIATION_GAIN = 1 / 4;

/** Proximity from a round-trip time: a peer in another region counts as `multiplier` times farther. */
export function regionScaled(rttMs: number, sameRegion: boolean, multiplier: number): number {
  return sameRegion ? rttMs : rttMs * multiplier;
}

/** The address to reach `peer` from `self`: local inside a region, global across regions. */
export function addressFor(self: NodeInfo, peer: NodeInfo): string {
  return self.region === peer.region ? peer.localAddress : peer.globalAddress;
}

interface PeerRtt {
  readonly peer: NodeInfo;
  /** Proximity's moving average (RTT_SMOOTHING). */
  smoothed: number;
  /** RFC 6298 smoothed RTT and deviation, for timeouts. */
  srtt: number;
  rttvar: number;
  /** When the last sample came (monotonic ms). */
  at: number;
}

export interface ProximityStoreOptions {
  /** Measurements beyond this many are forgotten, those of peers `keep` names last. */
  readonly capacity: number;
  /** Peers whose measurement must stay (our state's members: their slots are ranked by it). */
  readonly keep: (peer: NodeInfo) => boolean;
}

export class ProximityStore {
  private readonly byHex = new Map<string, PeerRtt>();

  constructor(
    private readonly self: NodeInfo,
    private readonly regionMultiplier: number,
    private readonly options: ProximityStoreOptions = {
      capacity: Number.POSITIVE_INFINITY,
      keep: () => true,
    },
  ) {}

  /** Folds one RTT sample (ms) into the peer's averages (the first sample is taken as is). */
  record(peer: NodeInfo, rttMs: number, now = 0): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    const hex = peer.id.hex;
    const known = this.byHex.get(hex);
    if (known === undefined) {
      if (this.byHex.size >= this.options.capacity) this.evictOne();
      this.byHex.set(hex, { peer, smoothed: rttMs, srtt: rttMs, rttvar: rttMs / 2, at: now });
      return;
    }
    known.smoothed += RTT_SMOOTHING * (rttMs - known.smoothed);
    known.rttvar = (1 - DEVIATION_GAIN) * known.rttvar + DEVIATION_GAIN * Math.abs(known.srtt - rttMs);
    known.srtt = (1 - MEAN_GAIN) * known.srtt + MEAN_GAIN * rttMs;
    known.at = now;
  }

  rtt(peer: NodeInfo): number | undefined {
    return this.byHex.get(peer.id.hex)?.smoothed;
  }

  /** Smaller is nearer; undefined until a round trip to the peer has been measured. */
  proximity(peer: NodeInfo): number | undefined {
    const rtt = this.byHex.get(peer.id.hex)?.smoothed;
    if (rtt === undefined) return undefined;
    return regionScaled(rtt, peer.region === this.self.region, this.regionMultiplier);
  }

  /** max(floor, srtt + 4 * rttvar) as TCP computes its timeout, at most `ceiling`; `floor` if unmeasured. */
  timeout(hex: string, floor: number, ceiling: number): number {
    const known = this.byHex.get(hex);
    if (known === undefined) return floor;
    return Math.min(ceiling, Math.max(floor, known.srtt + 4 * known.rttvar));
  }

  forget(hex: string): void {
    this.byHex.delete(hex);
  }

  /**
   * Forgets measurements older than `maxAgeMs` of peers that are not kept: a candidate measured and turned
   * away is measured again if it is offered again later, and memory follows the state, not history.
   */
  prune(now: number, maxAgeMs: number): void {
    for (const [hex, known] of this.byHex) {
      if (now - known.at >= maxAgeMs && !this.options.keep(known.peer)) this.byHex.delete(hex);
    }
  }

  get size(): number {
    return this.byHex.size;
  }

  /** Full: the oldest measurement of a peer not kept goes, or the oldest of all when every peer is kept. */
  private evictOne(): void {
    let oldest: string | undefined;
    for (const [hex, known] of this.byHex) {
      oldest ??= hex;
      if (!this.options.keep(known.peer)) {
        this.byHex.delete(hex);
        return;
      }
    }
    if (oldest !== undefined) this.byHex.delete(oldest);
  }
}
