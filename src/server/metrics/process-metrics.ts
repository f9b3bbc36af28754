// prom-client's default process/runtime metrics under their standard, unprefixed names (process_*, nodejs_*),
// so stock Node.js dashboards and alerts on process_start_time_seconds find them; registered so that
// `promtool check metrics` passes. Their values are read at scrape time by prom-client's collect() callbacks
// (the event-loop delay histogram and GC durations are sampled as they happen: there is nothing to read later).
//
// The event-loop delay histogram samples with a timer of its own (monitorEventLoopDelay). At prom-client's
// default resolution of 10 ms that timer wakes an idle daemon 100 times a second, about 0.4 % of a core and
// more than everything else an idle daemon does together. Sampled every 1000 ms, it still records every stall
// of 1 s or more in full (a fifth of the default failure timeout of 5 s, the stalls that threaten failure
// detection), and shorter ones in proportion to their length. Each sample is a wake-up of an otherwise idle
// process (about 50 us of CPU on the benchmark machine): at 500 ms they were two of an idle daemon's four or
// five wake-ups a second, more than its ticks or its heartbeats.
//
// prom-client 15.1.3 exposes three gauges whose names end in "_total", which Prometheus reserves for
// counters (promtool: `non-counter metrics should not have "_total" suffix`):
//   nodejs_active_handles_total, nodejs_active_requests_total, nodejs_active_resources_total
// (each the overall count beside a per-type gauge of the same stem). Every other default metric passes and keeps
// its standard name.
// Rather than drop them, each offending gauge is re-registered under a lint-clean name ending "_all" whose
// collect() reads the original, so the values are identical and nothing is lost.
//
// The default metrics are registered one file of prom-client's each (see prom-client.ts), not through
// collectDefaultMetrics, which loads @opentelemetry/api for the exemplars of its CPU counters: the three
// process_cpu_* counters are registered here instead, under the same names and HELP.
import { createRequire } from "node:module";
import { Counter, Gauge, type Registry } from "./prom-client.js";

const RESERVED_COUNTER_SUFFIX = "_total";
/** How often the event-loop delay histogram samples the loop (see above). */
export const EVENT_LOOP_SAMPLE_MS = 1000;
const RENAMED_SUFFIX = "_all";

/** prom-client's default metrics but its CPU counters, by file under prom-client/lib/metrics. */
const DEFAULT_METRIC_FILES = [
  "processStartTime",
  "osMemoryHeap",
  "processOpenFileDescriptors",
  "processMaxFileDescriptors",
  "eventLoopLag",
  "processResources",
  "processHandles",
  "processRequests",
  "heapSizeAndUsed",
  "heapSpacesSizeAndUsed",
  "version",
  "gc",
];

interface DefaultMetricConfig {
  readonly eventLoopMonitoringPrecision: number;
}
type RegisterDefaultMetric = (registry: Registry, config: DefaultMetricConfig) => void;

const load = createRequire(import.meta.url);

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
  registerCpuCounters(registry);
  for (const file of DEFAULT_METRIC_FILES) {
    const register = load(`prom-client/lib/metrics/${file}`) as RegisterDefaultMetric;
    register(registry, { eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }
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

/** process_cpu_user_seconds_total, process_cpu_system_seconds_total and their sum, as prom-client has them. */
function registerCpuCounters(registry: Registry): void {
  let last = process.cpuUsage();
  const counter = (name: string, help: string, collect?: () => void): Counter =>
    new Counter({ name, help, registers: [registry], ...(collect === undefined ? {} : { collect }) });
  // One collect() sets all three from the same reading.
  const user = counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", () => {
    const now = process.cpuUsage();
    const userSeconds = (now.user - last.user) / 1e6;
    const systemSeconds = (now.system - last.system) / 1e6;
    last = now;
    user.inc(userSeconds);
    system.inc(systemSeconds);
    total.inc(userSeconds + systemSeconds);
  });
  const system = counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.");
  const total = counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
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
