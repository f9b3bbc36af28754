// The simulation benchmark end to end at a toy size: every figure it reports is produced, including the
// second measurement after quiet minutes of table maintenance, and the report renders them.
import { describe, expect, it } from "vitest";
import {
  runBenchmark,
  type BenchResult,
  type IncompleteBuild,
  type Topology,
} from "../../bench/sim/benchmark.js";
import { renderMarkdown } from "../../bench/sim/report.js";

function run(maintainedMaxNodes: number, sizes = [80], topology: Topology = "regions"): BenchResult {
  const results: (BenchResult | IncompleteBuild)[] = [];
  runBenchmark({
    core: { commit: "test", dirty: false },
    sizes,
    proximityAware: true,
    seedSelection: "nearest",
    topology,
    messages: 200,
    seed: 5,
    wallBudgetMs: 120_000,
    maintainedMinutes: 2,
    maintainedMaxNodes,
    log: () => {},
    onResult: (r) => results.push(r),
  });
  expect(results).toHaveLength(sizes.length);
  const result = results.at(-1);
  if (result?.complete !== true) throw new Error("the build did not complete");
  return result;
}

describe("bench-sim at a toy size", () => {
  it("measures the overlay after the build and again after quiet minutes of maintenance", () => {
    const r = run(100);
    expect(r.readyNodes).toBe(80);
    expect(r.accounting).toMatchObject({ sent: 200, delivered: 200 });
    expect(r.misdeliveries).toBe(0);
    expect(r.tableLocality.slots).toBeGreaterThan(0);
    const m = r.maintained;
    expect(m).toBeDefined();
    expect(m).toMatchObject({ minutes: 2, sent: 200, delivered: 200, misdeliveries: 0 });
    expect(m!.routes.stretch.count).toBeGreaterThan(150);
    // Quiet, the overlay still heartbeats and asks for rows: a cost above zero, and table rows among it
    // (heartbeats every 2.5 s to the neighbours that need them come to about 0.4 a node a second alone).
    expect(m!.quietMessagesPerNodePerSecond).toBeGreaterThan(0.2);
    expect(m!.quietByType.rowRequest).toBeGreaterThan(0);
    expect(m!.tableLocality.nearestFraction).toBeGreaterThanOrEqual(r.tableLocality.nearestFraction);

    const markdown = renderMarkdown({
      date: "2026-01-01",
      machine: { cpus: 2, cpuModel: "test", node: "v20" },
      results: [r],
    });
    expect(markdown).toContain("Tables after maintenance");
    expect(markdown).toMatch(/\| 80 \| yes \| 2 \| \d\.\d\d -> \d\.\d\d \|/);
  });

  it("counts only growing in a larger size's virtual build time, not measuring the smaller one", () => {
    const r = run(50, [40, 80]);
    expect(r.maintained).toBeUndefined();
    // The 40-node overlay spent 2 virtual minutes quiet, and more routing its traffic, before growing on.
    expect(r.buildVirtualMs).toBeLessThan(60_000);
  });

  it("runs on the paper's plane: one region, so ranking by region changes nothing", () => {
    const r = run(50, [80], "plane");
    expect(r.topology).toBe("plane");
    expect(r.idealRegionRoutes).toEqual(r.idealRoutes);
    const regions = run(50, [80]);
    expect(regions.idealRegionRoutes).not.toEqual(regions.idealRoutes);
    const markdown = renderMarkdown({
      date: "2026-01-01",
      machine: { cpus: 2, cpuModel: "test", node: "v20" },
      results: [regions, r],
    });
    expect(markdown).toContain("| 80 (plane) | yes |");
    expect(markdown).toContain("| 80 | yes |");
  });

  it("skips the second measurement above the size limit", () => {
    const r = run(50);
    expect(r.maintained).toBeUndefined();
    expect(
      renderMarkdown({
        date: "2026-01-01",
        machine: { cpus: 2, cpuModel: "test", node: "v20" },
        results: [r],
      }),
    ).not.toContain("Tables after maintenance");
  });
});
