// bench/node-lines.ts: CPU per routed message against the echo of the same run, per Node.js line.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BenchResult } from "../../bench/lib/result.js";
import { parse } from "yaml";
import { renderLines, summariseLines } from "../../bench/node-lines.js";

const RESULTS = join(import.meta.dirname, "../../bench/results");
const LAST_RUN = readdirSync(RESULTS)
  .filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f))
  .sort()
  .at(-1)!;
const committed = JSON.parse(readFileSync(join(RESULTS, LAST_RUN), "utf8")) as BenchResult;

/** The committed run as if measured on `node`, with the daemons' CPU per message scaled by `cpuFactor`. */
function runOn(node: string, cpuFactor: number): BenchResult {
  return {
    ...committed,
    machine: { ...committed.machine, node },
    routed: committed.routed.map((r) => ({ ...r, cpuSecondsPerOp: r.cpuSecondsPerOp * cpuFactor })),
  };
}

describe("bench/node-lines.ts", () => {
  it("divides the daemons' CPU per routed message by the echo server's CPU per call of the same payload and in-flight count", () => {
    const [line] = summariseLines([runOn("v26.0.0", 1)]);
    const send = committed.routed.find((r) => r.kind === "send" && r.nodes === 8 && r.inFlight === 64)!;
    const echo = committed.baseline.unary.find(
      (u) => u.payloadBytes === send.payloadBytes && u.inFlight === 64,
    )!;
    const row = line!.rows.find(
      (r) => r.kind === "send" && r.nodes === 8 && r.inFlight === 64 && r.payloadBytes === send.payloadBytes,
    )!;
    expect(row.cpuVsEcho).toBeCloseTo(send.cpuSecondsPerOp / echo.serverCpuSecondsPerCall, 9);
    expect(line!.rows).toHaveLength(committed.routed.length);
  });

  it("gives one column per Node version, with medians over that version's runs", () => {
    const lines = summariseLines([
      runOn("v24.1.0", 1),
      runOn("v26.0.0", 2),
      runOn("v24.1.0", 3),
      runOn("v24.1.0", 5),
    ]);
    expect(lines.map((l) => l.node)).toEqual(["v24.1.0", "v26.0.0"]);
    expect(lines[0]!.runs).toHaveLength(3);
    // The median of factors 1, 3 and 5 is 3: the v24 ratios are three times the committed run's.
    const base = summariseLines([runOn("v20", 1)])[0]!;
    expect(lines[0]!.medianCpuVsEcho).toBeCloseTo(base.medianCpuVsEcho * 3, 9);
    expect(lines[1]!.medianCpuVsEcho).toBeCloseTo(base.medianCpuVsEcho * 2, 9);
    const md = renderLines(lines, ["a.json"]);
    expect(md).toContain("| | Node v24.1.0 | Node v26.0.0 |");
    expect(md).toContain(`**${lines[1]!.medianCpuVsEcho.toFixed(2)}x**`);
  });

  it("gives each line's daemon memory per cluster size as medians over its runs, and renders it in MiB", () => {
    const MIB = 1024 * 1024;
    const withRss = (node: string, idleMiB: number, loadMiB: number): BenchResult => ({
      ...runOn(node, 1),
      clusters: [
        { ...committed.clusters[0]!, nodes: 8, idleRssBytes: idleMiB * MIB, loadRssBytes: loadMiB * MIB },
      ],
    });
    const lines = summariseLines([
      withRss("v20.1.0", 64, 80),
      withRss("v26.0.0", 90, 120),
      withRss("v26.0.0", 100, 110),
      withRss("v26.0.0", 96, 130),
    ]);
    expect(lines[0]!.memory).toEqual([{ nodes: 8, idleRssBytes: 64 * MIB, loadRssBytes: 80 * MIB }]);
    expect(lines[1]!.memory).toEqual([{ nodes: 8, idleRssBytes: 96 * MIB, loadRssBytes: 120 * MIB }]);
    expect(renderLines(lines, ["a.json"])).toContain(
      "| 8 nodes | 64.0 idle, 80.0 load | 96.0 idle, 120.0 load |",
    );
  });

  it("reports a memory limit only when every run of a line had the same one: its largest peak charged and the OOM kills summed", () => {
    const MIB = 1024 * 1024;
    const limited = (node: string, peakMiB: number, oomKills: number, limitMiB = 256): BenchResult => ({
      ...runOn(node, 1),
      clusters: [
        {
          ...committed.clusters[0]!,
          nodes: 8,
          idleRssBytes: 90 * MIB,
          loadRssBytes: 120 * MIB,
          memoryLimit: { limitBytes: limitMiB * MIB, daemons: 10, peakChargedBytes: peakMiB * MIB, oomKills },
        },
      ],
    });
    const unlimited: BenchResult = {
      ...runOn("v22.0.0", 1),
      clusters: [{ ...committed.clusters[0]!, nodes: 8, idleRssBytes: 80 * MIB, loadRssBytes: 100 * MIB }],
    };
    const lines = summariseLines([
      limited("v24.0.0", 70, 0),
      limited("v24.0.0", 76, 1),
      limited("v26.0.0", 70, 0),
      limited("v26.0.0", 70, 0, 512),
      unlimited,
    ]);
    const byNode = (node: string) => lines.find((l) => l.node === node)!.memory[0]!;
    expect(byNode("v24.0.0").limit).toEqual({
      limitBytes: 256 * MIB,
      peakChargedBytes: 76 * MIB,
      oomKills: 1,
    });
    expect(byNode("v26.0.0").limit).toBeUndefined();
    expect(byNode("v22.0.0").limit).toBeUndefined();
    expect(renderLines(lines, ["a.json"])).toContain(
      "| 8 nodes, each daemon in a memory cgroup | limit 256.0: peak charged 76.0, 1 OOM kills | no limit | no limit |",
    );
  });

  it("runs make bench-node-lines under the chart's memory limit (POD_MEMORY_LIMIT_MIB equals resources.limits.memory)", () => {
    const root = join(import.meta.dirname, "../..");
    const makefile = readFileSync(join(root, "Makefile"), "utf8");
    const values = parse(readFileSync(join(root, "deploy/helm/wendy/values.yaml"), "utf8")) as {
      resources: { limits: { memory: string } };
    };
    const chartMiB = /^(\d+)Mi$/.exec(values.resources.limits.memory)?.[1];
    expect(chartMiB).toBeDefined();
    expect(/^POD_MEMORY_LIMIT_MIB = (\d+)$/m.exec(makefile)?.[1]).toBe(chartMiB);
    expect(makefile).toContain("--memory-limit-mib $(POD_MEMORY_LIMIT_MIB)");
  });
});
