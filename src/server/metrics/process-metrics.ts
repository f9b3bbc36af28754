// prom-client's default process/runtime metrics under their standard, unprefixed names (process_*, nodejs_*),
// so stock Node.js dashboards and alerts on process_start_time_seconds find them; registered so that
// `promtool check metrics` passes. Their values are read at scrape time by prom-client's collect() callbacks
// (the event-loop delay histogram and GC durations are sampled as they happen: there is nothing to read later).
//
// The event-loop delay histogram samples with a timer of its own (monitorEventLoopDelay). At prom-client's
// default resolution of 10 ms that timer wakes an idle daemon 100 times a second, about 0.4 % of a core and
// more than everything else an idle daemon does together. Sampled every 500 ms, it still records every stall
// of 500 ms or more in full (a fifth of the default failure timeout, the stalls that threaten failure
// detection), and shorter ones in proportion to their length.
//
// prom-client 15.1.3 exposes three gauges whose names end in "_total", which Prometheus reserves for
// counters (promtool: `non-counter metrics should not have "_total" suffix`):
//   nodejs_active_handles_total, nodejs_active_requests_total, nodejs_active_resources_total
// (each the overall count beside a per-type gauge of the same stem). Every other default metric passes and keeps
// its standard name.
// Rather than drop them, each offending gauge is re-registered under a lint-clean name ending "_all" whose
// collect() reads the original, so the values are identical and nothing is lost.
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";

const RESERVED_COUNTER_SUFFIX = "_total";
/** How often the event-loop delay histogram samples the loop (see above). */
export const EVENT_LOOP_SAMPLE_MS = 500;
const RENAMED_SUFFIX = "_all";

/** Lint-clean name for a gauge whose name ends with the counter suffix "_total". */
export function lintCleanGaugeName(name: string): string {
  return name.endsWith(RESERVED_COUNTER_SUFFIX)
    ? name.slice(0, -RESERVED_COUNTER_SUFFIX.length) + RENAMED_SUFFIX
    : name;
}

/**
 * Registers prom-client's default metrics (standard names, no prefix) into `registry`, then renames the gauges that violate
 * the "_total is for counters" rule. Returns the renames applied, old name -> new name.
 */
export function registerProcessMetrics(registry: Registry): Map<string, string> {
  const before = new Set(registry.getMetricsAsArray().map((m) => m.name));
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
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
