// Renders benchmark results as the markdown table in bench/results/sim-latest.md, beside the paper's figures.
import type { BenchResult, IncompleteBuild } from "./benchmark.js";
import type { IdealRoutes } from "../../src/sim/ideal-routes.js";
import type { TableLocality } from "../../src/sim/measure.js";

/** Rowstron & Druschel 2001, figure 4 (b = 4, l = 16) and section 5.2 (route stretch with locality). */
const PAPER_MEAN_HOPS: Record<number, number> = { 1000: 2.5, 10000: 3.3, 100000: 4.15 };
const PAPER_STRETCH = "1.3-1.4";

/** A row's size, marked when it ran on the paper's plane rather than our regions. */
function sizeLabel(r: BenchResult | IncompleteBuild): string {
  return r.nodes.toLocaleString("en-US") + (r.topology === "plane" ? " (plane)" : "");
}

/** Results written before a field existed read it as undefined. */
type Recorded = BenchResult & {
  readonly tableLocality?: TableLocality;
  readonly idealRoutes?: IdealRoutes;
  readonly idealRegionRoutes?: IdealRoutes;
  readonly routes: BenchResult["routes"] & { readonly stretchOfTotals?: number };
};

/**
 * Measured stretch beside the same keys routed with perfect proximity tables over the same live nodes: the
 * paper's figure depends on its topologies, the ideal on ours, so the ratio says how good the tables are.
 */
function stretchAgainstIdeal(results: readonly Recorded[]): string[] {
  const rows = results.filter((r) => r.idealRoutes !== undefined);
  if (rows.length === 0) return [];
  const fixed = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(2));
  const lines = [
    "",
    "Stretch against perfect tables. The same number of random keys routed over the same live nodes and " +
      "network with ideal Pastry state: every step to the nearest node sharing a longer prefix with the key, " +
      "exact leaf sets (src/sim/ideal-routes.ts). Nearest by latency, and nearest as the nodes rank peers " +
      "(latency x the region multiplier across regions, so tables prefer their own region). Stretch of " +
      "totals = sum of path latencies / sum of direct latencies.",
    "",
    "| nodes | proximity tables | stretch mean / of totals | ideal by latency: mean / of totals | ideal by region-scaled proximity: mean / of totals | mean over ideal (latency / region-scaled) | ideal mean hops |",
    "| ---: | :---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const ideal = r.idealRoutes as IdealRoutes;
    const region = r.idealRegionRoutes;
    const over = (i: IdealRoutes | undefined): string =>
      i === undefined ? "-" : (r.routes.stretch.mean / i.stretch.mean).toFixed(2);
    lines.push(
      `| ${sizeLabel(r)} | ${r.proximityAware ? "yes" : "no"} | ` +
        `${fixed(r.routes.stretch.mean)} / ${fixed(r.routes.stretchOfTotals)} | ` +
        `${fixed(ideal.stretch.mean)} / ${fixed(ideal.stretchOfTotals)} | ` +
        `${fixed(region?.stretch.mean)} / ${fixed(region?.stretchOfTotals)} | ` +
        `${over(ideal)} / ${over(region)} | ${fixed(ideal.hops.mean)} |`,
    );
  }
  return lines;
}

/** The overlays measured again after quiet minutes of table maintenance, beside their figures after the build. */
function afterMaintenance(results: readonly Recorded[]): string[] {
  const rows = results.filter((r) => r.maintained !== undefined && r.tableLocality !== undefined);
  if (rows.length === 0) return [];
  const percent = (v: number): string => `${(v * 100).toFixed(1)} %`;
  const lines = [
    "",
    "Tables after maintenance. The same overlay, right after the build and again after some virtual minutes " +
      "without traffic, in which each node asks one routing-table row of a random entry of that row once a " +
      "minute (rows in turn) and measures the nodes named. Table slots holding the nearest node: occupied " +
      "slots whose entry is the nearest ready node that fits them (as the nodes rank peers); excess = mean " +
      "of entry distance / nearest distance (src/sim/measure.ts, tables of up to 2,000 sampled nodes). " +
      "Quiet cost: every message per node per second over those minutes.",
    "",
    "| nodes | proximity tables | minutes | stretch mean: after build -> after | of totals | over ideal (region-scaled) | table slots holding the nearest node | excess | quiet cost msg/node/s | delivered / sent, misdelivered |",
    "| ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const m = r.maintained as NonNullable<BenchResult["maintained"]>;
    const before = r.tableLocality as TableLocality;
    const ideal = r.idealRegionRoutes?.stretch.mean;
    const over = (v: number): string => (ideal === undefined ? "-" : (v / ideal).toFixed(2));
    lines.push(
      `| ${sizeLabel(r)} | ${r.proximityAware ? "yes" : "no"} | ${m.minutes} | ` +
        `${r.routes.stretch.mean.toFixed(2)} -> ${m.routes.stretch.mean.toFixed(2)} | ` +
        `${(r.routes.stretchOfTotals ?? Number.NaN).toFixed(2)} -> ${m.routes.stretchOfTotals.toFixed(2)} | ` +
        `${over(r.routes.stretch.mean)} -> ${over(m.routes.stretch.mean)} | ` +
        `${percent(before.nearestFraction)} -> ${percent(m.tableLocality.nearestFraction)} | ` +
        `${before.meanExcess.toFixed(2)} -> ${m.tableLocality.meanExcess.toFixed(2)} | ` +
        `${m.quietMessagesPerNodePerSecond.toFixed(2)} | ${m.delivered} / ${m.sent}, ${m.misdeliveries} |`,
    );
  }
  return lines;
}

