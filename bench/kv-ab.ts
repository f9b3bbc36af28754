// A/B of the key-value store's speed: `node --import tsx bench/kv-ab.ts --base <rev> [--head HEAD]`. Two
// clusters of 8 daemons, one per commit (each compiled), both up at once; short windows of Get and Put
// (bench/scenarios/kv.ts) alternate between them, so both see the same machine (this one is shared and its
// load swings by the minute). Prints each window, then per side the medians over rounds of p50, rate and
// daemon CPU per op, and per operation the median of the rounds' head/base p50 ratios.
import { Command } from "commander";
import { BenchCluster } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { median } from "./lib/stats.js";
import { WARMUP_IN_FLIGHT, warmUp } from "./lib/warmup.js";
import { KvTraffic, type KvRun } from "./scenarios/kv.js";
import { runMain } from "./lib/run-main.js";

interface KvAbOptions {
  base: string;
  head: string;
  rounds: number;
  measureMs: number;
  codeWarmupMs: number;
  inFlight: number[];
}

interface Side {
  readonly label: string;
  readonly cluster: BenchCluster;
  readonly traffic: KvTraffic;
  readonly runs: Map<string, KvRun[]>;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-kv-ab")
    .requiredOption("--base <rev>", "the commit to compare against")
    .option("--head <rev>", "the commit under test", "HEAD")
    .option("--rounds <n>", "alternations of every window", Number, 3)
    .option("--measure-ms <n>", "measured window", Number, 2500)
    .option(
      "--code-warmup-ms <n>",
      "each side runs Get and Put unmeasured at least this long first, until their CPU per op stops falling (4x at most; bench/lib/warmup.ts)",
      Number,
      15_000,
    )
    .option("--in-flight <list>", "requests in flight, comma-separated", list, [1, 64])
    .parse([...argv])
    .opts<KvAbOptions>();
  const sides: Side[] = [];
  try {
    for (const [name, rev] of [
      ["base", o.base],
      ["head", o.head],
    ] as const) {
      const build = buildCompiledDaemon(rev);
      const cluster = new BenchCluster(`kvab-${name}`, { name: "compiled", entry: build.entry });
      sides.push({
        label: `${name} ${build.commit}`,
        cluster,
        traffic: new KvTraffic(cluster, 100),
        runs: new Map(),
      });
      await cluster.grow(8, 3);
    }
    const limits = { minMs: o.codeWarmupMs, maxMs: 4 * o.codeWarmupMs };
    for (const side of sides) {
      await side.traffic.preload();
      await warmUp(limits, (w) => side.traffic.measureGet(WARMUP_IN_FLIGHT, w));
      await warmUp(limits, (w) => side.traffic.measurePut(WARMUP_IN_FLIGHT, w));
    }
    const window = { warmupMs: 500, measureMs: o.measureMs };
    for (let round = 0; round < o.rounds; round++) {
      for (const inFlight of o.inFlight) {
        for (const operation of ["get", "put"] as const) {
          // Alternate which side goes first, so neither always follows the other's load.
          for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
            const run =
              operation === "get"
                ? await side.traffic.measureGet(inFlight, window)
                : await side.traffic.measurePut(inFlight, window);
            const key = `${operation} x${inFlight}`;
            side.runs.set(key, [...(side.runs.get(key) ?? []), run]);
            process.stdout.write(
              `round ${round + 1}, ${side.label}, ${key}: p50 ${run.latency.p50Ms.toFixed(2)} ms, ${run.perSecond.toFixed(0)}/s\n`,
            );
          }
        }
      }
    }
  } finally {
    for (const side of sides) await side.cluster.stop();
  }
  process.stdout.write(
    "| side | operation | p50 ms | ops/s | daemon CPU µs/op | failed |\n| --- | --- | ---: | ---: | ---: | ---: |\n",
  );
  for (const side of sides)
    for (const [key, runs] of side.runs)
      process.stdout.write(
        `| ${side.label} | ${key} | ${median(runs.map((r) => r.latency.p50Ms)).toFixed(2)} | ${median(runs.map((r) => r.perSecond)).toFixed(0)} | ${Math.round(median(runs.map((r) => r.cpuSecondsPerOp)) * 1e6).toLocaleString("en-US")} | ${runs.reduce((s, r) => s + r.failed, 0)} |\n`,
      );
  pairedRatios(sides);
}

/**
 * Per operation, the median over rounds of head's p50 over base's p50 in the same round: the windows of a
 * round run back to back, so each ratio compares the two sides under nearly the same load.
 */
function pairedRatios(sides: readonly Side[]): void {
  const [base, head] = sides;
  if (base === undefined || head === undefined) return;
  process.stdout.write(
    "\n| operation | head p50 / base p50, median of rounds | per round |\n| --- | ---: | --- |\n",
  );
  for (const [key, baseRuns] of base.runs) {
    const headRuns = head.runs.get(key) ?? [];
    const ratios = baseRuns.flatMap((b, i) => {
      const h = headRuns[i];
      return h === undefined ? [] : [h.latency.p50Ms / b.latency.p50Ms];
    });
    process.stdout.write(
      `| ${key} | ${median(ratios).toFixed(2)} | ${ratios.map((r) => r.toFixed(2)).join(", ")} |\n`,
    );
  }
}

function list(value: string): number[] {
  return value.split(",").map((s) => Number(s.trim()));
}

runMain("bench-kv-ab", main);
