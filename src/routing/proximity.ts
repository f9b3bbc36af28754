// Network proximity per peer: smoothed round-trip time, scaled when the peer lives in another region, and
// the retransmission timeout derived from the same samples. One record per peer, updated in place: with
// 100,000 simulated nodes in one process, every per-peer map entry counts.
import type { NodeInfo } from "./types.js";

/** Weight of a new RTT sample in the proximity average: recent samples dominate, one outlier does not. */
const RTT_SMOOTHING = 0.3;
/** Gains of RFC 6298 for the timeout: new samples move the mean by 1/8 and the deviation by 1/4. */
const MEAN_GAIN = 1 / 8;
const DEVIATION_GAIN = 1 / 4;
/** lowerBoundVia's allowance for jitter and for paths that bend the triangle inequality. */
const TRIANGLE_MARGIN = 0.1;

/** Proximity from a round-trip time: a peer in another region counts as `multiplier` times farther. */
export function regionScaled(rttMs: number, sameRegion: boolean, multiplier: number): number {
  return sameRegion ? rttMs : rttMs * multiplier;
}

/** The address to reach `peer` from `self`: local inside a region, global across regions. */
export function addressFor(self: NodeInfo, peer: NodeInfo): string {
  return self.region === peer.region ? peer.localAddress : peer.globalAddress;
}

/** Per-peer figures, packed: four float64 slots per peer in one growable array (see ProximityStore). */
const SMOOTHED = 0; // proximity's moving average (RTT_SMOOTHING)
const SRTT = 1; // RFC 6298 smoothed RTT, for timeouts
const RTTVAR = 2; // RFC 6298 RTT deviation
const AT = 3; // when the last sample came (monotonic ms)
const FIELDS = 4;
const INITIAL_SLOTS = 16;

export interface ProximityStoreOptions {
  /** Measurements beyond this many are forgotten, those of peers `keep` names last. */
  readonly capacity: number;
  /**
   * Peers whose measurement must stay (our state's members: their slots are ranked by it), by ID hex: a
   * sweep asks about every old measurement, and needs no peer's NodeInfo loaded for it.
   */
  readonly keep: (hex: string) => boolean;
}

/**
 * Records live in one Float64Array (four numbers per peer) indexed through a map from ID to slot, rather
 * than as an object per peer: an object with four number fields costs about 150 bytes (each number boxed),
 * a packed slot 40, and a simulated node holds a few hundred measurements while the overlay grows.
 */
