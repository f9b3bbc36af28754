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

/** Global labels carry 24 bits of the host index: up to this many hosts, every label names one host. */
const MAX_PARSED_HOSTS = 1 << 24;

/**
 * The host index a label made by addHostAt encodes (local "10.<region>.<i16-8>.<i8-0>:<7000 + i24-16>",
 * global "198.<i24-16>.<i16-8>.<i8-0>:7443"), or -1 when it does not look like one. The caller confirms
 * that the host at that index has this label.
 */
function hostIndexOf(address: string): number {
  // The four dotted numbers and the port, read without allocating.
  let first = 0;
  let second = 0;
  let third = 0;
  let fourth = 0;
  let value = 0;
  let part = 0;
  let digits = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      if (++digits > 5) return -1;
    } else if (digits > 0 && ((c === 46 && part < 3) || (c === 58 && part === 3))) {
      if (part === 0) first = value;
      else if (part === 1) second = value;
      else if (part === 2) third = value;
      else fourth = value;
      part++;
      value = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (part !== 4 || digits === 0) return -1;
  const port = value;
  if (first === 10) return ((port - 7000) << 16) | (third << 8) | fourth;
  if (first === 198) return (second << 16) | (third << 8) | fourth;
  return -1;
}

export class VirtualNetwork {
  readonly config: NetworkConfig;
  private readonly hosts: Host[] = [];
  /**
   * Host i's x at 2i and y at 2i + 1: latency() runs on every send and arrival, and reading two numbers
   * from one packed array beats loading two host objects (each a likely cache miss with many hosts).
   */
  private coords = new Float64Array(2 * 1024);
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
    if (2 * index + 2 > this.coords.length) {
      const grown = new Float64Array(this.coords.length * 2);
      grown.set(this.coords);
      this.coords = grown;
    }
    this.coords[2 * index] = x;
    this.coords[2 * index + 1] = y;
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
    // Every send resolves its address: read the index out of the label and confirm it is that host's (no
    // look-up in a map of every address, which with many hosts is a cache miss per send). Beyond 2^24 hosts
    // global labels repeat (the last host added holds one, as in the map): the map answers then.
    const parsed = this.hosts.length <= MAX_PARSED_HOSTS ? hostIndexOf(address) : -1;
    const host = this.hosts[parsed];
    if (host !== undefined && (host.localAddress === address || host.globalAddress === address))
      return parsed;
    return this.byAddress.get(address);
  }

  /** One-way latency in ms between two hosts; symmetric. */
  latency(a: number, b: number): number {
    const n = this.hosts.length;
    // As host(): an index that names no host throws.
    if (!(Number.isInteger(a) && a >= 0 && a < n)) this.host(a);
    if (!(Number.isInteger(b) && b >= 0 && b < n)) this.host(b);
    const c = this.coords;
    const dx = (c[2 * a] as number) - (c[2 * b] as number);
    const dy = (c[2 * a + 1] as number) - (c[2 * b + 1] as number);
    return this.config.baseLatencyMs + this.config.latencyPerUnitMs * Math.hypot(dx, dy);
  }

  /** Draws whether one message is lost in transit. */
  isLost(random: Prng): boolean {
    return random.chance(this.config.lossProbability);
  }
}
