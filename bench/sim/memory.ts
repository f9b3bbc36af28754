// Live heap per simulated node: builds a proximity-aware overlay through real joins, forces garbage
// collection, and divides the heap left by the node count. The figure that decides whether 100,000 nodes fit
// the machine. Usage: node --expose-gc --import tsx bench/sim/memory.ts [--nodes 8000] [--out bench/results]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { Command } from "commander";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Simulator } from "../../src/sim/simulator.js";

const opts = new Command()
  .option("--nodes <n>", "overlay size", "8000")
  .option("--out <dir>", "results directory", "bench/results")
  .parse()
  .opts<{ nodes: string; out: string }>();
const nodes = Number.parseInt(opts.nodes, 10);
if (!Number.isInteger(nodes) || nodes < 2) throw new Error(`bad --nodes ${opts.nodes}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc: the live heap needs a forced collection");

const started = performance.now();
const sim = new Simulator({
  seed: 1,
  createMachine: createPastryMachine,
  routing: { proximityAware: true },
  seedSelection: { kind: "nearestOfSample", sample: 16 },
});
// The same growth as bench-sim: doubling waves.
sim.grow(nodes, {
  growth: 1,
  spreadMs: 1000,
  waveTimeoutMs: 5_000,
  stragglers: 0.01,
  finalTimeoutMs: 60_000,
});
const buildWallMs = performance.now() - started;
gc();
gc();
const heapUsedBytes = process.memoryUsage().heapUsed;
const core = execFileSync("git", ["log", "-1", "--format=%h", "--", "src/routing"], {
  encoding: "utf8",
}).trim();
const result = {
  date: new Date().toISOString().slice(0, 10),
  core,
  nodes,
  readyNodes: sim.truth.size,
  events: sim.events,
  buildWallMs: Math.round(buildWallMs),
  liveHeapMiB: Math.round(heapUsedBytes / 1024 / 1024),
  liveHeapKiBPerNode: Math.round((heapUsedBytes / 1024 / nodes) * 10) / 10,
};
mkdirSync(opts.out, { recursive: true });
const path = join(opts.out, `sim-memory-${nodes}.json`);
writeFileSync(path, JSON.stringify(result, null, 2) + "\n");
console.log(
  `${nodes} nodes (core ${core}): ${result.liveHeapKiBPerNode} KiB of live heap per node, ${result.events} events; written ${path}`,
);