export class ProximityStore {
  /** ID hex -> slot; iteration order is insertion order, oldest first. */
  private readonly slots = new Map<string, number>();
  private values = new Float64Array(INITIAL_SLOTS * FIELDS);
  private freeSlots: number[] = [];
  /** By slot: the keep epoch in which `keep` last said yes to its peer (see prune), or -1. */
  private keptIn: number[] = [];
  /** By slot: the ID hex it holds (undefined while free), so that prune walks the slots in order. */
  private hexOf: (string | undefined)[] = [];

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
    const slot = this.slots.get(hex);
    if (slot === undefined) {
      if (this.slots.size >= this.options.capacity) this.evictOne();
      const fresh = this.allocate();
      this.slots.set(hex, fresh);
      this.hexOf[fresh] = hex;
      const base = fresh * FIELDS;
      this.values[base + SMOOTHED] = rttMs;
      this.values[base + SRTT] = rttMs;
      this.values[base + RTTVAR] = rttMs / 2;
      this.values[base + AT] = now;
      return;
    }
    const v = this.values;
    const base = slot * FIELDS;
    const smoothed = v[base + SMOOTHED] as number;
    const srtt = v[base + SRTT] as number;
    const rttvar = v[base + RTTVAR] as number;
    v[base + SMOOTHED] = smoothed + RTT_SMOOTHING * (rttMs - smoothed);
    v[base + RTTVAR] = (1 - DEVIATION_GAIN) * rttvar + DEVIATION_GAIN * Math.abs(srtt - rttMs);
    v[base + SRTT] = (1 - MEAN_GAIN) * srtt + MEAN_GAIN * rttMs;
    v[base + AT] = now;
  }

  rtt(peer: NodeInfo): number | undefined {
    return this.field(peer.id.hex, SMOOTHED);
  }

  /** Smaller is nearer; undefined until a round trip to the peer has been measured. */
  proximity(peer: NodeInfo): number | undefined {
    const rtt = this.field(peer.id.hex, SMOOTHED);
    if (rtt === undefined) return undefined;
    return regionScaled(rtt, peer.region === this.self.region, this.regionMultiplier);
  }

  /**
   * The least proximity `peer` can have, given our round trip to `via` and via's (`onwardRttMs`) to `peer`:
   * by the triangle inequality our round trip to `peer` is at least their difference. Measured times jitter
   * and real paths bend the inequality, so the bound is taken TRIANGLE_MARGIN lower. Undefined while `via`
   * is unmeasured.
   */
  lowerBoundVia(via: NodeInfo, onwardRttMs: number, peer: NodeInfo): number | undefined {
    const rtt = this.field(via.id.hex, SMOOTHED);
    if (rtt === undefined) return undefined;
    const bound = Math.abs(rtt - onwardRttMs) * (1 - TRIANGLE_MARGIN);
    return regionScaled(bound, peer.region === this.self.region, this.regionMultiplier);
  }

  /** max(floor, srtt + 4 * rttvar) as TCP computes its timeout, at most `ceiling`; `floor` if unmeasured. */
  timeout(hex: string, floor: number, ceiling: number): number {
    const slot = this.slots.get(hex);
    if (slot === undefined) return floor;
    const base = slot * FIELDS;
    const srtt = this.values[base + SRTT] as number;
    const rttvar = this.values[base + RTTVAR] as number;
    return Math.min(ceiling, Math.max(floor, srtt + 4 * rttvar));
  }

  forget(hex: string): void {
    const slot = this.slots.get(hex);
    if (slot === undefined) return;
    this.slots.delete(hex);
    this.release(slot);
  }

  /**
   * Forgets measurements older than `maxAgeMs` of peers that are not kept: a candidate measured and turned
   * away is measured again if it is offered again later, and memory follows the state, not history.
   * `keepEpoch`: a number the caller changes whenever `keep` may answer differently for some peer; a peer
   * kept in this same epoch before is not asked about again (most old measurements are of peers we hold,
   * and asking costs several look-ups each, every gossip round).
   */
  prune(now: number, maxAgeMs: number, keepEpoch?: number): void {
    // Slot by slot over the packed arrays rather than through the map (this runs every gossip round per
    // node): which measurements go does not depend on the order they are looked at (`keep` only reads).
    // Slots in use or free number exactly size + free ones, and releasing one here keeps that sum.
    const used = this.slots.size + this.freeSlots.length;
    const values = this.values;
    for (let slot = 0; slot < used; slot++) {
      const hex = this.hexOf[slot];
      if (hex === undefined) continue;
      if (now - (values[slot * FIELDS + AT] as number) < maxAgeMs) continue;
      if (keepEpoch !== undefined && this.keptIn[slot] === keepEpoch) continue;
      if (this.options.keep(hex)) {
        if (keepEpoch !== undefined) this.keptIn[slot] = keepEpoch;
        continue;
      }
      this.slots.delete(hex);
      this.release(slot);
    }
    this.compact();
  }

  get size(): number {
    return this.slots.size;
  }

  private field(hex: string, field: number): number | undefined {
    const slot = this.slots.get(hex);
    return slot === undefined ? undefined : this.values[slot * FIELDS + field];
  }

  private allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    const slot = this.slots.size;
    if ((slot + 1) * FIELDS > this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    return slot;
  }

  /**
   * Renumbers the slots in use densely into arrays sized for them once they fill at most half of the
   * capacity: the arrays otherwise stay at the high-water mark of a join (a few hundred peers measured),
   * while the measurements kept under churn are a third of that (2,000 simulated nodes: 92 of 274 slots; a
   * node's memory fell from 53.4 to 46.6 KiB). Slot numbers are never seen outside: the map keeps its order, and prune's outcome does
   * not depend on the order it looks at slots in.
   */
  private compact(): void {
    const live = this.slots.size;
    let capacity = INITIAL_SLOTS;
    while (capacity < live) capacity *= 2;
    if (capacity * 2 * FIELDS > this.values.length) return;
    const values = new Float64Array(capacity * FIELDS);
    const keptIn: number[] = [];
    const hexOf: (string | undefined)[] = [];
    let next = 0;
    const used = live + this.freeSlots.length;
    for (let slot = 0; slot < used; slot++) {
      const hex = this.hexOf[slot];
      if (hex === undefined) continue;
      for (let f = 0; f < FIELDS; f++) values[next * FIELDS + f] = this.values[slot * FIELDS + f] as number;
      keptIn.push(this.keptIn[slot] ?? -1);
      hexOf.push(hex);
      // An existing key: its place in the map's order is kept.
      this.slots.set(hex, next);
      next++;
    }
    this.values = values;
    this.keptIn = keptIn;
    this.hexOf = hexOf;
    this.freeSlots = [];
  }

  private release(slot: number): void {
    this.keptIn[slot] = -1;
    this.hexOf[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /** Full: the oldest measurement of a peer not kept goes, or the oldest of all when every peer is kept. */
  private evictOne(): void {
    let oldest: string | undefined;
    for (const hex of this.slots.keys()) {
      oldest ??= hex;
      if (!this.options.keep(hex)) {
        this.forget(hex);
        return;
      }
    }
    if (oldest !== undefined) this.forget(oldest);
  }
}
