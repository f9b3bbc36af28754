// Runs l/2 adjacent crashes (overlay.test.ts, "after up to l/2 adjacent crashes ...") over a range of seeds
// and reports every case whose leaf sets were not exact within the property's bound (12.5 s), with the time
// they took:
//
//   npx tsx test/routing/sweep-adjacent-crashes.ts --from 1 --to 3000 [--leaf-set-size 8] [--crashes 4]
//
// The property draws the leaf-set size, the number of crashes and the failure reporting at random; the late
// cases found so far all had l = 8 and 4 crashes (every member of a side gone at once), the default here.
// It also prints the slowest case within the bound and how many came within a second of it (the margin).
// Exits 1 when a case was late. trace-adjacent-crashes.ts shows what happened in one of them.
import { parseArgs } from "node:util";
import {
  ADJACENT_CRASH_BOUND_MS as PROPERTY_BOUND_MS,
  adjacentCrashRepairMs,
} from "./adjacent-crash-runs.js";
/** How long a late case is followed before it counts as never repaired. */
const FOLLOW_MS = 120_000;

const { values } = parseArgs({
  options: {
    from: { type: "string", default: "1" },
    to: { type: "string", default: "1000" },
    "leaf-set-size": { type: "string", default: "8" },
    crashes: { type: "string", default: "4" },
    "report-all": { type: "boolean", default: false },
  },
});
const from = Number(values.from);
const to = Number(values.to);
const leafSetSize = Number(values["leaf-set-size"]);
const crashes = Number(values.crashes);
if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to < from || to > 1_000_000) {
  console.error("--from and --to: seeds, 1 <= from <= to <= 1,000,000 (the property's range)");
  process.exit(2);
}
if (
  ![8, 16].includes(leafSetSize) ||
  !Number.isInteger(crashes) ||
  crashes < 1 ||
  crashes > leafSetSize / 2
) {
  console.error("--leaf-set-size: 8 or 16 (the property's); --crashes: 1 to l/2");
  process.exit(2);
}

const late: string[] = [];
// The slowest case within the bound, and how many came within a second of it: how much margin is left.
let slowest: { seed: number; ms: number } | undefined;
let nearBound = 0;
for (let seed = from; seed <= to; seed++) {
  const ms = adjacentCrashRepairMs(seed, leafSetSize, crashes, values["report-all"], FOLLOW_MS);
  if (ms === undefined) late.push(`${seed}: not exact ${FOLLOW_MS / 1000} s after the crashes`);
  else if (ms > PROPERTY_BOUND_MS) late.push(`${seed}: exact ${ms / 1000} s after the crashes`);
  else {
    if (slowest === undefined || ms > slowest.ms) slowest = { seed, ms };
    if (ms > PROPERTY_BOUND_MS - 1_000) nearBound++;
  }
}
console.log(
  `seeds ${from}-${to}, l = ${leafSetSize}, ${crashes} adjacent crashes: ${to - from + 1} run, ` +
    `${late.length} not exact within ${PROPERTY_BOUND_MS / 1000} s`,
);
if (slowest !== undefined)
  console.log(
    `  within it, the slowest: exact ${slowest.ms / 1000} s after the crashes (first at seed ${slowest.seed}); ` +
      `${nearBound} within a second of the bound`,
  );
for (const line of late) console.log(`  ${line}`);
process.exitCode = late.length > 0 ? 1 : 0;
