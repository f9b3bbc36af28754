// A virtual network: every simulated node sits at a point in a unit square; one-way latency is a small base
// plus a distance-proportional part (so it is symmetric and obeys the triangle inequality), and the square
// is cut into a grid of regions. Addresses are labels only: nothing here touches a real network.
import type { Prng } from "./prng.js";

export interface NetworkConfig {
  /** One-way latency between two nodes at the same point. */
  readonly baseLatencyMs: number;
  /** One-way latency added per unit of distance (the square's side is 1). */
  readonly latencyPerUnitMs: number;
  /** The square is cut into regionsPerSide x regionsPerSide regions. */
  readonly regionsPerSide: number;
  /** Probability that any one message is lost in transit. */
  readonly lossProbability: number;
}

export const DEFAULT_NETWORK_CONFIG: NetworkConfig = {
  baseLatencyMs: 2,
  latencyPerUnitMs: 100,
  regionsPerSide: 2,
  lossProbability: 0,
};

/** Where a host sits and how it is addressed. */
export interface Host {
  readonly index: number;
  readonly x: number;
  readonly y: number;
  readonly region: string;
  readonly localAddress: string;
  readonly globalAddress: string;
}

export class VirtualNetwork {
  readonly config: NetworkConfig;
  private readonly hosts: Host[] = [];
  private readonly byAddress = new Map<string, number>();
  private readonly regionNames: string[] = [];

  constructor(config: Partial<NetworkConfig> = {}) {
    this.config = { ...DEFAULT_NETWORK_CONFIG, ...config };
    if (this.config.regionsPerSide < 1 || !Number.isInteger(this.config.regionsPerSide)) {
      throw new RangeError(`regionsPerSide must be a positive integer, got ${this.config.regionsPerSide}`);
    }
    if (this.config.lossProbability < 0 || this.config.lossProbability >= 1) {
      throw new RangeError(`lossProbability must be in [0, 1), got ${this.config.lossProbability}`);
    }
  }

  get size(): number {
    return this.hosts.length;
  }

  /** Places a new host uniformly at random in the square; its index is its position in creation order. */
  addHost(random: Prng): Host {
    return this.addHostAt(random.next(), random.next());
  }

  addHostAt(x: number, y: number): Host {
    const index = this.hosts.length;
    const side = this.config.regionsPerSide;
    const col = Math.min(side - 1, Math.floor(x * side));
    const row = Math.min(side - 1, Math.floor(y * side));
    const regionIndex = row * side + col;
    const host: Host = {
      index,
      x,
      y,
      region: this.regionName(regionIndex),
      localAddress: `10.${regionIndex & 255}.${(index >> 8) & 255}.${index & 255}:${7000 + (index >> 16)}`,
      globalAddress: `198.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:7443`,
    };
    this.hosts.push(host);
    this.byAddress.set(host.localAddress, index);
    this.byAddress.set(host.globalAddress, index);
    return host;
  }

  /**
   * One string per region shared by all its hosts: the routing core compares regions on every proximity
   * look-up, and identical string objects compare at once.
   */
  private regionName(regionIndex: number): string {
    let name = this.regionNames[regionIndex];
    if (name === undefined) {
      name = `region-${regionIndex}`;
      this.regionNames[regionIndex] = name;
    }
    return name;
  }

  host(index: number): Host {
    const h = this.hosts[index];
    if (h === undefined) throw new RangeError(`no host ${index}`);
    return h;
  }

  /** The host an address label belongs to, or undefined for an unknown address. */
  resolve(address: string): number | undefined {
    return this.byAddress.get(address);
  }

  /** One-way latency in ms between two hosts; symmetric. */
  latency(a: number, b: number): number {
    const ha = this.host(a);
    const hb = this.host(b);
    return this.config.baseLatencyMs + this.config.latencyPerUnitMs * Math.hypot(ha.x - hb.x, ha.y - hb.y);
  }

  /** Draws whether one message is lost in transit. */
  isLost(random: Prng): boolean {
    return random.chance(this.config.lossProbability);
  }
}
