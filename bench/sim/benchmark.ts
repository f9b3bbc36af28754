// One benchmark run: build an overlay of `nodes` machines, let it settle, route random traffic while
// counting maintenance messages, drain, and measure.
import { performance } from "node:perf_hooks";
import {
  measureRoutes,
  measureState,
  measureTableLocality,
  type RouteMeasurements,
  type StateMeasurements,
  type TableLocality,
} from "../../src/sim/measure.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { idealRoutes, type IdealRoutes } from "../../src/sim/ideal-routes.js";
import { Prng } from "../../src/sim/prng.js";
import { DEFAULT_ROUTING_CONFIG } from "../../src/routing/types.js";
import { regionScaled } from "../../src/routing/proximity.js";
import { type Accounting, Simulator } from "../../src/sim/simulator.js";

export type SeedMode = "random" | "nearest";
/**
 * The virtual network: "regions" (ours: a unit square cut into 2 x 2 regions, 2 ms base latency per message,
 * peers in other regions ranked 10x farther) or "plane" (the Pastry paper's setting: nodes uniform on a
 * plane, latency proportional to distance, one region, no base latency).
 */
export type Topology = "regions" | "plane";

export interface BenchOptions {
  /** The routing core measured (recorded with the result). */
  readonly core: { readonly commit: string; readonly dirty: boolean };
  /** Ascending sizes: one overlay grows through them and is measured at each. */
  readonly sizes: readonly number[];
  readonly proximityAware: boolean;
  readonly seedSelection: SeedMode;
  readonly topology: Topology;
  readonly messages: number;
  readonly seed: number;
  /** Growth stops when the whole run has used this much wall-clock time. */
  readonly wallBudgetMs: number;
  /**
   * After measuring a size of at most `maintainedMaxNodes`, the overlay runs this many virtual minutes
   * without traffic (table maintenance at work) and is measured again; 0: not at all.
   */
  readonly maintainedMinutes: number;
  readonly maintainedMaxNodes: number;
  readonly log: (line: string) => void;
  readonly onResult: (result: BenchResult | IncompleteBuild) => void;
}

/** A size the build did not reach within the wall-clock budget: how far it got, and how fast. */
export interface IncompleteBuild {
  readonly complete: false;
  readonly nodes: number;
  readonly proximityAware: boolean;
  readonly seedSelection: SeedMode;
  /** Absent in results recorded before the option existed: "regions". */
  readonly topology?: Topology;
  readonly seed: number;
  readonly core: { readonly commit: string; readonly dirty: boolean };
  readonly createdNodes: number;
  readonly readyNodes: number;
  readonly buildWallMs: number;
  readonly buildVirtualMs: number;
  readonly events: number;
  readonly messagesByType: Record<string, number>;
  readonly peakRssMiB: number;
  /** Absent for a run that died before it could report it (its record is written from its log). */
  readonly peakHeapUsedMiB?: number;
  /** For a run stopped by hand or dead (no record is written then): how it ended, in words. */
  readonly note?: string;
}

export interface BenchResult {
  readonly complete: true;
  readonly core: { readonly commit: string; readonly dirty: boolean };
  readonly nodes: number;
  readonly proximityAware: boolean;
  readonly seedSelection: SeedMode;
  /** Absent in results recorded before the option existed: "regions". */
  readonly topology?: Topology;
  readonly seed: number;
  readonly readyNodes: number;
  readonly failedJoins: number;
  readonly buildWallMs: number;
  readonly buildVirtualMs: number;
  readonly routes: RouteMeasurements;
  /** The same number of random keys routed with perfect proximity tables over the same live nodes. */
  readonly idealRoutes: IdealRoutes;
  /** The same, the tables ranking candidates as the nodes do (latency x the region multiplier across regions). */
  readonly idealRegionRoutes: IdealRoutes;
  readonly state: StateMeasurements;
  /** Table entries against the nearest fitting nodes (ranked as the nodes rank), sampled nodes. */
  readonly tableLocality: TableLocality;
  /** The same overlay measured again after `minutes` of quiet maintenance (small sizes only). */
  readonly maintained?: MaintainedMeasurements;
  /** Messages other than `route` and `ack`, per live node per second, while traffic flowed. */
  readonly maintenancePerNodePerSecond: number;
  readonly maintenanceByType: Record<string, number>;
  readonly accounting: Accounting;
  readonly misdeliveries: number;
  readonly addressingErrors: { readonly wrongChoice: number; readonly unknownAddress: number };
  readonly events: number;
  readonly totalWallMs: number;
  readonly peakRssMiB: number;
  readonly peakHeapUsedMiB: number;
}

export interface MaintainedMeasurements {
  readonly minutes: number;
  readonly routes: RouteMeasurements;
  readonly tableLocality: TableLocality;
  /** Every message per live node per second over the quiet minutes: the overlay's steady-state cost. */
  readonly quietMessagesPerNodePerSecond: number;
  readonly quietByType: Record<string, number>;
  readonly misdeliveries: number;
  readonly delivered: number;
  readonly sent: number;
}

