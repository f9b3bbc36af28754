// One benchmark run: build an overlay of `nodes` machines, let it settle, route random traffic while
// counting maintenance messages, drain, and measure.
import { performance } from "node:perf_hooks";
import {
  measureRoutes,
  measureState,
  type RouteMeasurements,
  type StateMeasurements,
} from "../../src/sim/measure.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { type Accounting, Simulator } from "../../src/sim/simulator.js";

export type SeedMode = "random" | "nearest";

export interface BenchOptions {
  /** The routing core measured (recorded with the result). */
  readonly core: { readonly commit: string; readonly dirty: boolean };
  readonly nodes: number;
  readonly proximityAware: boolean;
  readonly seedSelection: SeedMode;
  readonly messages: number;
  readonly seed: number;
  readonly log: (line: string) => void;
}

export interface BenchResult {
  readonly core: { readonly commit: string; readonly dirty: boolean };
  readonly nodes: number;
  readonly proximityAware: boolean;
  readonly seedSelection: SeedMode;
  readonly seed: number;
  readonly readyNodes: number;
  readonly failedJoins: number;
  readonly buildWallMs: number;
  readonly buildVirtualMs: number;
  readonly routes: RouteMeasurements;
  readonly state: StateMeasurements;
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

const SETTLE_MS = 5_000;
const TRAFFIC_WINDOW_MS = 10_000;
const DRAIN_MS = 10_000;
const MIB = 1024 * 1024;

export function runBenchmark(o: BenchOptions): BenchResult {
  const started = performance.now();
  const sim = new Simulator({
    seed: o.seed,
    createMachine: createPastryMachine,
    routing: { proximityAware: o.proximityAware },
    seedSelection:
      o.seedSelection === "random" ? { kind: "random" } : { kind: "nearestOfSample", sample: 16 },
  });

  // Grow by half the ready overlay per wave: many concurrent joins, few virtual seconds of heartbeats.
  let lastReport = started;
  sim.grow(o.nodes, {
    growth: 0.5,
    spreadMs: 1000,
    waveTimeoutMs: 30_000,
    onWave: (created, ready) => {
      const now = performance.now();
      if (now - lastReport > 10_000 || created === o.nodes) {
        lastReport = now;
        o.log(
          `  build: ${created} created, ${ready} ready, t=${(sim.now / 1000).toFixed(1)} s virtual, ` +
            `${((now - started) / 1000).toFixed(1)} s wall, ${sim.events} events`,
        );
      }
    },
  });
  const buildWallMs = performance.now() - started;
  const buildVirtualMs = sim.now;
  o.log(
    `  built in ${(buildWallMs / 1000).toFixed(1)} s wall (${(buildVirtualMs / 1000).toFixed(1)} s virtual)`,
  );

  sim.runFor(SETTLE_MS);
  sim.resetMessageCounts();
  sim.scheduleTraffic(o.messages, TRAFFIC_WINDOW_MS, true);
  sim.runFor(TRAFFIC_WINDOW_MS);
  const maintenancePerNodePerSecond = sim.maintenanceRate();
  const { counts, windowMs } = sim.messageCounts();
  const live = sim.liveNodes().length;
  const maintenanceByType: Record<string, number> = {};
  for (const [type, n] of Object.entries(counts)) {
    if (type !== "route" && type !== "ack") maintenanceByType[type] = n / live / (windowMs / 1000);
  }
  sim.runFor(DRAIN_MS);

  const routes = measureRoutes(sim);
  const state = measureState(sim);
  const accounting = sim.account();
  const memory = sim.peakMemory();
  const result: BenchResult = {
    core: o.core,
    nodes: o.nodes,
    proximityAware: o.proximityAware,
    seedSelection: o.seedSelection,
    seed: o.seed,
    readyNodes: sim.truth.size,
    failedJoins: sim.failedJoins().length,
    buildWallMs: Math.round(buildWallMs),
    buildVirtualMs: Math.round(buildVirtualMs),
    routes,
    state,
    maintenancePerNodePerSecond,
    maintenanceByType,
    accounting,
    misdeliveries: sim.deliveryChecks().misdeliveries,
    addressingErrors: sim.addressingErrors(),
    events: sim.events,
    totalWallMs: Math.round(performance.now() - started),
    peakRssMiB: Math.round(memory.rssBytes / MIB),
    peakHeapUsedMiB: Math.round(memory.heapUsedBytes / MIB),
  };
  o.log(
    `  hops mean ${routes.hops.mean.toFixed(2)} (p99 ${routes.hops.p99}), stretch mean ` +
      `${routes.stretch.mean.toFixed(2)}, state ${state.total.mean.toFixed(1)} entries/node, maintenance ` +
      `${maintenancePerNodePerSecond.toFixed(2)} msg/node/s, delivered ${accounting.delivered}/${accounting.sent}, ` +
      `misdelivered ${result.misdeliveries}, peak rss ${result.peakRssMiB} MiB`,
  );
  return result;
}
