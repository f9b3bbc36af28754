// Churn results: merged into one JSON file (a row per population, session law and seed) and rendered as a
// section of sim-latest.md between two markers, so `make bench-sim` and `make bench-sim-churn` each rewrite
// only their own part of that file.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { ChurnTotals } from "../../src/sim/churn-measure.js";
import type { LifetimeDistribution } from "../../src/sim/churn.js";
import type { LeafSetScanSummary, PairDurations } from "../../src/sim/leaf-set-scan.js";
import { withLock } from "./results-file.js";

export interface ChurnRun {
  readonly nodes: number;
  /** The session law in words, or the trace replayed. */
  readonly label: string;
  readonly lifetime: LifetimeDistribution | undefined;
  readonly trace: string | undefined;
  readonly crashFraction: number;
  readonly seed: number;
  readonly warmupMinutes: number;
  readonly measuredMinutes: number;
  readonly trafficPerSecond: number;
  readonly core: { readonly commit: string; readonly dirty: boolean };
  readonly totals: ChurnTotals;
  readonly buildWallMs: number;
  readonly totalWallMs: number;
  readonly peakRssMiB: number;
  readonly peakHeapUsedMiB: number;
  readonly events: number;
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string };
  /** Every ready node's leaf set against the truth, once per virtual second measured (`--scan-leaf-sets`). */
  readonly leafSetScan?: LeafSetScanSummary;
}

export const CHURN_BEGIN = "<!-- churn section: written by bench/sim/churn.ts -->";
export const CHURN_END = "<!-- end of churn section -->";

/** One row per population, sessions, crash share, seed and routing core (before/after rows sit side by side). */
const runKey = (r: ChurnRun): string =>
  `${r.nodes}/${r.label}/${r.crashFraction}/${r.seed}/${r.core.commit}${r.core.dirty ? "+" : ""}`;

/** Adds `run` (if given) to the results at `jsonPath` and re-renders the churn section of `mdPath`. */
export function addChurnResult(jsonPath: string, mdPath: string, run: ChurnRun | undefined): void {
  withLock(`${jsonPath}.lock`, () => {
    const runs = new Map<string, ChurnRun>();
    if (existsSync(jsonPath)) {
      for (const r of (JSON.parse(readFileSync(jsonPath, "utf8")) as { runs: ChurnRun[] }).runs)
        runs.set(runKey(r), r);
    }
    if (run !== undefined) runs.set(runKey(run), run);
    const sorted = [...runs.values()].sort(
      (a, b) => a.nodes - b.nodes || (b.lifetime?.medianMs ?? 0) - (a.lifetime?.medianMs ?? 0),
    );
    writeAtomically(jsonPath, JSON.stringify({ runs: sorted }, null, 2) + "\n");
    const previous = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : "";
    writeAtomically(mdPath, withChurnSection(previous, renderChurnSection(sorted)));
  });
}

/** `markdown` with its churn section (between the markers) replaced by `section`, or `section` appended. */
export function withChurnSection(markdown: string, section: string): string {
  if (section === "") return markdown;
  const begin = markdown.indexOf(CHURN_BEGIN);
  const end = markdown.indexOf(CHURN_END);
  if (begin >= 0 && end > begin) {
    return markdown.slice(0, begin) + section + markdown.slice(end + CHURN_END.length);
  }
  return `${markdown.trimEnd()}\n\n${section}\n`;
}

/** The churn section already in the file at `mdPath` ("" if none), to carry over into a re-rendered file. */
export function churnSectionOf(mdPath: string): string {
  if (!existsSync(mdPath)) return "";
  const text = readFileSync(mdPath, "utf8");
  const begin = text.indexOf(CHURN_BEGIN);
  const end = text.indexOf(CHURN_END);
  return begin >= 0 && end > begin ? text.slice(begin, end + CHURN_END.length) : "";
}

function writeAtomically(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, path);
}

const pct = (x: number | null): string =>
  x !== null && Number.isFinite(x) ? `${(100 * x).toFixed(3)} %` : "-";
// Summaries of no samples hold NaN, which JSON stores as null.
const f0 = (x: number | null): string => (x !== null && Number.isFinite(x) ? x.toFixed(0) : "-");
const f2 = (x: number | null): string => (x !== null && Number.isFinite(x) ? x.toFixed(2) : "-");
const f3 = (x: number | null): string => (x !== null && Number.isFinite(x) ? x.toFixed(3) : "-");

