// Network proximity per peer: smoothed round-trip time, scaled when the peer lives in another region.
import type { NodeInfo } from "./types.js";

/** Weight of a new RTT sample in the moving average: recent samples dominate, one outlier does not. */
const RTT_SMOOTHING = 0.3;

/** The address to reach `peer` from `self`: local inside a region, global across regions. */
export function addressFor(self: NodeInfo, peer: NodeInfo): string {
  return self.region === peer.region ? peer.localAddress : peer.globalAddress;
}

export class ProximityStore {
  private readonly rttByHex = new Map<string, number>();

  constructor(
    private readonly self: NodeInfo,
    private readonly regionMultiplier: number,
  ) {}

  /** Folds one RTT sample into the peer's moving average (the first sample is taken as is). */
  record(peer: NodeInfo, rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    const previous = this.rttByHex.get(peer.id.hex);
    const smoothed = previous === undefined ? rttMs : previous + RTT_SMOOTHING * (rttMs - previous);
    this.rttByHex.set(peer.id.hex, smoothed);
  }

  rtt(peer: NodeInfo): number | undefined {
    return this.rttByHex.get(peer.id.hex);
  }

  /** Smaller is nearer; undefined until a round trip to the peer has been measured. */
  proximity(peer: NodeInfo): number | undefined {
    const rtt = this.rttByHex.get(peer.id.hex);
    if (rtt === undefined) return undefined;
    return peer.region === this.self.region ? rtt : rtt * this.regionMultiplier;
  }

  forget(hex: string): void {
    this.rttByHex.delete(hex);
  }

  get size(): number {
    return this.rttByHex.size;
  }
}
