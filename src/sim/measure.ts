// Measurements over a simulator's tracked messages and nodes: hops, route stretch and state size.
import type { Simulator } from "./simulator.js";
import { histogram, summarize, type Summary } from "./stats.js";

export interface RouteMeasurements {
  readonly hops: Summary;
  /** Fraction of delivered messages per hop count. */
  readonly hopHistogram: Record<string, number>;
  /** Overlay path latency / direct latency, for messages delivered away from their origin. */
  readonly stretch: Summary;
  /** Sum of path latencies / sum of direct latencies over the same messages (long routes weigh more). */
  readonly stretchOfTotals: number;
}

export function measureRoutes(sim: Simulator): RouteMeasurements {
  const hops: number[] = [];
  const stretch: number[] = [];
  let pathTotal = 0;
  let directTotal = 0;
  for (const m of sim.messages()) {
    if (m.status !== "delivered" || m.hops === undefined || m.deliveredBy === undefined) continue;
    hops.push(m.hops);
    if (m.deliveredBy !== m.origin && m.pathLatencyMs > 0) {
      const direct = sim.network.latency(m.origin, m.deliveredBy);
      stretch.push(m.pathLatencyMs / direct);
      pathTotal += m.pathLatencyMs;
      directTotal += direct;
    }
  }
  return {
    hops: summarize(hops),
    hopHistogram: histogram(hops),
    stretch: summarize(stretch),
    stretchOfTotals: pathTotal / directTotal,
  };
}

export interface StateMeasurements {
  /** Leaf set + routing table + neighbourhood entries per ready node. */
  readonly total: Summary;
  readonly leafSet: Summary;
  readonly routingTable: Summary;
  readonly neighbourhood: Summary;
}

/** State size of every ready node. */
export function measureState(sim: Simulator): StateMeasurements {
  const leaf: number[] = [];
  const table: number[] = [];
  const hood: number[] = [];
  const total: number[] = [];
  for (const n of sim.readyNodes()) {
    const { leafSetMembers: l, routingTableEntries: t } = n.machine.stats();
    const h = n.machine.neighbourhood().length;
    leaf.push(l);
    table.push(t);
    hood.push(h);
    total.push(l + t + h);
  }
  return {
    total: summarize(total),
    leafSet: summarize(leaf),
    routingTable: summarize(table),
    neighbourhood: summarize(hood),
  };
}

export interface TableLocality {
  /** Occupied routing-table slots looked at. */
  readonly slots: number;
  /** Fraction of them holding the nearest live ready node that fits the slot. */
  readonly nearestFraction: number;
  /** Mean of (entry's distance / the nearest fitting node's distance) over them: 1 is perfect. */
  readonly meanExcess: number;
}

/**
 * How near routing-table entries are, against global truth: for each occupied slot (row r, column c) of
 * each sampled ready node, the entry's distance over the distance of the nearest ready node that fits the
 * slot (shares r digits with the node, then has digit c). `distance(a, b)` ranks hosts by index, as the
 * nodes rank peers (e.g. latency scaled across regions). `sample` caps the nodes looked at (every fitting
 * candidate is compared, so all N nodes would cost O(N^2)).
 */
export function measureTableLocality(
  sim: Simulator,
  distance: (a: number, b: number) => number,
  sample = Number.POSITIVE_INFINITY,
): TableLocality {
  const ready = sim.readyNodes();
  const indexByHex = new Map<string, number>();
  for (const n of ready) indexByHex.set(n.info.id.hex, n.index);
  // Ready nodes by ID prefix (hex digits are the base-16 digits), built lazily per prefix length.
  const byPrefix = new Map<string, number[]>();
  const prefixLengths = new Set<number>();
  const fitting = (prefix: string): readonly number[] => {
    if (!prefixLengths.has(prefix.length)) {
      prefixLengths.add(prefix.length);
      for (const n of ready) {
        const key = n.info.id.hex.slice(0, prefix.length);
        const list = byPrefix.get(key);
        if (list === undefined) byPrefix.set(key, [n.index]);
        else list.push(n.index);
      }
    }
    return byPrefix.get(prefix) ?? [];
  };
  let slots = 0;
  let nearest = 0;
  let excess = 0;
  const step = Math.max(1, Math.ceil(ready.length / sample));
  for (let i = 0; i < ready.length; i += step) {
    const node = ready[i] as (typeof ready)[number];
    const hex = node.info.id.hex;
    node.machine.routingTable().forEach((row, r) => {
      row.forEach((entry, column) => {
        const at = entry === undefined ? undefined : indexByHex.get(entry.id.hex);
        if (at === undefined) return; // empty, or an entry that is no longer a ready node
        let best = Number.POSITIVE_INFINITY;
        for (const candidate of fitting(hex.slice(0, r) + column.toString(16))) {
          if (candidate !== node.index) best = Math.min(best, distance(node.index, candidate));
        }
        const own = distance(node.index, at);
        slots++;
        if (own <= best) nearest++;
        excess += best > 0 ? own / best : 1;
      });
    });
  }
  return {
    slots,
    nearestFraction: slots === 0 ? 1 : nearest / slots,
    meanExcess: slots === 0 ? 1 : excess / slots,
  };
}
