// How long a node takes to join: `node --import tsx bench/join.ts [--nodes 32] [--repeats 3] [--rev HEAD]`.
// Grows a cluster of nodes - 1 compiled daemons one at a time (as `make bench` does), then times the last node's
// `wendy start --join` from spawn to /readyz 200, split into process boot (spawn to the "started" log line) and
// the join itself. A quicker loop than `make bench` for work on join time; the same figure appears there.
import { Command } from "commander";
import { BenchCluster } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { sleep } from "./lib/load.js";
import { median } from "./lib/stats.js";
import { timeJoins } from "./scenarios/membership.js";
import { runMain } from "./lib/run-main.js";

interface JoinOptions {
  nodes: number;
  repeats: number;
  settle: number;
  rev: string;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-join")
    .option("--nodes <n>", "cluster size after the timed join", Number, 32)
    .option("--repeats <n>", "timed joins (the node leaves between them)", Number, 3)
    .option("--settle <n>", "seconds between growing the cluster and the first timed join", Number, 0)
    .option("--rev <revision>", "the commit whose daemon is built (default HEAD)", "HEAD")
    .parse([...argv])
    .opts<JoinOptions>();
  const compiled = buildCompiledDaemon(o.rev);
  const cluster = new BenchCluster(`j${o.nodes}`, { name: "compiled", entry: compiled.entry });
  const out = (line: string): boolean => process.stdout.write(line + "\n");
  try {
    const started = performance.now();
    await cluster.grow(o.nodes - 1, 1);
    out(
      `${o.nodes - 1} daemons (commit ${compiled.commit}) ready in ` +
        `${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    await sleep(o.settle * 1000);
    const runs = await timeJoins(cluster, o.repeats);
    const ms = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(", ");
    out(
      `join into ${o.nodes - 1}: ready median ${median(runs.map((r) => r.readyMs)).toFixed(0)} ms ` +
        `(runs ${ms(runs.map((r) => r.readyMs))}); boot ${ms(runs.map((r) => r.bootMs))}; ` +
        `join ${ms(runs.map((r) => r.joinMs))}`,
    );
  } finally {
    await cluster.stop();
  }
}

runMain("join bench", main);
