// The targets, each checked against figures of the same run.
import type { BenchResult, TargetCheck } from "./result.js";

const MIB = 1024 * 1024;
const THROUGHPUT_CLUSTER = 8;
const THROUGHPUT_IN_FLIGHT = 64;
/** Issue 19: an idle daemon uses at most 0.2 % of a core and 60 MiB. */
const IDLE_CPU_PERCENT = 0.2;
const IDLE_RSS_MIB = 60;
/** Issue 17: maintenance at rest at most 0.5 messages per node per second between real daemons. */
const MAINTENANCE_AT_REST = 0.5;

type Figures = Omit<BenchResult, "targets">;

export function checkTargets(result: Figures): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const smallPayload = Math.min(...result.settings.payloadBytes);

  // Routed Send, 64 in flight, on 8 nodes (or the nearest cluster size measured), small payload.
  const sizes = [...new Set(result.routed.map((r) => r.nodes))];
  const throughputSize = nearest(sizes, THROUGHPUT_CLUSTER);
  const throughput = result.routed.find(
    (r) =>
      r.kind === "send" &&
      r.nodes === throughputSize &&
      r.inFlight === THROUGHPUT_IN_FLIGHT &&
      r.payloadBytes === smallPayload,
  );
  if (throughput !== undefined) {
    checks.push({
      name: `routed Send msgs/s, ${THROUGHPUT_IN_FLIGHT} in flight, ${throughputSize} nodes, ${smallPayload} B / echo calls/s (paired)`,
      measured: `${throughput.throughputVsUnary.toFixed(2)}x`,
      target: ">= 1.00x",
      met: throughput.throughputVsUnary >= 1,
      factor: throughput.throughputVsUnary,
    });
  }

  // One hop: the 2-node cluster (every message to the other node is exactly one hop), 1 in flight.
  const oneHop = result.routed.find(
    (r) =>
      r.kind === "send" &&
      r.nodes === Math.min(...sizes) &&
      r.inFlight === 1 &&
      r.payloadBytes === smallPayload,
  );
  if (oneHop !== undefined) {
    checks.push({
      name: `one-hop routed Send p50 (${oneHop.nodes} nodes, mean hops ${oneHop.meanHops.toFixed(2)}) / echo p50 (paired)`,
      measured: `${oneHop.p50VsUnary.toFixed(2)}x`,
      target: "<= 2.00x",
      met: oneHop.p50VsUnary <= 2,
      factor: oneHop.p50VsUnary / 2,
    });
  }

  const idle = result.clusters.find((c) => c.nodes === throughputSize) ?? result.clusters[0];
  if (idle !== undefined) {
    const rssMiB = idle.idleRssBytes / MIB;
    checks.push({
      name: `idle daemon RSS (${idle.nodes}-node cluster)`,
      measured: `${rssMiB.toFixed(1)} MiB`,
      target: `<= ${IDLE_RSS_MIB} MiB`,
      met: rssMiB <= IDLE_RSS_MIB,
      factor: rssMiB / IDLE_RSS_MIB,
    });
    checks.push({
      name: `idle daemon CPU, % of a core (${idle.nodes}-node cluster, median daemon, ${result.settings.idleMs / 1000} s at rest)`,
      measured: `${idle.idleCpuPercent.toFixed(3)} % (busiest ${idle.idleCpuPercentMax.toFixed(3)} %)`,
      target: `<= ${IDLE_CPU_PERCENT} %`,
      met: idle.idleCpuPercent <= IDLE_CPU_PERCENT,
      factor: idle.idleCpuPercent / IDLE_CPU_PERCENT,
    });
  }

  const join = result.joins.at(-1);
  if (join !== undefined) {
    checks.push({
      name: `join to ready (/readyz) in a ${join.nodes}-node cluster`,
      measured: `${(join.readyMs / 1000).toFixed(2)} s (join protocol alone ${(join.joinMs / 1000).toFixed(2)} s)`,
      target: "< 1 s",
      met: join.readyMs < 1000,
      factor: join.readyMs / 1000,
    });
  }

  const failure = result.failures.at(-1);
  if (failure !== undefined) {
    checks.push({
      name: `SIGKILL to leaf sets repaired, ${failure.nodes} nodes`,
      measured: `${(failure.repairedMs / 1000).toFixed(2)} s (delivery correct after ${(failure.deliveryCorrectMs / 1000).toFixed(2)} s)`,
      target: "< 3 s",
      met: failure.repairedMs < 3000,
      factor: failure.repairedMs / 3000,
    });
  }

  const maintenance = result.clusters.find((c) => c.nodes === failure?.nodes) ?? result.clusters.at(-1);
  if (maintenance !== undefined) {
    const rate = maintenance.maintenancePerNodePerSecond;
    checks.push({
      name: `maintenance messages per node per second at rest, ${maintenance.nodes} nodes`,
      measured: rate.toFixed(2),
      target: `<= ${MAINTENANCE_AT_REST}`,
      met: rate <= MAINTENANCE_AT_REST,
      factor: rate / MAINTENANCE_AT_REST,
    });
  }
  return checks;
}

function nearest(values: readonly number[], wanted: number): number {
  return values.reduce(
    (best, v) => (Math.abs(v - wanted) < Math.abs(best - wanted) ? v : best),
    values[0] ?? wanted,
  );
}