const SETTLE_MS = 3_000;
/** Table locality compares each entry with every fitting node: at most this many nodes' tables are looked at. */
const LOCALITY_SAMPLE = 2_000;
const TRAFFIC_WINDOW_MS = 5_000;
const DRAIN_MS = 5_000;
const MIB = 1024 * 1024;

export function runBenchmark(o: BenchOptions): void {
  const started = performance.now();
  const sim = new Simulator({
    seed: o.seed,
    createMachine: createPastryMachine,
    routing: { proximityAware: o.proximityAware },
    network: o.topology === "plane" ? { regionsPerSide: 1, baseLatencyMs: 0 } : {},
    seedSelection:
      o.seedSelection === "random" ? { kind: "random" } : { kind: "nearestOfSample", sample: 16 },
  });
  const overBudget = (): boolean => performance.now() - started > o.wallBudgetMs;
  let lastReport = started;
  // Build figures are cumulative over the sizes, less the time spent measuring the smaller ones (traffic,
  // ideal routes, the quiet minutes of maintenance): what growing the overlay to this size cost.
  let measuringWallMs = 0;
  let measuringVirtualMs = 0;
  let misdeliveriesBefore = 0;
  for (const nodes of o.sizes) {
    // Grow by the ready overlay's size per wave (doubling), and start the next wave once 99 % of this one
    // is in (or 5 s have passed; stragglers go on joining): many concurrent joins and few virtual seconds
    // in which 100,000 nodes tick and heartbeat. The last wave waits for every join to end.
    const complete = sim.grow(nodes, {
      growth: 1,
      spreadMs: 1000,
      waveTimeoutMs: 5_000,
      stragglers: 0.01,
      finalTimeoutMs: 60_000,
      abort: overBudget,
      onWave: (created, ready) => {
        const now = performance.now();
        if (now - lastReport > 10_000 || created === nodes) {
          lastReport = now;
          o.log(
            `  build: ${created} created, ${ready} ready, t=${(sim.now / 1000).toFixed(1)} s virtual, ` +
              `${((now - started) / 1000).toFixed(1)} s wall, ${sim.events} events`,
          );
        }
      },
    });
    const buildWallMs = performance.now() - started - measuringWallMs;
    const buildVirtualMs = sim.now - measuringVirtualMs;
    if (!complete) {
      const memory = sim.peakMemory();
      o.log(`  wall-clock budget spent at ${sim.nodeCount} nodes: stopping`);
      o.onResult({
        complete: false,
        nodes,
        proximityAware: o.proximityAware,
        seedSelection: o.seedSelection,
        topology: o.topology,
        seed: o.seed,
        core: o.core,
        createdNodes: sim.nodeCount,
        readyNodes: sim.truth.size,
        buildWallMs: Math.round(buildWallMs),
        buildVirtualMs: Math.round(buildVirtualMs),
        events: sim.events,
        messagesByType: sim.totalMessageCounts(),
        peakRssMiB: Math.round(memory.rssBytes / MIB),
        peakHeapUsedMiB: Math.round(memory.heapUsedBytes / MIB),
      });
      return;
    }
    o.log(
      `  built in ${(buildWallMs / 1000).toFixed(1)} s wall (${(buildVirtualMs / 1000).toFixed(1)} s virtual)`,
    );
    const measuringFromWall = performance.now();
    const measuringFromVirtual = sim.now;
    o.onResult(measure(sim, nodes, o, buildWallMs, buildVirtualMs, started, misdeliveriesBefore));
    measuringWallMs += performance.now() - measuringFromWall;
    measuringVirtualMs += sim.now - measuringFromVirtual;
    misdeliveriesBefore = sim.deliveryChecks().misdeliveries;
  }
}

