// Runs the lossy overload property (overload.test.ts, "with a tenth of all messages lost as well") over a
// range of seeds and counts every failure, where fast-check stops at the first. A property that fails one
// seed in 300 passes CI most days; run the range on the code before a change and after it:
//
//   npx tsx test/routing/sweep-lossy-overload.ts --from 400001 --to 405000
//
// Prints the failing seeds with the verdict each broke, and how long the leaf sets took to become exact.
// Exits 1 when a seed failed.
import { parseArgs } from "node:util";
import { runLossyOverload, type LossyOverloadVerdicts } from "./overload-runs.js";

/** The first verdict of the property that `run` breaks, or undefined if it passes. */
function brokenVerdict(run: LossyOverloadVerdicts): string | undefined {
  if (run.stormMaintenanceRate >= 4) return `storm maintenance ${run.stormMaintenanceRate.toFixed(2)}/node/s`;
  if (!run.neighboursExactAfter30s) return "ranges not exact 30 s after";
  if (!run.allReady) return "a node not ready";
  if (run.settledAfterMs === undefined) return "leaf sets not exact in 10 min";
  if (run.quietMaintenanceRate >= 2) return `quiet maintenance ${run.quietMaintenanceRate.toFixed(2)}/node/s`;
  return undefined;
}

const { values } = parseArgs({
  options: { from: { type: "string", default: "1" }, to: { type: "string", default: "1000" } },
});
const from = Number(values.from);
const to = Number(values.to);
if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < from || to > 1_000_000) {
  console.error("--from and --to: seeds, 1 <= from <= to <= 1,000,000 (the property's range)");
  process.exit(2);
}

const failures: string[] = [];
const waits: number[] = [];
for (let seed = from; seed <= to; seed++) {
  const run = runLossyOverload(seed);
  const broken = brokenVerdict(run);
  if (broken !== undefined) failures.push(`${seed}: ${broken}`);
  if (run.settledAfterMs !== undefined) waits.push(run.settledAfterMs);
}
waits.sort((a, b) => a - b);
const late = waits.filter((ms) => ms > 0);
console.log(`seeds ${from}-${to}: ${to - from + 1} run, ${failures.length} failed`);
for (const failure of failures) console.log(`  ${failure}`);
console.log(
  `leaf sets exact 30 s after the storm in ${waits.length - late.length} runs; later in ${late.length}` +
    (late.length > 0 ? ` (latest ${(late.at(-1) ?? 0) / 1000} s on)` : ""),
);
process.exitCode = failures.length > 0 ? 1 : 0;
