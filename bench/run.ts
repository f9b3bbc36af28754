// `make bench`: runs the harness with the full settings and writes bench/results/<date>.json,
// bench/results/latest.md and bench/results/latest.svg.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { runBenchmark } from "./harness.js";
import { renderSvg } from "./plot.js";
import { renderMarkdown } from "./report.js";
import { FULL_SETTINGS, type BenchSettings } from "./lib/settings.js";
import type { BenchResult } from "./lib/result.js";
import { readSimResults } from "./lib/sim-results.js";
import { memoryCgroupTrial } from "./lib/memory-cgroup.js";
import { runMain } from "./lib/run-main.js";

export function writeResults(
  result: BenchResult,
  resultsDir: string,
): { json: string; md: string; svg: string } {
  mkdirSync(resultsDir, { recursive: true });
  const json = join(resultsDir, `${result.date}.json`);
  const md = join(resultsDir, "latest.md");
  const svg = join(resultsDir, "latest.svg");
  writeFileSync(json, JSON.stringify(result, null, 2) + "\n");
  writeFileSync(svg, renderSvg(result));
  writeFileSync(md, renderMarkdown(result, "latest.svg"));
  return { json, md, svg };
}

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command("bench")
    .description("Wendy benchmark: real daemons on 127.0.0.1 against a plain gRPC baseline of the same run")
    .option("--sizes <list>", "cluster sizes, comma-separated", list)
    .option("--repeats <n>", "repeats per figure", Number)
    .option("--measure-ms <n>", "measured window per figure", Number)
    .option("--warmup-ms <n>", "warm-up before each window", Number)
    .option("--idle-ms <n>", "idle window for maintenance traffic", Number)
    .option("--idle-settle-ms <n>", "rest after the last join before the idle window", Number)
    .option(
      "--source",
      "run the working tree through bin/wendy.js (its build if current, else tsx) instead of a compiled build",
    )
    .option(
      "--memory-limit-mib <n>",
      "run each daemon in a memory cgroup with this limit, as in a pod (Linux, root; without cgroups: no limit, said so)",
      Number,
    )
    .option("--out <dir>", "results directory", join(import.meta.dirname, "results"))
    .option(
      "--report-only",
      "measure nothing: re-render the report of the last run with the current simulation results " +
        "(after `make bench-sim`, which takes hours at 100k nodes)",
    );
  program.parse([...argv]);
  const o = program.opts<{
    sizes?: number[];
    repeats?: number;
    measureMs?: number;
    warmupMs?: number;
    idleMs?: number;
    idleSettleMs?: number;
    source?: boolean;
    memoryLimitMib?: number;
    out: string;
    reportOnly?: boolean;
  }>();
  if (o.reportOnly === true) {
    const files = writeResults(rerenderLast(o.out), o.out);
    process.stdout.write(`re-rendered ${files.md} and ${files.svg} from ${files.json}\n`);
    return;
  }
  const sizes = o.sizes ?? FULL_SETTINGS.clusterSizes;
  const settings: BenchSettings = {
    ...FULL_SETTINGS,
    clusterSizes: sizes,
    joinSizes: FULL_SETTINGS.joinSizes.filter((s) => sizes.includes(s)),
    failureSizes: FULL_SETTINGS.failureSizes.filter((s) => sizes.includes(s)),
    repeats: o.repeats ?? FULL_SETTINGS.repeats,
    measureMs: o.measureMs ?? FULL_SETTINGS.measureMs,
    warmupMs: o.warmupMs ?? FULL_SETTINGS.warmupMs,
    idleMs: o.idleMs ?? FULL_SETTINGS.idleMs,
    idleSettleMs: o.idleSettleMs ?? FULL_SETTINGS.idleSettleMs,
    runtime: o.source === true ? "source" : FULL_SETTINGS.runtime,
    ...memoryLimit(o.memoryLimitMib),
  };
  const result = await runBenchmark({
    settings,
    resultsDir: o.out,
    log: (line) => process.stdout.write(line + "\n"),
  });
  const files = writeResults(result, o.out);
  process.stdout.write(`\nwrote ${files.json}, ${files.md}, ${files.svg}\n`);
  for (const t of result.targets)
    process.stdout.write(`  ${t.met ? "met   " : "MISSED"} ${t.name}: ${t.measured} (goal ${t.target})\n`);
}

/** The newest <date>.json of a real run, its simulation section replaced by the current sim results. */
function rerenderLast(resultsDir: string): BenchResult {
  const runs = readdirSync(resultsDir)
    .filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f))
    .sort();
  const last = runs.at(-1);
  if (last === undefined) throw new Error(`no benchmark run in ${resultsDir}: run \`make bench\` first`);
  const result = JSON.parse(readFileSync(join(resultsDir, last), "utf8")) as BenchResult;
  return { ...result, sim: readSimResults(resultsDir) ?? null };
}

/** The memory-limit setting for `--memory-limit-mib`, or none (said why) where cgroups cannot be made. */
function memoryLimit(mib: number | undefined): { memoryLimitBytes?: number } {
  if (mib === undefined) return {};
  if (!(Number.isInteger(mib) && mib > 0)) throw new Error(`bad --memory-limit-mib ${String(mib)}`);
  const unavailable = memoryCgroupTrial();
  if (unavailable !== undefined) {
    process.stdout.write(`daemons run without a memory limit: ${unavailable}\n`);
    return {};
  }
  return { memoryLimitBytes: mib * 1024 * 1024 };
}

function list(value: string): number[] {
  return value.split(",").map((s) => Number(s.trim()));
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  runMain("bench", main);
}
