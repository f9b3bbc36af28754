// Which Node.js line runs Wendy best: CPU per routed message, each against the plain gRPC echo baseline of the
// same run (so of the same Node), and what an idle daemon holds in memory on each line, from one
// `bench/run.ts` result file per line. Memory differs far more between lines than between commits, and the
// container image runs the newest line while `make bench` runs the machine's.
//
//   node --import tsx bench/node-lines.ts --out bench/results/node-lines <run.json>...
//
// writes <out>.json and <out>.md. `make bench-node-lines` runs the benchmark under each line and then this.
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { Command } from "commander";
import type { BenchResult, RoutedFigure, UnaryFigure } from "./lib/result.js";

export interface LineRow {
  readonly kind: RoutedFigure["kind"];
  readonly nodes: number;
  /** Set on the multi-hop rows (a small leaf set), which share their node count with a cluster size's rows. */
  readonly leafSetSize?: number;
  readonly payloadBytes: number;
  readonly inFlight: number;
  /** All daemons together, per routed message. */
  readonly daemonCpuMicros: number;
  /** The echo server's CPU per call, same payload and in-flight count, same run. */
  readonly echoServerCpuMicros: number;
  /** daemonCpuMicros / echoServerCpuMicros: what routing a message costs in echo calls. */
  readonly cpuVsEcho: number;
  readonly throughputVsEcho: number;
}

/** A daemon's resident memory in one cluster size, medians over the line's runs. */
export interface LineMemory {
  readonly nodes: number;
  /** The cluster's daemons at rest, on average. */
  readonly idleRssBytes: number;
  /** Largest daemon while the cluster carried traffic. */
  readonly loadRssBytes: number;
  /**
   * When the runs gave each daemon a memory limit (bench/run.ts --memory-limit-mib): the limit, the largest
   * peak charged to a daemon's cgroup in any run, and the OOM kills over all runs.
   */
  readonly limit?: {
    readonly limitBytes: number;
    readonly peakChargedBytes: number;
    readonly oomKills: number;
  };
}

export interface LineSummary {
  readonly node: string;
  /** The runs behind the figures (several runs of one line are combined by medians). */
  readonly runs: readonly {
    commit: string;
    startedAt: string;
    loadAverageAtStart: readonly number[];
    /** This run's own median CPU vs echo: their spread shows how far one run can be trusted. */
    medianCpuVsEcho: number;
  }[];
  readonly rows: readonly LineRow[];
  /** Median of cpuVsEcho over the rows: one figure per line. */
  readonly medianCpuVsEcho: number;
  readonly memory: readonly LineMemory[];
}

/** The rows of one run: each routed figure against the echo of the same payload and in-flight count. */
export function runRows(result: BenchResult): LineRow[] {
  const rows: LineRow[] = [];
  for (const routed of result.routed) {
    const echo: UnaryFigure | undefined = result.baseline.unary.find(
      (u) => u.payloadBytes === routed.payloadBytes && u.inFlight === routed.inFlight,
    );
    if (echo === undefined || !(echo.serverCpuSecondsPerCall > 0)) continue;
    rows.push({
      kind: routed.kind,
      nodes: routed.nodes,
      ...(routed.leafSetSize === undefined ? {} : { leafSetSize: routed.leafSetSize }),
      payloadBytes: routed.payloadBytes,
      inFlight: routed.inFlight,
      daemonCpuMicros: routed.cpuSecondsPerOp * 1e6,
      echoServerCpuMicros: echo.serverCpuSecondsPerCall * 1e6,
      cpuVsEcho: routed.cpuSecondsPerOp / echo.serverCpuSecondsPerCall,
      throughputVsEcho: routed.throughputVsUnary,
    });
  }
  return rows;
}

