// The simulation benchmark (`make bench-sim`): builds overlays of 1,000 / 10,000 / 100,000 PastryNode
// machines through real joins, routes random traffic, and records hops, stretch (with and without
// proximity-aware tables), state size, maintenance traffic, build time and peak memory.
// One overlay per mode grows through the sizes in ascending order and is measured at each (build times are
// cumulative, less the measuring of smaller sizes). Usage: bench/sim/run.ts [--sizes 1000,10000] [--modes proximity,plain] [--messages 10000]
//   [--seed 1] [--seed-selection random|nearest] [--topology regions|plane] [--out bench/results]
//   [--wall-budget-minutes 120]
//   [--maintained-minutes 10] [--maintained-max-nodes 10000]
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { Command } from "commander";
import { runBenchmark, type SeedMode, type Topology } from "./benchmark.js";
import { churnSectionOf, withChurnSection } from "./churn-results.js";
import { addResult } from "./results-file.js";
import { renderMarkdown } from "./report.js";

const program = new Command()
  .option("--sizes <list>", "overlay sizes", "1000,10000,100000")
  .option("--modes <list>", "proximity (proximity-aware tables) and/or plain", "proximity,plain")
  .option("--messages <n>", "routed messages per run", "10000")
  .option("--seed <n>", "simulation seed", "1")
  .option(
    "--seed-selection <how>",
    "random (any live node) or nearest (nearest of 16 random live nodes)",
    "nearest",
  )
  .option(
    "--topology <kind>",
    "regions (ours) or plane (the Pastry paper's: one region, no base latency)",
    "regions",
  )
  .option("--out <dir>", "results directory", "bench/results")
  .option("--wall-budget-minutes <m>", "stop growing (and report how far it got) after this long", "120")
  .option(
    "--maintained-minutes <m>",
    "virtual minutes of quiet table maintenance before a second measurement (0: none)",
    "10",
  )
  .option(
    "--maintained-max-nodes <n>",
    "only sizes up to this many nodes get the second measurement",
    "10000",
  )
  .parse();

const opts = program.opts<{
  sizes: string;
  modes: string;
  messages: string;
  seed: string;
  seedSelection: string;
  topology: string;
  out: string;
  wallBudgetMinutes: string;
  maintainedMinutes: string;
  maintainedMaxNodes: string;
}>();

const sizes = opts.sizes
  .split(",")
  .map((s) => Number.parseInt(s, 10))
  .sort((a, b) => a - b);
const modes = opts.modes.split(",");
for (const m of modes) if (m !== "proximity" && m !== "plain") throw new Error(`unknown mode ${m}`);
if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`bad --sizes ${opts.sizes}`);
if (opts.seedSelection !== "random" && opts.seedSelection !== "nearest") {
  throw new Error(`bad --seed-selection ${opts.seedSelection}`);
}
const seedMode: SeedMode = opts.seedSelection;
if (opts.topology !== "regions" && opts.topology !== "plane")
  throw new Error(`bad --topology ${opts.topology}`);
const topology: Topology = opts.topology;
const maintainedMinutes = Number.parseFloat(opts.maintainedMinutes);
const maintainedMaxNodes = Number.parseInt(opts.maintainedMaxNodes, 10);
if (!(maintainedMinutes >= 0)) throw new Error(`bad --maintained-minutes ${opts.maintainedMinutes}`);
if (!Number.isInteger(maintainedMaxNodes))
  throw new Error(`bad --maintained-max-nodes ${opts.maintainedMaxNodes}`);

const date = new Date().toISOString().slice(0, 10);

/** Which routing core was measured: its last commit, and whether src/routing had uncommitted edits. */
function coreVersion(): { commit: string; dirty: boolean } {
  try {
    const git = (...args: string[]): string => execFileSync("git", args, { encoding: "utf8" }).trim();
    return {
      commit: git("log", "-1", "--format=%h", "--", "src/routing"),
      dirty: git("status", "--porcelain", "--", "src/routing") !== "",
    };
  } catch {
    return { commit: "unknown", dirty: false };
  }
}
mkdirSync(opts.out, { recursive: true });
const jsonPath = join(opts.out, `sim-${date}.json`);
const mdPath = join(opts.out, "sim-latest.md");

const budgetMs = Number.parseFloat(opts.wallBudgetMinutes) * 60_000;
const started = Date.now();
for (const mode of modes) {
  const proximityAware = mode === "proximity";
  console.log(`\n== sizes ${sizes.join(", ")}, proximity-aware ${proximityAware}, seeds ${seedMode} ==`);
  runBenchmark({
    core: coreVersion(),
    sizes,
    proximityAware,
    seedSelection: seedMode,
    topology,
    messages: Number.parseInt(opts.messages, 10),
    seed: Number.parseInt(opts.seed, 10),
    wallBudgetMs: Math.max(0, budgetMs - (Date.now() - started)),
    maintainedMinutes,
    maintainedMaxNodes,
    log: (line) => console.log(line),
    onResult: (result) => {
      const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version };
      addResult(jsonPath, result, { date, machine }, (doc) =>
        // The churn benchmark's section of the same file is carried over as it is.
        writeFileSync(mdPath, withChurnSection(renderMarkdown(doc), churnSectionOf(mdPath))),
      );
      console.log(`written ${jsonPath} and ${mdPath}`);
    },
  });
}
