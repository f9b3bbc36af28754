// The README's metrics table names every metric a node registers, and nothing it does not.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import { REPO_ROOT } from "../helpers/node-processes.js";

function metricsSection(): string {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## Metrics\n");
  const end = readme.indexOf("\n## ", start + 1);
  if (start < 0) throw new Error("README has no ## Metrics section");
  return readme.slice(start, end < 0 ? undefined : end);
}

describe("README metrics table", () => {
  it("lists every wendy_* metric a node registers, and no wendy_* metric that does not exist", () => {
    const registered = new WendyMetrics({ nodeId: "00".repeat(16), version: "0" }).registry
      .getMetricsAsArray()
      .map((m) => m.name);
    const section = metricsSection();
    const documented = new Set([...section.matchAll(/`(wendy_[a-z_]+)`/g)].map((m) => m[1]!));
    const ours = registered.filter((name) => name.startsWith("wendy_"));
    expect(ours.filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !ours.includes(name))).toEqual([]);
    // The renamed runtime gauges are explained there too.
    for (const name of registered.filter((n) => n.endsWith("_all"))) expect(section).toContain(`\`${name}\``);
  });
});