/** One summary per Node version, in the order first seen; a row's figures are medians over that line's runs. */
export function summariseLines(results: readonly BenchResult[]): LineSummary[] {
  const byNode = new Map<string, BenchResult[]>();
  for (const r of results) byNode.set(r.machine.node, [...(byNode.get(r.machine.node) ?? []), r]);
  return [...byNode].map(([node, runs]) => {
    const all = runs.flatMap(runRows);
    const keys = [...new Set(all.map(rowKey))];
    const rows = keys.map((key): LineRow => {
      const same = all.filter((r) => rowKey(r) === key);
      const first = same[0]!;
      return {
        ...first,
        daemonCpuMicros: median(same.map((r) => r.daemonCpuMicros)),
        echoServerCpuMicros: median(same.map((r) => r.echoServerCpuMicros)),
        cpuVsEcho: median(same.map((r) => r.cpuVsEcho)),
        throughputVsEcho: median(same.map((r) => r.throughputVsEcho)),
      };
    });
    return {
      node,
      runs: runs.map((r) => ({
        commit: r.commit,
        startedAt: r.startedAt,
        loadAverageAtStart: r.machine.loadAverageAtStart,
        medianCpuVsEcho: median(runRows(r).map((row) => row.cpuVsEcho)),
      })),
      rows,
      medianCpuVsEcho: median(rows.map((r) => r.cpuVsEcho)),
      memory: lineMemory(runs),
    };
  });
}

