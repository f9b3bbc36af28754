// What an idle cluster costs: `node --import tsx bench/idle.ts [--nodes 8] [--seconds 30] [--kills 1]`.
// Starts real daemons (the compiled HEAD, as `make bench` does), lets them settle (45 s from the last join, as
// `make bench` does; --settle), then watches them with no traffic: each daemon's CPU time from /proc as a
// share of one core, its RSS, and the maintenance RPCs per node per second; then optionally SIGKILLs nodes and times the survivors' leaf-set repair. A quicker loop
// than `make bench` for work on idle cost; the same figures appear in `make bench`.
import { Command } from "commander";
import { BenchCluster, SOURCE_RUNTIME, type DaemonRuntime } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { sleep } from "./lib/load.js";
import { FULL_SETTINGS, idleSettleMs } from "./lib/settings.js";
import { memoryParts } from "./lib/proc.js";
import { median } from "./lib/stats.js";
import { idleFigures, timeFailure } from "./scenarios/membership.js";
import { Traffic } from "./scenarios/traffic.js";
import { runMain } from "./lib/run-main.js";

/** Lets joins and leaf-set pushes settle before a repeated kill. */
const SETTLE_MS = 3000;
const MIB = 1024 * 1024;

interface IdleOptions {
  nodes: number;
  seconds: number;
  kills: number;
  hold: number;
  settle: number;
  nodeOptions?: string;
  env: string[];
  source?: boolean;
  rev: string;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-idle")
    .option("--nodes <n>", "cluster size", Number, 8)
    .option("--seconds <n>", "idle window in seconds", Number, 30)
    .option("--kills <n>", "SIGKILLs timed after the idle window (the size restored between)", Number, 0)
    .option(
      "--settle <n>",
      "seconds from the last join to the idle window (as in `make bench`)",
      Number,
      idleSettleMs(FULL_SETTINGS) / 1000,
    )
    .option(
      "--hold <n>",
      "seconds to keep the settled cluster up before measuring (to attach tools)",
      Number,
      0,
    )
    .option("--node-options <flags>", "NODE_OPTIONS for every daemon (e.g. --import a preload)")
    .option(
      "--env <NAME=value>",
      "an environment variable for every daemon (repeatable), e.g. WENDY_HEARTBEAT_INTERVAL_MS=2500",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--rev <revision>", "the commit whose daemon is built (default HEAD)", "HEAD")
    .option(
      "--source",
      "run the working tree through bin/wendy.js (its build if current, else tsx) instead of the compiled HEAD",
    )
    .parse([...argv])
    .opts<IdleOptions>();
  let runtime: DaemonRuntime = SOURCE_RUNTIME;
  let build = "the working tree through bin/wendy.js";
  if (o.source !== true) {
    const compiled = buildCompiledDaemon(o.rev);
    runtime = { name: "compiled", entry: compiled.entry };
    build = `commit ${compiled.commit} compiled${compiled.bundled ? " and bundled" : ""}`;
  }
  const cluster = new BenchCluster(`i${o.nodes}`, runtime, {
    ...Object.fromEntries(
      o.env.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
    ),
    ...(o.nodeOptions === undefined ? {} : { NODE_OPTIONS: o.nodeOptions }),
  });
  const traffic = new Traffic(cluster);
  const out = (line: string): boolean => process.stdout.write(line + "\n");
  try {
    const started = performance.now();
    await cluster.grow(o.nodes, 1);
    out(`${o.nodes} daemons (${build}) ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await sleep(Math.max(0, cluster.changedAt + o.settle * 1000 - performance.now()));
    if (o.hold > 0) {
      out(`holding ${o.hold} s; pids: ${cluster.nodes.map((n) => n.pid).join(" ")}`);
      await sleep(o.hold * 1000);
    }
    const idle = await idleFigures(cluster, o.seconds * 1000);
    const parts = cluster.nodes.map((n) => memoryParts(n.pid));
    const rss = parts.map((p) => p.rssBytes / MIB);
    const cpu = idle.cpuPercent;
    out(
      `idle ${o.seconds} s: CPU per daemon median ${median([...cpu]).toFixed(3)} % of a core ` +
        `(min ${Math.min(...cpu).toFixed(3)}, max ${Math.max(...cpu).toFixed(3)}); ` +
        `RSS median ${median(rss).toFixed(1)} MiB (max ${Math.max(...rss).toFixed(1)}; of it the Node.js ` +
        `executable's pages ${median(parts.map((p) => p.executableBytes / MIB)).toFixed(1)}, anonymous ` +
        `${median(parts.map((p) => p.anonymousBytes / MIB)).toFixed(1)}); ` +
        `maintenance ${idle.maintenancePerNodePerSecond.toFixed(3)} msgs/node/s (` +
        Object.entries(idle.maintenanceByMethod)
          .map(([method, rate]) => `${method} ${rate.toFixed(3)}`)
          .join(", ") +
        ")",
    );
    if (o.kills > 0) await traffic.open();
    for (let k = 0; k < o.kills; k++) {
      if (k > 0) {
        await cluster.startNode();
        await traffic.reopen();
        await sleep(SETTLE_MS);
      }
      const run = await timeFailure(cluster, traffic);
      out(
        `SIGKILL ${k + 1}: first detected ${run.firstDetectedMs.toFixed(0)} ms, leaf sets repaired ` +
          `${run.repairedMs.toFixed(0)} ms, delivery correct ${run.deliveryCorrectMs.toFixed(0)} ms; ` +
          `in the survivors' logs: first ${run.loggedFirstMs.toFixed(0)} ms, last ${run.loggedLastMs.toFixed(0)} ms` +
          (run.problems.length > 0 ? ` (problems: ${run.problems.join("; ")})` : ""),
      );
    }
  } finally {
    traffic.close();
    await cluster.stop();
  }
}

runMain("idle bench", main);
