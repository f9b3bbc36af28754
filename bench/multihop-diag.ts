// Diagnosis of the multi-hop set: `node --import tsx bench/multihop-diag.ts [--nodes 32] [--leaf-set 4]`.
// A cluster of daemons with a small leaf set (routes longer than one hop) under closed-loop Send at each
// in-flight count, printing rate, latency, losses and, from every daemon's /metrics, what the hop path did
// meanwhile (retries, parked hops, reroutes, drops, failed peer calls, peers declared dead).
import { Command } from "commander";
import { BenchCluster } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { httpGet } from "./lib/http.js";
import { runLoad, sleep } from "./lib/load.js";
import { totalCpuSeconds } from "./lib/proc.js";
import { summarizeLatencies } from "./lib/stats.js";
import { Traffic } from "./scenarios/traffic.js";
import { runMain } from "./lib/run-main.js";

interface DiagOptions {
  rev: string;
  nodes: number;
  leafSet: number;
  inFlight: string;
  seconds: number;
}

/** Counters summed over every daemon, by metric line (name and labels), for those that matter here. */
async function counters(cluster: BenchCluster): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  const wanted =
    /^wendy_(hop_retries_total|hops_parked_total|reroutes_total|messages_dropped_total|duplicates_suppressed_total|messages_forwarded_total|messages_delivered_total|membership_changes_total|peer_rpcs_total\{side="client"|peer_rpcs_total\{side="server",method="RouteStream")/;
  for (const node of cluster.nodes) {
    const reply = await httpGet(`${node.metricsUrl}/metrics`, 20_000).catch(() => ({ status: 0, body: "" }));
    for (const line of reply.body.split("\n")) {
      if (!wanted.test(line)) continue;
      const at = line.lastIndexOf(" ");
      const key = line.slice(0, at);
      sums.set(key, (sums.get(key) ?? 0) + Number(line.slice(at + 1)));
    }
  }
  return sums;
}

/** Nodes whose leaf set is not the true one (the leafSetSize / 2 nearest IDs on each side of the ring). */
async function leafSetErrors(cluster: BenchCluster, leafSetSize: number): Promise<string[]> {
  const ring = [...cluster.nodes].sort((a, b) => (a.id.hex < b.id.hex ? -1 : a.id.hex > b.id.hex ? 1 : 0));
  const half = leafSetSize / 2;
  const errors: string[] = [];
  // A ring no larger than the leaf set: every node is in every leaf set (not checked here).
  if (ring.length <= leafSetSize) return errors;
  for (let i = 0; i < ring.length; i++) {
    const node = ring[i]!;
    const at = (d: number): string => ring[(i + d + ring.length) % ring.length]!.id.hex.slice(0, 6);
    const left = Array.from({ length: half }, (_, k) => at(-(k + 1))).sort();
    const right = Array.from({ length: half }, (_, k) => at(k + 1)).sort();
    const status = await node.client.status();
    const got = (ns: readonly { readonly id: { readonly hex: string } }[]): string[] =>
      ns.map((n) => n.id.hex.slice(0, 6)).sort();
    const gl = got(status.leafSetLeft);
    const gr = got(status.leafSetRight);
    if (gl.join() !== left.join() || gr.join() !== right.join())
      errors.push(
        `  ${node.id.hex.slice(0, 6)}: left ${gl.join()} (true ${left.join()}), right ${gr.join()} (true ${right.join()})`,
      );
  }
  return errors;
}

function difference(after: Map<string, number>, before: Map<string, number>): string[] {
  const lines: string[] = [];
  for (const [key, value] of after) {
    const d = value - (before.get(key) ?? 0);
    if (d !== 0) lines.push(`  ${key} +${d}`);
  }
  return lines;
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("multihop-diag")
    .option("--rev <rev>", "commit whose daemons run", "HEAD")
    .option("--nodes <n>", "cluster size", Number, 32)
    .option("--leaf-set <n>", "leaf-set size", Number, 4)
    .option("--in-flight <list>", "comma-separated in-flight counts", "1,64")
    .option("--seconds <n>", "measured seconds per window", Number, 5)
    .parse([...argv])
    .opts<DiagOptions>();
  const build = buildCompiledDaemon(o.rev);
  const cluster = new BenchCluster(
    `d${o.nodes}`,
    { name: "compiled", entry: build.entry },
    {
      WENDY_LEAF_SET_SIZE: String(o.leafSet),
    },
  );
  const traffic = new Traffic(cluster);
  try {
    const t0 = performance.now();
    await cluster.grow(o.nodes, 4);
    process.stdout.write(
      `${build.commit}: ${o.nodes} daemons ready in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );
    await sleep(3000);
    const wrong = await leafSetErrors(cluster, o.leafSet);
    process.stdout.write(`leaf sets wrong after ready: ${wrong.length}\n${wrong.join("\n")}\n`);
    await traffic.open();
    const pids = cluster.nodes.map((n) => n.pid);
    for (const inFlight of o.inFlight.split(",").map(Number)) {
      const before = await counters(cluster);
      const problems: string[] = [];
      let cpu0 = 0;
      let cpu = 0;
      let op = 0;
      const load = await runLoad(
        () => {
          const entry = cluster.nodes[op % cluster.nodes.length]!;
          const key = traffic.keyFor(entry, op++);
          return traffic.sendOnce(entry, key, 100).catch((error: unknown) => {
            if (problems.length < 20)
              problems.push(
                `  from ${entry.id.hex.slice(0, 6)} key ${key.hex.slice(0, 6)}: ${String(error)}`,
              );
            throw error;
          });
        },
        {
          inFlight,
          warmupMs: 1000,
          measureMs: o.seconds * 1000,
          onWindow: (edge) => {
            if (edge === "start") cpu0 = totalCpuSeconds(pids);
            else cpu = totalCpuSeconds(pids) - cpu0;
          },
        },
      );
      const lat = summarizeLatencies(load.latenciesMs);
      process.stdout.write(
        `in flight ${inFlight}: ${load.perSecond.toFixed(1)} msgs/s, p50 ${lat.p50Ms.toFixed(1)} ms, p99 ${lat.p99Ms.toFixed(1)} ms, ` +
          `failed ${load.failed}, mean hops ${traffic.meanHops.toFixed(2)}, daemon CPU ${((cpu / Math.max(1, load.completed)) * 1e6).toFixed(0)} µs/msg, ` +
          `misdelivered ${traffic.misdelivered}\n`,
      );
      await sleep(1000);
      process.stdout.write(problems.join("\n") + "\n");
      process.stdout.write(difference(await counters(cluster), before).join("\n") + "\n");
      const after = await leafSetErrors(cluster, o.leafSet);
      process.stdout.write(`leaf sets wrong now: ${after.length}\n${after.join("\n")}\n`);
    }
  } finally {
    traffic.close();
    await cluster.stop();
  }
}

runMain("multihop-diag", main);
