// Who may have a Hello answered now: one token bucket per source address under one global bucket. A flood
// from one source empties only its own bucket, so joiners and restarted nodes elsewhere still get through;
// the global bucket still caps the CPU that many sources together can cost.
import { isIP } from "node:net";
import { BoundedMap } from "../../routing/bounded-map.js";
import { TokenBucket } from "./token-bucket.js";

export interface HelloLimiterOptions {
  /** Hellos answered per second from all sources together (burst of as many); Infinity for none. */
  readonly perSecond: number;
  /** Hellos answered per second from one source address (burst of as many); Infinity for none. */
  readonly perSecondPerSource: number;
  /** Sources remembered at most; the least recently added is forgotten first (its bucket starts full). */
  readonly maxSources?: number;
}

/**
 * A fifth of the global default: room for the joins of many nodes that share one address (a host running
 * several, a NAT), which open a session with every peer at once, while one source cannot take it all.
 */
export const DEFAULT_MAX_HELLOS_PER_SECOND_PER_SOURCE = 100;
export const DEFAULT_MAX_HELLO_SOURCES = 4096;

export class HelloLimiter {
  private readonly global: TokenBucket;
  private readonly perSource: BoundedMap<string, TokenBucket>;
  private readonly perSecondPerSource: number;

  constructor(options: HelloLimiterOptions, now: number) {
    this.global = new TokenBucket(options.perSecond, now);
    this.perSecondPerSource = options.perSecondPerSource;
    if (!(this.perSecondPerSource > 0)) throw new RangeError("per-source Hello rate must be > 0");
    this.perSource = new BoundedMap(options.maxSources ?? DEFAULT_MAX_HELLO_SOURCES);
  }

  /**
   * Takes a token for a Hello from `source` (see sourceOfPeer); undefined: unknown source, global bucket only.
   * The source's own bucket is asked first, so a refused flooder does not drain the global one.
   */
  take(source: string | undefined, now: number): boolean {
    if (source !== undefined) {
      let bucket = this.perSource.get(source);
      if (bucket === undefined) {
        bucket = new TokenBucket(this.perSecondPerSource, now);
        this.perSource.set(source, bucket);
      }
      if (!bucket.take(now)) return false;
    }
    return this.global.take(now);
  }
}

/**
 * The source a grpc-js peer string ("10.0.0.7:41234", "[2001:db8::1]:41234", "::1", "unknown") stands for:
 * the IPv4 address, or the /64 prefix of an IPv6 address (one host usually holds a whole /64, so counting
 * single v6 addresses would give it billions of buckets). Undefined when no address can be read.
 */
export function sourceOfPeer(peer: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(peer);
  const plainV4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(peer);
  const address = bracketed?.[1] ?? plainV4?.[1] ?? peer;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped !== null) return mapped[1];
  const family = isIP(address);
  if (family === 4) return address;
  if (family !== 6) return undefined;
  return `${expandV6(address).slice(0, 4).join(":")}::/64`;
}

function expandV6(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const zeros = Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0");
  return [...left, ...(tail === undefined ? [] : zeros), ...right].map((h) => h.toLowerCase());
}
