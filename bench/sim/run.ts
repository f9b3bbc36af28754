// The simulation benchmark (`make bench-sim`): builds overlays of 1,000 / 10,000 / 100,000 PastryNode
// machines through real joins, routes random traffic, and records hops, stretch (with and without
// proximity-aware tables), state size, maintenance traffic, build time and peak memory.
// Usage: bench/sim/run.ts [--sizes 1000,10000] [--modes proximity,plain] [--messages 10000] [--seed 1]
//                         [--seed-selection random|nearest] [--out bench/results]
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { Command } from "commander";
import { runBenchmark, type BenchResult, type SeedMode } from "./benchmark.js";
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
  .option("--out <dir>", "results directory", "bench/results")
  .parse();

const opts = program.opts<{
  sizes: string;
  modes: string;
  messages: string;
  seed: string;
  seedSelection: string;
  out: string;
}>();

const sizes = opts.sizes.split(",").map((s) => Number.parseInt(s, 10));
const modes = opts.modes.split(",");
for (const m of modes) if (m !== "proximity" && m !== "plain") throw new Error(`unknown mode ${m}`);
if (sizes.some((n) => !Number.isInteger(n) || n < 2)) throw new Error(`bad --sizes ${opts.sizes}`);
if (opts.seedSelection !== "random" && opts.seedSelection !== "nearest") {
  throw new Error(`bad --seed-selection ${opts.seedSelection}`);
}
const seedMode: SeedMode = opts.seedSelection;

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

// Runs of the same day are merged, so a subset (e.g. --sizes 100000) adds to earlier runs.
const keyOf = (r: BenchResult): string => `${r.nodes}/${r.proximityAware}/${r.seedSelection}`;
const results = new Map<string, BenchResult>();
if (existsSync(jsonPath)) {
  const previous = JSON.parse(readFileSync(jsonPath, "utf8")) as { results: BenchResult[] };
  for (const r of previous.results) results.set(keyOf(r), r);
}

for (const nodes of sizes) {
  for (const mode of modes) {
    const proximityAware = mode === "proximity";
    console.log(`\n== ${nodes} nodes, proximity-aware ${proximityAware}, seeds ${seedMode} ==`);
    const core = coreVersion();
    const result = runBenchmark({
      core,
      nodes,
      proximityAware,
      seedSelection: seedMode,
      messages: Number.parseInt(opts.messages, 10),
      seed: Number.parseInt(opts.seed, 10),
      log: (line) => console.log(line),
    });
    results.set(keyOf(result), result);
    const all = [...results.values()].sort(
      (a, b) => a.nodes - b.nodes || Number(b.proximityAware) - Number(a.proximityAware),
    );
    const doc = {
      date,
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
      results: all,
    };
    writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + "\n");
    writeFileSync(mdPath, renderMarkdown(doc));
    console.log(`written ${jsonPath} and ${mdPath}`);
  }
}
