// The routing core's simulation results (written by `make bench-sim`, not run here): hops, stretch and
// state size per overlay size, for the report and the hops-per-N plot.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface SimRow {
  readonly nodes: number;
  readonly proximityAware: boolean;
  readonly complete: boolean;
  readonly meanHops: number;
  readonly p99Hops: number;
  readonly meanStretch: number;
  /** Mean stretch of ideal tables ranked as the nodes rank (NaN in results from before it was measured). */
  readonly idealStretch: number;
  readonly stateEntries: number;
  readonly maintenancePerNodePerSecond: number;
}

export interface SimSummary {
  readonly file: string;
  readonly rows: readonly SimRow[];
}

interface SimJson {
  readonly results?: readonly {
    readonly nodes?: number;
    readonly proximityAware?: boolean;
    readonly complete?: boolean;
    /** "plane": measured in the Pastry paper's setting rather than ours (absent: ours). */
    readonly topology?: string;
    readonly maintenancePerNodePerSecond?: number;
    readonly routes?: {
      readonly hops?: { readonly mean?: number; readonly p99?: number };
      readonly stretch?: { readonly mean?: number };
    };
    readonly state?: { readonly total?: { readonly mean?: number } };
    readonly idealRegionRoutes?: { readonly stretch?: { readonly mean?: number } };
  }[];
}

/**
 * sim-latest.json if present, else the newest sim-<date>.json; undefined when there is none. Only the rows
 * measured on our topology (four regions), not those on the paper's plane.
 */
export function readSimResults(resultsDir: string): SimSummary | undefined {
  if (!existsSync(resultsDir)) return undefined;
  const latest = join(resultsDir, "sim-latest.json");
  const dated = readdirSync(resultsDir)
    .filter((f) => /^sim-\d{4}-\d{2}-\d{2}\.json$/.test(f))
    .sort();
  const file = existsSync(latest) ? latest : dated.length > 0 ? join(resultsDir, dated.at(-1)!) : undefined;
  if (file === undefined) return undefined;
  const json = JSON.parse(readFileSync(file, "utf8")) as SimJson;
  // Rows measured on the paper's plane stay in sim-latest.md: this report is about our network.
  const ours = (json.results ?? []).filter((r) => (r.topology ?? "regions") === "regions");
  const rows = ours.map((r) => ({
    nodes: r.nodes ?? Number.NaN,
    proximityAware: r.proximityAware ?? false,
    complete: r.complete ?? false,
    meanHops: r.routes?.hops?.mean ?? Number.NaN,
    p99Hops: r.routes?.hops?.p99 ?? Number.NaN,
    meanStretch: r.routes?.stretch?.mean ?? Number.NaN,
    idealStretch: r.idealRegionRoutes?.stretch?.mean ?? Number.NaN,
    stateEntries: r.state?.total?.mean ?? Number.NaN,
    maintenancePerNodePerSecond: r.maintenancePerNodePerSecond ?? Number.NaN,
  }));
  return { file, rows };
}
