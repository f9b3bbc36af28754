// prom-client's default process/runtime metrics, registered so that `promtool check metrics` passes.
//
// prom-client 15.1.3 exposes three gauges whose names end in "_total", which Prometheus reserves for
// counters (promtool: `non-counter metrics should not have "_total" suffix`):
//   nodejs_active_handles_total, nodejs_active_requests_total, nodejs_active_resources_total
// (each the overall count beside a per-type gauge of the same stem). Every other default metric passes.
// Rather than drop them, each offending gauge is re-registered under a lint-clean name ending "_all" whose
// collect() reads the original, so the values are identical and nothing is lost.
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";

const RESERVED_COUNTER_SUFFIX = "_total";
const RENAMED_SUFFIX = "_all";

/** Lint-clean name for a gauge whose name ends with the counter suffix "_total". */
export function lintCleanGaugeName(name: string): string {
  return name.endsWith(RESERVED_COUNTER_SUFFIX)
    ? name.slice(0, -RESERVED_COUNTER_SUFFIX.length) + RENAMED_SUFFIX
    : name;
}

/**
 * Registers prom-client's default metrics (prefixed) into `registry`, then renames the gauges that violate
 * the "_total is for counters" rule. Returns the renames applied, old name -> new name.
 */
export function registerProcessMetrics(registry: Registry, prefix: string): Map<string, string> {
  const before = new Set(registry.getMetricsAsArray().map((m) => m.name));
  collectDefaultMetrics({ register: registry, prefix });
  const renamed = new Map<string, string>();
  for (const { name } of registry.getMetricsAsArray()) {
    if (before.has(name)) continue;
    const metric = registry.getSingleMetric(name);
    if (!(metric instanceof Gauge)) continue;
    const cleanName = lintCleanGaugeName(name);
    if (cleanName === name) continue;
    exposeGaugeAs(registry, metric, name, cleanName);
    renamed.set(name, cleanName);
  }
  return renamed;
}

/** Replaces `original` in the registry with a gauge named `newName` mirroring its values at each scrape. */
function exposeGaugeAs(registry: Registry, original: Gauge, oldName: string, newName: string): void {
  const help = registry.getMetricsAsArray().find((m) => m.name === oldName)?.help ?? newName;
  registry.removeSingleMetric(oldName);
  new Gauge({
    name: newName,
    help,
    registers: [registry],
    async collect() {
      // get() runs the original's own collect(), so the mirrored values are fresh.
      const snapshot = await original.get();
      this.reset();
      for (const { labels, value } of snapshot.values) this.set(labels, value);
    },
  });
}
