// The key-value replication benchmark (`make bench-sim-kv`): the replication protocol (src/kv's decisions,
// as the runtime runs them) over a simulated overlay built through real joins: keys written with W
// acknowledgements, the store at rest, churn with writes and overwrites going on, then churn stops and
// repair runs. Reports the share of keys with k correct replicas (holding the latest acknowledged version),
// keys lost, a read of every key from its k true replicas at the end, and repair traffic per node per
// second, at rest, during churn and after it. Results merge into bench/results/sim-kv.json (one row per
// size and session law) and are rendered as bench/results/sim-kv.md.
// Usage: bench/sim/kv.ts --nodes 1000 --keys 20000 [--median-minutes 10] [--churn-minutes 3]
//   [--repair-minutes 2] [--window-seconds 15] [--value-bytes 100] [--crash-fraction 0.5] [--seed 1]
//   [--churn-writes-per-second 50] [--churn-overwrite-share 0.5]
//   [--out bench/results] | --render
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Command } from "commander";
import { runKv, type KvRunResult } from "../../src/sim/kv-run.js";
import { renderKvMarkdown, type KvBenchRow } from "./kv-report.js";

const o = new Command()
  .option("--nodes <n>", "steady population", "1000")
  .option("--keys <n>", "keys written before churn", "20000")
  .option("--median-minutes <m>", "median session length (exponential)", "10")
  .option("--churn-minutes <m>", "virtual minutes of churn", "3")
  .option("--repair-minutes <m>", "virtual minutes of repair after churn stops", "2")
  .option("--window-seconds <s>", "census interval", "15")
  .option("--value-bytes <n>", "bytes per value", "100")
  .option("--crash-fraction <f>", "share of departures that are crashes (no goodbye)", "0.5")
  .option("--seed <n>", "simulation seed", "1")
  .option("--churn-writes-per-second <n>", "writes per second during churn (new keys and overwrites)", "50")
  .option("--churn-overwrite-share <f>", "share of the writes during churn that overwrite a key", "0.5")
  .option("--out <dir>", "results directory", "bench/results")
  .option("--render", "only re-render sim-kv.md from sim-kv.json")
  .parse()
  .opts<{
    nodes: string;
    keys: string;
    medianMinutes: string;
    churnMinutes: string;
    repairMinutes: string;
    windowSeconds: string;
    valueBytes: string;
    crashFraction: string;
    seed: string;
    churnWritesPerSecond: string;
    churnOverwriteShare: string;
    out: string;
    render?: boolean;
  }>();

const jsonPath = join(o.out, "sim-kv.json");
const mdPath = join(o.out, "sim-kv.md");
// Read when writing, not at the start: runs of other sizes may finish meanwhile.
const readRows = (): KvBenchRow[] =>
  existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, "utf8")) as KvBenchRow[]) : [];
let rows = readRows();

if (o.render !== true) {
  const MINUTE = 60_000;
  const started = performance.now();
  const log = (line: string): void =>
    console.log(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${line}`);
  const medianMinutes = Number.parseFloat(o.medianMinutes);
  const cpuStart = process.cpuUsage();
  const ranCommit = commit(); // the code that runs, not what is committed by the time it ends
  const result: KvRunResult = runKv({
    nodes: Number.parseInt(o.nodes, 10),
    seed: Number.parseInt(o.seed, 10),
    keys: Number.parseInt(o.keys, 10),
    valueBytes: Number.parseInt(o.valueBytes, 10),
    writeSpreadMs: 10_000,
    restMs: 30_000,
    lifetime: { kind: "exponential", medianMs: medianMinutes * MINUTE },
    crashFraction: Number.parseFloat(o.crashFraction),
    churnMs: Number.parseFloat(o.churnMinutes) * MINUTE,
    churnWritesPerSecond: Number.parseFloat(o.churnWritesPerSecond),
    churnOverwriteShare: Number.parseFloat(o.churnOverwriteShare),
    repairMs: Number.parseFloat(o.repairMinutes) * MINUTE,
    windowMs: Number.parseFloat(o.windowSeconds) * 1000,
    log,
  });
  const cpu = process.cpuUsage(cpuStart);
  const row: KvBenchRow = {
    result,
    medianMinutes,
    churnMinutes: Number.parseFloat(o.churnMinutes),
    repairMinutes: Number.parseFloat(o.repairMinutes),
    seed: Number.parseInt(o.seed, 10),
    valueBytes: Number.parseInt(o.valueBytes, 10),
    crashFraction: Number.parseFloat(o.crashFraction),
    churnWritesPerSecond: Number.parseFloat(o.churnWritesPerSecond),
    churnOverwriteShare: Number.parseFloat(o.churnOverwriteShare),
    wallSeconds: (performance.now() - started) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    commit: ranCommit,
    date: new Date().toISOString().slice(0, 10),
    machine: { cpus: cpus().length, node: process.version },
  };
  const same = (r: KvBenchRow): boolean =>
    r.result.nodes === row.result.nodes && r.medianMinutes === row.medianMinutes && r.seed === row.seed;
  rows = [...readRows().filter((r) => !same(r)), row];
  rows.sort((a, b) => a.result.nodes - b.result.nodes || a.medianMinutes - b.medianMinutes);
  writeFileSync(jsonPath, `${JSON.stringify(rows, null, 1)}\n`);
  const rc = result.readCheck;
  log(
    `final: ${result.final.withAllReplicas}/${result.final.keys} keys with k correct replicas, lost ${result.final.lost}; ` +
      `read check of ${rc.keys} keys: ${rc.atLatest} last acked, ${rc.newer} newer, ${rc.behind} behind, ` +
      `${rc.missing} missing, ${rc.divergent} divergent, ${rc.neverWritten} never written, ${rc.short} on fewer than k`,
  );
}
writeFileSync(mdPath, renderKvMarkdown(rows));
console.log(`written ${jsonPath} and ${mdPath}`);

function commit(): string {
  try {
    const git = (...args: string[]): string => execFileSync("git", args, { encoding: "utf8" }).trim();
    return git("log", "-1", "--format=%h") + (git("status", "--porcelain", "--", "src") === "" ? "" : "+");
  } catch {
    return "unknown";
  }
}
