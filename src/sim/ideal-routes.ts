// A yardstick for route stretch: Pastry with perfect proximity-aware state. Every step goes to the nearest
// live node (by latency, or by the nodes' own proximity metric) among all that share a longer prefix with the key, the best entry any routing-table
// slot could hold, and a node with the key's owner among its l/2 nearest on either side goes straight to it
// (an exact leaf set). It needs only the live nodes and the network, so it runs at any size in
// O(messages x N/16); what a real overlay measures against it is the cost of tables built by joins alone.
import { ID_BITS, ID_DIGITS, type NodeId } from "../routing/id.js";
import type { Prng } from "./prng.js";
import type { RingTruth } from "./ring-truth.js";
import { summarize, type Summary } from "./stats.js";

export interface IdealRoutes {
  readonly hops: Summary;
  /** Path latency / direct latency per message delivered away from its origin. */
  readonly stretch: Summary;
  /** Sum of path latencies / sum of direct latencies over the same messages. */
  readonly stretchOfTotals: number;
}

export interface IdealRouteOptions {
  /** The live nodes (ID and host index) in ring order. */
  readonly ring: RingTruth;
  /** One-way latency between two host indices. */
  readonly latency: (a: number, b: number) => number;
  /**
   * What the tables rank candidates by (smaller is better), when it is not the latency itself: e.g. the
   * nodes' proximity, which multiplies the latency to other regions. Stretch is always measured in latency.
   */
  readonly rank?: (a: number, b: number) => number;
  /** l: the leaf set holds l/2 nodes on either side. */
  readonly leafSetSize: number;
  readonly messages: number;
  /** Keys and origins are drawn from this. */
  readonly random: Prng;
}

const BITS_PER_DIGIT = ID_BITS / ID_DIGITS;

export function idealRoutes(o: IdealRouteOptions): IdealRoutes {
  const n = o.ring.size;
  if (n < 2) throw new RangeError(`ideal routes need at least 2 live nodes, got ${n}`);
  const hops: number[] = [];
  const stretch: number[] = [];
  let pathTotal = 0;
  let directTotal = 0;
  for (let m = 0; m < o.messages; m++) {
    const key = o.random.nodeId();
    const steps = idealPath(o, o.random.int(n), key);
    const origin = o.ring.at(steps[0] as number).index;
    const owner = o.ring.at(steps[steps.length - 1] as number).index;
    let path = 0;
    for (let i = 1; i < steps.length; i++) {
      path += o.latency(o.ring.at(steps[i - 1] as number).index, o.ring.at(steps[i] as number).index);
    }
    const count = steps.length - 1;
    hops.push(count);
    if (count > 0) {
      const direct = o.latency(origin, owner);
      stretch.push(path / direct);
      pathTotal += path;
      directTotal += direct;
    }
  }
  return { hops: summarize(hops), stretch: summarize(stretch), stretchOfTotals: pathTotal / directTotal };
}

/** The ring positions a message for `key` visits from position `from` to the key's owner, both included. */
export function idealPath(
  o: Pick<IdealRouteOptions, "ring" | "latency" | "rank" | "leafSetSize">,
  from: number,
  key: NodeId,
): number[] {
  const n = o.ring.size;
  const owner = o.ring.owner(key);
  if (owner === undefined) throw new RangeError("no live node owns the key");
  const ownerAt = o.ring.lowerBound(owner.id.value);
  const steps = [from];
  let at = from;
  while (at !== ownerAt) {
    at =
      ringGap(at, ownerAt, n) <= o.leafSetSize / 2 ? ownerAt : nearestWithLongerPrefix(o, at, key, ownerAt);
    steps.push(at);
  }
  return steps;
}

/** Positions between two ring positions, the shorter way round. */
function ringGap(a: number, b: number, n: number): number {
  const d = Math.abs(a - b);
  return Math.min(d, n - d);
}

/**
 * The ring position of the node nearest to the one at `at` among those sharing at least one more digit with
 * `key` than it does (they lie in one contiguous stretch of the ring). None: the owner, in one step.
 */
function nearestWithLongerPrefix(
  o: Pick<IdealRouteOptions, "ring" | "latency" | "rank">,
  at: number,
  key: NodeId,
  ownerAt: number,
): number {
  const from = o.ring.at(at);
  const shared = from.id.commonPrefixLength(key) + 1;
  if (shared > ID_DIGITS) return ownerAt;
  const freeBits = BigInt((ID_DIGITS - shared) * BITS_PER_DIGIT);
  const low = (key.value >> freeBits) << freeBits;
  const high = low + (1n << freeBits);
  const first = o.ring.lowerBound(low);
  const end = o.ring.lowerBound(high);
  const rank = o.rank ?? o.latency;
  let best = ownerAt;
  let bestRank = Number.POSITIVE_INFINITY;
  for (let i = first; i < end; i++) {
    const r = rank(from.index, o.ring.at(i).index);
    if (r < bestRank) {
      bestRank = r;
      best = i;
    }
  }
  return best;
}