/** Each cluster size's RSS figures over a line's runs (a size some run lacks counts the runs that have it). */
function lineMemory(runs: readonly BenchResult[]): LineMemory[] {
  const sizes = [...new Set(runs.flatMap((r) => r.clusters.map((c) => c.nodes)))].sort((a, b) => a - b);
  return sizes.map((nodes) => {
    const figures = runs.flatMap((r) => r.clusters.filter((c) => c.nodes === nodes));
    const limited = figures.flatMap((c) => (c.memoryLimit === undefined ? [] : [c.memoryLimit]));
    const memory: LineMemory = {
      nodes,
      idleRssBytes: median(figures.map((c) => c.idleRssBytes)),
      loadRssBytes: median(figures.map((c) => c.loadRssBytes)),
    };
    // Only when every run had a limit, and the same one: otherwise the RSS medians mix two conditions.
    const limitBytes = limited[0]?.limitBytes;
    if (limitBytes === undefined || limited.length !== figures.length) return memory;
    if (limited.some((m) => m.limitBytes !== limitBytes)) return memory;
    return {
      ...memory,
      limit: {
        limitBytes,
        peakChargedBytes: Math.max(...limited.map((m) => m.peakChargedBytes)),
        oomKills: limited.reduce((sum, m) => sum + m.oomKills, 0),
      },
    };
  });
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const rowKey = (r: LineRow): string =>
  `${r.kind} ${r.nodes} nodes${r.leafSetSize === undefined ? "" : ` (leaf set ${r.leafSetSize})`}, ` +
  `${bytes(r.payloadBytes)} x${r.inFlight}`;

export function renderLines(lines: readonly LineSummary[], sources: readonly string[]): string {
  const out: string[] = [];
  const line = (text = ""): void => void out.push(text);
  line("# Wendy on each Node.js line: CPU per routed message against the echo baseline of the same Node");
  line();
  line(
    "Each column is one `bench/run.ts` run under that Node (daemons, echo server and harness all on it). " +
      "A cell is the daemons' CPU per routed message (all daemons together) divided by the echo server's CPU " +
      "per unary call with the same payload and in-flight count, measured in the same run: how many echo calls " +
      "one routed message costs. Lower is better; the ratio, not the microseconds, compares lines, since the " +
      "runs did not share the machine's load. A line measured more than once shows medians over its runs, and " +
      "each run's own median is listed at the end: their spread is the noise of this comparison. " +
      "Source runs: " +
      sources.map((s) => `\`${s}\``).join(", ") +
      ".",
  );
  line();
  line(`| | ${lines.map((l) => `Node ${l.node}`).join(" | ")} |`);
  line(`| --- |${lines.map(() => " ---: |").join("")}`);
  line(`| **median CPU vs echo** |${lines.map((l) => ` **${l.medianCpuVsEcho.toFixed(2)}x** |`).join("")}`);
  const keys = [...new Set(lines.flatMap((l) => l.rows.map(rowKey)))];
  for (const key of keys) {
    const cells = lines.map((l) => {
      const r = l.rows.find((x) => rowKey(x) === key);
      return r === undefined
        ? " - |"
        : ` ${r.cpuVsEcho.toFixed(2)}x (${n0(r.daemonCpuMicros)} / ${n0(r.echoServerCpuMicros)} µs) |`;
    });
    line(`| ${key} |${cells.join("")}`);
  }
  line();
  line("Throughput of routed messages against the paired echo (same run), for reference:");
  line();
  line(`| | ${lines.map((l) => `Node ${l.node}`).join(" | ")} |`);
  line(`| --- |${lines.map(() => " ---: |").join("")}`);
  for (const key of keys) {
    const cells = lines.map((l) => {
      const r = l.rows.find((x) => rowKey(x) === key);
      return r === undefined ? " - |" : ` ${r.throughputVsEcho.toFixed(2)}x |`;
    });
    line(`| ${key} |${cells.join("")}`);
  }
  line();
  line(
    "Resident memory of one daemon (MiB): idle is the mean over the cluster's daemons at rest, load the " +
      "largest daemon while the cluster carried traffic. Much of it is the node binary's own pages (shared between the processes of a " +
      "host), which grow with the line.",
  );
  line();
  line(`| | ${lines.map((l) => `Node ${l.node}`).join(" | ")} |`);
  line(`| --- |${lines.map(() => " ---: |").join("")}`);
  const sizes = [...new Set(lines.flatMap((l) => l.memory.map((m) => m.nodes)))].sort((a, b) => a - b);
  for (const nodes of sizes) {
    const cells = lines.map((l) => {
      const m = l.memory.find((x) => x.nodes === nodes);
      return m === undefined ? " - |" : ` ${mib(m.idleRssBytes)} idle, ${mib(m.loadRssBytes)} load |`;
    });
    line(`| ${nodes} nodes |${cells.join("")}`);
    if (lines.some((l) => l.memory.find((x) => x.nodes === nodes)?.limit !== undefined)) {
      const limited = lines.map((l) => {
        const limit = l.memory.find((x) => x.nodes === nodes)?.limit;
        return limit === undefined
          ? " no limit |"
          : ` limit ${mib(limit.limitBytes)}: peak charged ${mib(limit.peakChargedBytes)}, ${limit.oomKills} OOM kills |`;
      });
      line(`| ${nodes} nodes, each daemon in a memory cgroup |${limited.join("")}`);
    }
  }
  line();
  if (lines.some((l) => l.memory.some((m) => m.limit !== undefined)))
    line(
      "With a memory limit, each daemon ran in a cgroup of its own with that limit from its start, as in a pod " +
        "(the chart's limit): Node sizes its heap for it. The peak charged is the cgroup's own count (anonymous " +
        "memory and the page cache it brought in; the node binary's pages are charged to whichever process " +
        "touched them first), an OOM kill is the kernel killing a daemon at the limit.\n",
    );
  line("| run | commit | started | load average (1 / 5 / 15 min) at start | median CPU vs echo |");
  line("| --- | --- | --- | --- | ---: |");
  for (const l of lines)
    for (const run of l.runs)
      line(
        `| Node ${l.node} | ${run.commit} | ${run.startedAt} | ${run.loadAverageAtStart.map((x) => x.toFixed(1)).join(" / ")} | ${run.medianCpuVsEcho.toFixed(2)}x |`,
      );
  line();
  return out.join("\n");
}

const n0 = (x: number): string => Math.round(x).toLocaleString("en-US");
const mib = (b: number): string => (b / (1024 * 1024)).toFixed(1);
const bytes = (b: number): string => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

function main(argv: readonly string[]): void {
  const program = new Command("node-lines")
    .description("compare bench/run.ts results of several Node.js lines")
    .requiredOption("--out <path>", "output path without extension (writes .json and .md)")
    .argument("<results...>", "bench/run.ts result files, one per Node.js line");
  program.parse([...argv]);
  const out = program.opts<{ out: string }>().out;
  const files = program.args;
  const lines = summariseLines(files.map((f) => JSON.parse(readFileSync(f, "utf8")) as BenchResult));
  const sources = files.map((f) => basename(f));
  writeFileSync(`${out}.json`, JSON.stringify({ lines }, null, 2) + "\n");
  writeFileSync(`${out}.md`, renderLines(lines, sources));
  process.stdout.write(`wrote ${out}.json and ${out}.md\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv);