export function renderMarkdown(doc: {
  readonly date: string;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly node: string };
  readonly results: readonly (BenchResult | IncompleteBuild)[];
}): string {
  const complete = doc.results.filter((r): r is BenchResult => r.complete);
  const incomplete = doc.results.filter((r): r is IncompleteBuild => !r.complete);
  const lines = [
    `# Simulation benchmark (${doc.date})`,
    "",
    `Machine: ${doc.machine.cpus} cores (${doc.machine.cpuModel}), Node ${doc.machine.node}. ` +
      "Produced by `make bench-sim` (bench/sim/run.ts); raw figures in the JSON beside this file.",
    "",
    "One overlay per mode grows through the sizes (build time is cumulative, less the time spent measuring " +
      "the smaller sizes). " +
      "Every node joined through the real join protocol. Hops and stretch are over random keys sent from " +
      "random ready nodes after the overlay settled; stretch = sum of per-hop latencies / direct latency. " +
      "Maintenance = every message except `route` and `ack`, per live node per second, while traffic flowed. " +
      "The network is a unit square cut into 2 x 2 regions (latency: 2 ms + 100 ms per unit of distance; " +
      "nodes rank peers of other regions 10x farther)" +
      (doc.results.some((r) => r.topology === "plane")
        ? "; rows marked (plane) ran in the Pastry paper's setting instead: one region, latency proportional " +
          "to distance, no base latency."
        : "."),
    "",
    "| nodes | proximity tables | seeds | mean hops (paper) | hops p50 / p99 / max | log16 N | stretch mean / p50 / p90 (paper) | state entries/node (leaf + table + nbhd) | maintenance msg/node/s | delivered / sent | misdelivered | build wall s (virtual s) | peak RSS MiB / heap MiB |",
    "| ---: | :---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of complete) {
    const paperHops = PAPER_MEAN_HOPS[r.nodes];
    const h = r.routes.hops;
    const s = r.routes.stretch;
    const st = r.state;
    lines.push(
      [
        sizeLabel(r),
        r.proximityAware ? "yes" : "no",
        r.seedSelection,
        `${h.mean.toFixed(2)}${paperHops === undefined ? "" : ` (${paperHops})`}`,
        `${h.p50} / ${h.p99} / ${h.max}`,
        (Math.log(r.nodes) / Math.log(16)).toFixed(2),
        `${s.mean.toFixed(2)} / ${s.p50.toFixed(2)} / ${s.p90.toFixed(2)}${r.proximityAware ? ` (${PAPER_STRETCH})` : ""}`,
        `${st.total.mean.toFixed(1)} (${st.leafSet.mean.toFixed(1)} + ${st.routingTable.mean.toFixed(1)} + ${st.neighbourhood.mean.toFixed(1)})`,
        r.maintenancePerNodePerSecond.toFixed(2),
        `${r.accounting.delivered} / ${r.accounting.sent}`,
        String(r.misdeliveries),
        `${(r.buildWallMs / 1000).toFixed(1)} (${(r.buildVirtualMs / 1000).toFixed(1)})`,
        `${r.peakRssMiB} / ${r.peakHeapUsedMiB}`,
      ]
        .join(" | ")
        .replace(/^/, "| ")
        .replace(/$/, " |"),
    );
  }
  lines.push(...stretchAgainstIdeal(complete));
  lines.push(...afterMaintenance(complete));
  lines.push("", "Hop-count distribution (fraction of delivered messages):", "");
  for (const r of complete) {
    const dist = Object.entries(r.routes.hopHistogram)
      .map(([hops, f]) => `${hops}: ${(f * 100).toFixed(1)} %`)
      .join(", ");
    lines.push(
      `- ${sizeLabel(r)} nodes, proximity ${r.proximityAware ? "on" : "off"}, seeds ${r.seedSelection}: ${dist}`,
    );
  }
  if (incomplete.length > 0) {
    lines.push(
      "",
      "Builds that did not reach their size: stopped by the wall-clock budget, by hand, or by the process dying (how far they got):",
      "",
    );
    for (const r of incomplete) {
      const perNode = Object.entries(r.messagesByType)
        .map(([type, n]) => `${type} ${(n / r.createdNodes).toFixed(1)}`)
        .join(", ");
      lines.push(
        `- target ${sizeLabel(r)} nodes, proximity ${r.proximityAware ? "on" : "off"}: ` +
          `${r.createdNodes.toLocaleString("en-US")} created, ${r.readyNodes.toLocaleString("en-US")} ready after ` +
          `${(r.buildWallMs / 1000).toFixed(0)} s wall (${(r.buildVirtualMs / 1000).toFixed(1)} s virtual), ` +
          `${r.events.toLocaleString("en-US")} events (${((r.buildWallMs * 1000) / r.events).toFixed(1)} µs each), ` +
          `peak RSS ${r.peakRssMiB} MiB` +
          (perNode === "" ? "" : `; messages sent per node: ${perNode}`) +
          (r.note === undefined ? "" : `. ${r.note}`),
      );
    }
  }
  lines.push("", `Routing core measured: ${coresMeasured(doc.results)}.`, "");
  return lines.join("\n");
}

/** Which routing core each row measured: one commit, or each commit with the rows it produced. */
export function coresMeasured(results: readonly (BenchResult | IncompleteBuild)[]): string {
  const rowsByCore = new Map<string, string[]>();
  for (const r of results) {
    const core = r.core.commit + (r.core.dirty ? " (with uncommitted edits)" : "");
    const row = `${sizeLabel(r)} ${r.proximityAware ? "proximity" : "plain"}`;
    rowsByCore.set(core, [...(rowsByCore.get(core) ?? []), row]);
  }
  if (rowsByCore.size === 1) return [...rowsByCore.keys()].join("");
  return [...rowsByCore].map(([core, rows]) => `${core} (${rows.join(", ")})`).join("; ");
}