function measure(
  sim: Simulator,
  nodes: number,
  o: BenchOptions,
  buildWallMs: number,
  buildVirtualMs: number,
  started: number,
  misdeliveriesBefore: number,
): BenchResult {
  sim.runFor(SETTLE_MS);
  sim.clearTrackedMessages();
  sim.resetMessageCounts();
  sim.scheduleTraffic(o.messages, TRAFFIC_WINDOW_MS, true);
  sim.runFor(TRAFFIC_WINDOW_MS);
  const maintenancePerNodePerSecond = sim.maintenanceRate();
  const maintenanceByType = perNodePerSecondByType(sim, (type) => type !== "route" && type !== "ack");
  sim.runFor(DRAIN_MS);

  const routes = measureRoutes(sim);
  const latency = (a: number, b: number): number => sim.network.latency(a, b);
  const idealOptions = {
    ring: sim.truth,
    latency,
    leafSetSize: DEFAULT_ROUTING_CONFIG.leafSetSize,
    messages: o.messages,
  };
  const ideal = idealRoutes({ ...idealOptions, random: new Prng(o.seed * 1_000_003 + nodes) });
  const multiplier = DEFAULT_ROUTING_CONFIG.regionMultiplier;
  // Distance as the nodes rank peers: latency, scaled across regions.
  const rank = (a: number, b: number): number =>
    regionScaled(latency(a, b), sim.network.host(a).region === sim.network.host(b).region, multiplier);
  const idealRegion = idealRoutes({ ...idealOptions, rank, random: new Prng(o.seed * 1_000_003 + nodes) });
  const state = measureState(sim);
  const tableLocality = measureTableLocality(sim, rank, LOCALITY_SAMPLE);
  const accounting = sim.account();
  const memory = sim.peakMemory();
  const result: BenchResult = {
    complete: true,
    core: o.core,
    nodes,
    proximityAware: o.proximityAware,
    seedSelection: o.seedSelection,
    topology: o.topology,
    seed: o.seed,
    readyNodes: sim.truth.size,
    failedJoins: sim.failedJoins().length,
    buildWallMs: Math.round(buildWallMs),
    buildVirtualMs: Math.round(buildVirtualMs),
    routes,
    idealRoutes: ideal,
    idealRegionRoutes: idealRegion,
    state,
    tableLocality,
    maintenancePerNodePerSecond,
    maintenanceByType,
    accounting,
    misdeliveries: sim.deliveryChecks().misdeliveries - misdeliveriesBefore,
    addressingErrors: sim.addressingErrors(),
    events: sim.events,
    totalWallMs: Math.round(performance.now() - started),
    peakRssMiB: Math.round(memory.rssBytes / MIB),
    peakHeapUsedMiB: Math.round(memory.heapUsedBytes / MIB),
  };
  o.log(
    `  hops mean ${routes.hops.mean.toFixed(2)} (p99 ${routes.hops.p99}), stretch mean ` +
      `${routes.stretch.mean.toFixed(2)} (ideal tables ${ideal.stretch.mean.toFixed(2)}, ranked by region ${idealRegion.stretch.mean.toFixed(2)}), state ${state.total.mean.toFixed(1)} entries/node, maintenance ` +
      `${maintenancePerNodePerSecond.toFixed(2)} msg/node/s, delivered ${accounting.delivered}/${accounting.sent}, ` +
      `misdelivered ${result.misdeliveries}, peak rss ${result.peakRssMiB} MiB, table slots nearest ` +
      `${(tableLocality.nearestFraction * 100).toFixed(1)} %`,
  );
  if (o.maintainedMinutes <= 0 || nodes > o.maintainedMaxNodes) return result;
  // After everything above is recorded: the quiet minutes must not count in the build's figures.
  const m = measureMaintained(sim, o, rank);
  o.log(
    `  after ${m.minutes} min of maintenance: stretch mean ${m.routes.stretch.mean.toFixed(2)}, table slots ` +
      `nearest ${(m.tableLocality.nearestFraction * 100).toFixed(1)} %, quiet ` +
      `${m.quietMessagesPerNodePerSecond.toFixed(2)} msg/node/s, delivered ${m.delivered}/${m.sent}, ` +
      `misdelivered ${m.misdeliveries}`,
  );
  return { ...result, maintained: m };
}

/** Messages of the counted window per live node per second, by type, for the types `include` accepts. */
function perNodePerSecondByType(sim: Simulator, include: (type: string) => boolean): Record<string, number> {
  const { counts, windowMs } = sim.messageCounts();
  const live = sim.liveNodes().length;
  const rates: Record<string, number> = {};
  for (const [type, n] of Object.entries(counts)) {
    if (include(type)) rates[type] = n / live / (windowMs / 1000);
  }
  return rates;
}

/** Runs the overlay quietly for the configured minutes, then routes the same amount of traffic again. */
function measureMaintained(
  sim: Simulator,
  o: BenchOptions,
  rank: (a: number, b: number) => number,
): MaintainedMeasurements {
  const misdeliveriesBefore = sim.deliveryChecks().misdeliveries;
  sim.clearTrackedMessages();
  sim.resetMessageCounts();
  sim.runFor(o.maintainedMinutes * 60_000);
  const quietByType = perNodePerSecondByType(sim, () => true);
  const quiet = Object.values(quietByType).reduce((sum, rate) => sum + rate, 0);
  sim.scheduleTraffic(o.messages, TRAFFIC_WINDOW_MS, true);
  sim.runFor(TRAFFIC_WINDOW_MS + DRAIN_MS);
  const accounting = sim.account();
  return {
    minutes: o.maintainedMinutes,
    routes: measureRoutes(sim),
    tableLocality: measureTableLocality(sim, rank, LOCALITY_SAMPLE),
    quietMessagesPerNodePerSecond: quiet,
    quietByType,
    misdeliveries: sim.deliveryChecks().misdeliveries - misdeliveriesBefore,
    delivered: accounting.delivered,
    sent: accounting.sent,
  };
}
