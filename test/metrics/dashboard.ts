// Reads the chart's Grafana dashboard: its PromQL queries and the metric names they use.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/node-processes.js";

interface Target {
  readonly expr?: string;
}
interface Panel {
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Dashboard {
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly { readonly query?: unknown }[] };
}

export const DASHBOARD_FILE = join(REPO_ROOT, "deploy/helm/wendy/files/dashboard.json");

/** Every PromQL expression of every panel (rows' nested panels included). */
export function dashboardQueries(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
  const walk = (panels: readonly Panel[]): string[] =>
    panels.flatMap((p) => [
      ...(p.targets ?? []).flatMap((t) => (t.expr === undefined ? [] : [t.expr])),
      ...walk(p.panels ?? []),
    ]);
  return walk(dashboard.panels);
}

/** The metric names of the templating queries, e.g. label_values(wendy_build_info, namespace). */
export function templatingMetrics(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as Dashboard;
  return dashboard.templating.list.flatMap((v) => {
    const query =
      typeof v.query === "object" && v.query !== null ? (v.query as { query?: string }).query : undefined;
    const match = /label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(query ?? "");
    return match === null ? [] : [match[1]!];
  });
}

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
]);

/**
 * The metric names a PromQL expression selects: identifiers that are not functions (followed by "("),
 * keywords, or label names inside {...} and by/without/on/ignoring (...) lists.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const name = match[0];
    const after = stripped.slice((match.index ?? 0) + name.length).trimStart();
    if (after.startsWith("(") || KEYWORDS.has(name)) continue;
    names.add(name);
  }
  return [...names];
}

/** Grafana's variables replaced by values Prometheus accepts, to run a panel's query as it would. */
export function withVariables(expr: string): string {
  return expr.replaceAll("$__rate_interval", "1m").replaceAll("$namespace", ".*").replaceAll("$job", ".*");
}
