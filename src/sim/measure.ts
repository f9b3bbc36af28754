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

/** State size of every ready node; `tableSize` reads a machine's routing-table entry count. */
export function measureState(sim: Simulator): StateMeasurements {
  const leaf: number[] = [];
  const table: number[] = [];
  const hood: number[] = [];
  const total: number[] = [];
  for (const n of sim.readyNodes()) {
    const l = n.machine.leafSet().length;
    const t = n.machine.routingTableSize();
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