const CONTROL_KINDS = [
  "heartbeat",
  "probe",
  "probeReply",
  "leafSet",
  "leafSetRequest",
  "rowRequest",
  "row",
  "join",
  "joinState",
  "announce",
  "leave",
];

/** The smallest cause-and-kind rate listed (msgs per node per second): the rest is summed as "other". */
const CAUSE_FLOOR = 0.005;

/** A run's control messages by cause, as "kind on cause rate" most first, the small ones summed. */
function causesOf(run: ChurnRun): string {
  const causes = run.totals.controlByCause ?? [];
  const shown = causes.filter((c) => c.perNodePerSecond >= CAUSE_FLOOR);
  const rest = causes.reduce(
    (sum, c) => sum + (c.perNodePerSecond >= CAUSE_FLOOR ? 0 : c.perNodePerSecond),
    0,
  );
  const parts = shown.map((c) => `${c.type} on ${c.cause} ${f3(c.perNodePerSecond)}`);
  if (rest > 0) parts.push(`other ${f3(rest)}`);
  return parts.join(", ");
}

export function renderChurnSection(runs: readonly ChurnRun[]): string {
  const lines: string[] = [CHURN_BEGIN, "", "## Churn", ""];
  lines.push(
    "Produced by `make bench-sim-churn` (bench/sim/churn.ts; raw figures in sim-churn.json). Each overlay is built " +
      "through real joins, then nodes come and go: every node's session is drawn from the law shown, each " +
      "departure is replaced at once by a new node joining (the population stays steady), departures are " +
      "crashes (no goodbye; half of them a dead process whose host refuses connections, half a silent host) " +
      "or graceful leaves in the share shown. After the warm-up, random keys are routed from random ready " +
      "nodes (a fifth of them sent twice at once from two origins, to check that both copies reach the same " +
      "node). Wrong = delivered at a node that was not the ring's closest live ready node at that moment; " +
      "lost = never delivered (dropped, or held by a node that stopped); inconsistent keys = same-key pairs " +
      "delivered at two different nodes while the key's true owner stayed the same (of such pairs). Repair: from a " +
      "crash until no leaf set that held the crashed node names it, and until those leaf sets are also full " +
      "again (checked every 100 ms; other departures nearby delay the second). Table " +
      "fill = entries per node over the slots that could be filled among N nodes; stale = entries naming a " +
      "node gone. Control = every message but route and ack. Wall time is on a shared 2-core machine (load " +
      "10-60 while the 2026-12-03 rows ran): it says how long a run took there, not how fast the simulator is; " +
      "events = simulator events processed (build included).",
    "",
    "| nodes | sessions | crash share | virtual min (warm-up + measured) | sent | delivered | wrong | lost (acked) | inconsistent keys | hops mean | stretch mean / p50 / p90 | control msg/node/s | crashed node out of every leaf set, ms p50 / p90 / max | leaf sets full again, ms p50 / p90 / max (crashes followed) | table fill / stale | core, seed, date | traffic msg/s | wall s (build) | events | peak RSS / heap MiB |",
    "| ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :--- | ---: | ---: | ---: | ---: |",
  );
  for (const r of runs) {
    const t = r.totals;
    const last = t.windows.at(-1);
    lines.push(
      `| ${r.nodes.toLocaleString("en")} | ${r.label} | ${r.crashFraction} | ${r.warmupMinutes} + ${r.measuredMinutes} | ` +
        `${t.sent} | ${t.delivered} | ${t.deliveredWrong} | ${t.lost} = ${pct(t.lost / Math.max(1, t.sent))} (${t.lostAcked}) | ` +
        `${t.inconsistentKeys} / ${t.keyPairs} | ${f2(t.hops.mean)} | ${f2(t.stretch.mean)} / ${f2(t.stretch.p50)} / ${f2(t.stretch.p90)} | ` +
        `${f3(t.controlTotalPerNodePerSecond)} | ${f0(t.removalMs.p50)} / ${f0(t.removalMs.p90)} / ${f0(t.removalMs.max)} | ${f0(t.repairMs.p50)} / ${f0(t.repairMs.p90)} / ${f0(t.repairMs.max)} (${t.repairsTracked}, ${t.repairsUnfinished} unfinished) | ` +
        `${last === undefined ? "-" : `${f2(last.tableFill)} / ${pct(last.tableStale)}`} | ${r.core.commit}${r.core.dirty ? "+" : ""}, seed ${r.seed}, ${r.date} | ` +
        `${r.trafficPerSecond} | ${(r.totalWallMs / 1000).toFixed(0)} (${(r.buildWallMs / 1000).toFixed(0)}) | ` +
        `${(r.events / 1e6).toFixed(1)} M | ${r.peakRssMiB.toFixed(0)} / ${r.peakHeapUsedMiB.toFixed(0)} |`,
    );
  }
  lines.push("", "Control messages per node per second by kind (over the measured time):", "");
  lines.push(`| nodes | sessions | ${CONTROL_KINDS.join(" | ")} |`);
  lines.push(`| ---: | :--- | ${CONTROL_KINDS.map(() => "---:").join(" | ")} |`);
  for (const r of runs) {
    const c = r.totals.controlPerNodePerSecond;
    lines.push(
      `| ${r.nodes.toLocaleString("en")} | ${r.label} | ${CONTROL_KINDS.map((k) => f3(c[k] ?? 0)).join(" | ")} |`,
    );
  }
  const withCauses = runs.filter((r) => r.totals.controlByCause !== undefined);
  if (withCauses.length > 0) {
    lines.push(
      "",
      "Control messages by what prompted them: each kind sent while its sender handled a given input (a message " +
        `it received, a tick, a send of its own that failed...), per node per second, those of at least ${CAUSE_FLOOR} ` +
        "(rows measured since 2026-12-04):",
      "",
    );
    for (const r of withCauses)
      lines.push(`- ${r.nodes.toLocaleString("en")} nodes, ${r.label}: ${causesOf(r)}`);
  }
  const scanned = runs.filter((r) => r.leafSetScan !== undefined);
  if (scanned.length > 0) {
    lines.push(
      "",
      "Leaf sets scanned once per virtual second measured (`--scan-leaf-sets`, src/sim/leaf-set-scan.ts): how long " +
        "a node that crashed (its host silent, or its process dead) or left stayed in the leaf set of a ready " +
        "node that held it, from its end to the last second it was seen there, and how long a live ready node " +
        "was missing from a leaf set it belongs in (a hole), per (holder, node) pair: pairs, pairs over 10 s / " +
        "over 15 s, the longest.",
      "",
      "| nodes | sessions | core, seed | silent host | dead process | left | holes |",
      "| ---: | :--- | :--- | ---: | ---: | ---: | ---: |",
    );
    for (const r of scanned) {
      const scan = r.leafSetScan as LeafSetScanSummary;
      const cell = (d: PairDurations): string =>
        `${d.pairs} / ${d.over10s} / ${d.over15s} / ${(d.maxMs / 1000).toFixed(1)} s`;
      lines.push(
        `| ${r.nodes.toLocaleString("en")} | ${r.label} | ${r.core.commit}${r.core.dirty ? "+" : ""}, seed ${r.seed} | ` +
          `${cell(scan.ghosts.host)} | ${cell(scan.ghosts.process)} | ${cell(scan.ghosts.left)} | ${cell(scan.holes)} |`,
      );
    }
  }
  lines.push(
    "",
    "Over time (one row per measurement window): hops, stretch, control cost and table fill.",
    "",
  );
  for (const r of runs) {
    lines.push(
      `- ${r.nodes.toLocaleString("en")} nodes, ${r.label}: ` +
        r.totals.windows
          .map(
            (w) =>
              `t+${(w.startMs / 60_000).toFixed(0)} min: ${w.delivered}/${w.sent} delivered, ${w.misdelivered} wrong, hops ${f2(w.hopsMean)}, stretch ${f2(w.stretchMean)}, control ${f3(w.controlTotalPerNodePerSecond)}, fill ${f2(w.tableFill)} (stale ${pct(w.tableStale)}), ${w.departures} departures`,
          )
          .join("; "),
    );
  }
  lines.push("", CHURN_END);
  return lines.join("\n");
}
