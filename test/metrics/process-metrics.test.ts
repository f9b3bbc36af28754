import { describe, expect, it } from "vitest";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import {
  EVENT_LOOP_SAMPLE_MS,
  lintCleanGaugeName,
  registerProcessMetrics,
} from "../../src/server/metrics/process-metrics.js";
import { samplesOf } from "./scrape.js";

describe("process metrics", () => {
  it("rename only gauges that end in _total", () => {
    expect(lintCleanGaugeName("nodejs_active_handles_total")).toBe("nodejs_active_handles_all");
    expect(lintCleanGaugeName("nodejs_heap_size_total_bytes")).toBe("nodejs_heap_size_total_bytes");
  });

  it("expose no gauge named *_total, keeping each renamed one", async () => {
    const registry = new Registry();
    const renamed = registerProcessMetrics(registry);
    expect([...renamed.values()].sort()).toEqual([
      "nodejs_active_handles_all",
      "nodejs_active_requests_all",
      "nodejs_active_resources_all",
    ]);
    const names = registry.getMetricsAsArray().map((m) => m.name);
    for (const name of names) {
      if (registry.getSingleMetric(name) instanceof Gauge) expect(name).not.toMatch(/_total$/);
    }
    for (const [oldName, newName] of renamed) {
      expect(names).not.toContain(oldName);
      expect(names).toContain(newName);
    }
    expect(names).toContain("process_cpu_seconds_total");
  });

  it("register every one of prom-client's default metrics, with its HELP and TYPE, under its name or the rename", async () => {
    const registry = new Registry();
    const renamed = registerProcessMetrics(registry);
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
    const shape = async (r: Registry, rename: (name: string) => string): Promise<string[]> =>
      (await r.getMetricsAsJSON()).map((m) => `${rename(m.name)} ${m.type} ${m.help}`).sort();
    expect(await shape(registry, (name) => name)).toEqual(
      await shape(defaults, (name) => renamed.get(name) ?? name),
    );
  });

  it("count this process's CPU time in process_cpu_seconds_total, the sum of user and system", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const until = performance.now() + 50;
    while (performance.now() < until) {
      // Busy: CPU time to count.
    }
    const json = await registry.getMetricsAsJSON();
    const value = (name: string): number => json.find((m) => m.name === name)?.values[0]?.value ?? NaN;
    expect(value("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value("process_cpu_seconds_total")).toBeCloseTo(
      value("process_cpu_user_seconds_total") + value("process_cpu_system_seconds_total"),
      9,
    );
  });

  it("give the renamed gauges the original values: the sum of the per-type gauge", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    // One scrape: every collect() runs in the same tick, so both views describe the same moment.
    const json = await registry.getMetricsAsJSON();
    const byName = new Map(json.map((m) => [m.name, m.values]));
    for (const stem of ["nodejs_active_handles", "nodejs_active_resources", "nodejs_active_requests"]) {
      const perType = byName.get(stem) ?? [];
      const all = byName.get(`${stem}_all`) ?? [];
      expect(all.length, stem).toBe(1);
      expect(all[0]?.value, stem).toBe(perType.reduce((sum, s) => sum + s.value, 0));
    }
    // A live process always holds handles and resources (this test's own timers and streams, at least).
    for (const stem of ["nodejs_active_handles", "nodejs_active_resources"])
      expect(byName.get(`${stem}_all`)?.[0]?.value, stem).toBeGreaterThan(0);
    expect((await samplesOf(registry, "process_start_time_seconds")).length).toBe(1);
  });

  it("record an event-loop stall longer than the delay histogram's sampling period", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    await registry.getMetricsAsJSON(); // resets the histogram: only the stall below counts
    const stallMs = EVENT_LOOP_SAMPLE_MS + 300;
    const until = performance.now() + stallMs;
    while (performance.now() < until) {
      // Busy: the event loop is blocked, as by a long synchronous task.
    }
    // The sampling timer fires late once the loop is free again; give it one more period to run.
    await new Promise((resolve) => setTimeout(resolve, EVENT_LOOP_SAMPLE_MS + 100));
    // A whole scrape: the lag gauges are all set by one collect() (nodejs_eventloop_lag_seconds's).
    const json = await registry.getMetricsAsJSON();
    const max = json.find((m) => m.name === "nodejs_eventloop_lag_max_seconds")?.values[0]?.value;
    expect(max).toBeGreaterThanOrEqual(0.2);
  });
});
