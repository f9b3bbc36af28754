// A/B of the routed path's cost: `node --import tsx bench/ab.ts --base <rev> [--head HEAD]`. Two clusters,
// one per commit (each compiled), run side by side, each warmed up first (in alternating windows) until its
// CPU per message stops falling (--code-warmup-ms: V8 compiles a daemon's hot paths only after many
// thousands of messages);
// windows of Send traffic at a fixed offered rate alternate between them, so both see the same machine
// (this one is shared and its load swings by the minute). The figure compared is daemon CPU per delivered
// message, which at a fixed rate says how much work a message costs, where a closed-loop rate mostly says
// how busy the machine was. `--kind idle` compares what the two clusters cost with no traffic at all: both
// sit idle through the same windows, so each window is a pair, each side's daemons' own CPU time (from
// /proc) as a share of one core per daemon, and RSS at the end.
import { Command } from "commander";
import { BenchCluster } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { sleep } from "./lib/load.js";
import { memoryParts, totalCpuSeconds } from "./lib/proc.js";
import { median, percentile } from "./lib/stats.js";
import { Traffic } from "./scenarios/traffic.js";
import { WARMUP_IN_FLIGHT, warmUpTogether } from "./lib/warmup.js";
import type { WarmupWindow } from "./lib/result.js";
import type { BenchSettings } from "./lib/settings.js";
import { runMain } from "./lib/run-main.js";

interface AbOptions {
  base: string;
  head: string;
  nodes: number;
  rate: number;
  seconds: number;
  rounds: number;
  payload: number;
  kind: "send" | "send-acked" | "call" | "idle";
  leafSet?: number;
  headNodeOptions?: string;
  headClientSocket?: boolean;
  codeWarmupMs: number;
}

interface Side {
  readonly label: string;
  readonly cluster: BenchCluster;
  readonly traffic: Traffic;
  readonly cpuPerMessageUs: number[];
  readonly delivered: number[];
  /** Each window's median latency, ms: a change that saves CPU by making messages wait shows here. */
  readonly p50Ms: number[];
}

/** Ticks per second of the open-loop generator. */
const TICKS_PER_SECOND = 100;

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-ab")
    .requiredOption("--base <rev>", "the commit to compare against")
    .option("--head <rev>", "the commit under test", "HEAD")
    .option("--nodes <n>", "cluster size", Number, 8)
    .option("--rate <n>", "offered Send rate, messages per second", Number, 600)
    .option("--seconds <n>", "seconds per window", Number, 3)
    .option("--rounds <n>", "windows per side", Number, 4)
    .option("--payload <bytes>", "payload size", Number, 100)
    .option(
      "--kind <kind>",
      "send (routed Send), send-acked (Send waiting for the application's ack), call (Call answered by the owner's subscriber) or idle (no traffic: CPU and RSS at rest)",
      "send",
    )
    .option(
      "--leaf-set <n>",
      "leaf-set size of both clusters (a small one makes routes longer: the multi-hop set)",
      Number,
    )
    .option(
      "--head-node-options <flags>",
      "NODE_OPTIONS for the head side's daemons only: with --head equal to --base, compares Node.js flags",
    )
    .option(
      "--head-client-socket",
      "the head side's clients reach their nodes on a Unix socket (WENDY_CLIENT_SOCKET), the base side's over TCP: with --head equal to --base, compares the two",
    )
    .option(
      "--code-warmup-ms <n>",
      "each side runs its kind of traffic unmeasured at 64 in flight at least this long first, until its CPU per message stops falling (4x at most; bench/lib/warmup.ts)",
      Number,
      15_000,
    )
    .parse([...argv])
    .opts<AbOptions>();
  const sides: Side[] = [];
  try {
    for (const [label, rev] of [
      ["base", o.base],
      ["head", o.head],
    ] as const) {
      const build = buildCompiledDaemon(rev);
      const cluster = new BenchCluster(
        `ab-${label}`,
        { name: "compiled", entry: build.entry },
        {
          ...(o.leafSet === undefined ? {} : { WENDY_LEAF_SET_SIZE: String(o.leafSet) }),
          ...(label === "head" && o.headNodeOptions !== undefined ? { NODE_OPTIONS: o.headNodeOptions } : {}),
        },
        { clientSocket: label === "head" && o.headClientSocket === true },
      );
      const traffic = new Traffic(cluster);
      const flags =
        (label === "head" && o.headNodeOptions !== undefined ? ` (${o.headNodeOptions})` : "") +
        (label === "head" && o.headClientSocket === true ? " (clients on a Unix socket)" : "");
      sides.push({
        label: `${label} ${build.commit}${flags}`,
        cluster,
        traffic,
        cpuPerMessageUs: [],
        delivered: [],
        p50Ms: [],
      });
    }
    await growInterleaved(sides, o.nodes);
    if (o.kind === "idle") return await idleWindows(sides, o);
    for (const side of sides) await side.traffic.open();
    // Fresh daemons run at a fraction of their steady rate until V8 has compiled their hot paths, which takes
    // many thousands of messages (session 19's finding): each side first runs its kind of traffic, closed
    // loop, until its CPU per message stops falling, so that the windows compare warm daemons. The two
    // sides' warm-up windows alternate: warmed one after the other, the side warmed first read ~10 % dearer
    // in A/A runs (warmUpTogether).
    const warmed = await warmUpTogether(
      { minMs: o.codeWarmupMs, maxMs: 4 * o.codeWarmupMs },
      sides.map(
        (side) => (w: { readonly warmupMs: number; readonly measureMs: number }) =>
          measureKind(side.traffic, o, w),
      ),
    );
    sides.forEach((side, i) => {
      const last = warmed[i]!.at(-1);
      if (last !== undefined)
        process.stdout.write(
          `${side.label}: code warm-up ${warmed[i]!.length} windows, last ${Math.round(last.cpuSecondsPerOp * 1e6)} µs per message\n`,
        );
    });
    // One unrecorded window per side first: freshly started daemons are still settling their tables and
    // compiling their hot paths, and on a busy machine the first window of each lost messages.
    for (const side of sides) {
      const warm = await window(side, o);
      process.stdout.write(`${side.label}: warm-up window, ${warm.delivered} delivered (not counted)\n`);
    }
    for (let round = 0; round < o.rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const { cpuUs, delivered, p50Ms } = await window(side, o);
        side.cpuPerMessageUs.push(cpuUs);
        side.delivered.push(delivered);
        side.p50Ms.push(p50Ms);
        process.stdout.write(
          `${side.label}: ${cpuUs.toFixed(0)} µs daemon CPU per message (${delivered} delivered, p50 ${p50Ms.toFixed(2)} ms)\n`,
        );
      }
    }
  } finally {
    for (const side of sides) {
      side.traffic.close();
      await side.cluster.stop();
    }
  }
  for (const side of sides) {
    process.stdout.write(
      `${side.label}: median ${median(side.cpuPerMessageUs).toFixed(0)} µs per message over ${o.rounds} windows of ` +
        `${o.seconds} s at ${o.rate} ${o.kind}s/s offered, ${o.nodes} nodes, ${o.payload} B` +
        `${o.leafSet === undefined ? "" : `, leaf set ${o.leafSet}`}, mean hops ${side.traffic.meanHops.toFixed(2)}, ` +
        `median p50 ${median(side.p50Ms).toFixed(2)} ms\n`,
    );
  }
}

/** Daemons started at once per side and step while the clusters grow. */
const START_BATCH = 4;

/**
 * Grows both clusters in alternating steps of START_BATCH daemons (the side that goes first alternating too),
 * so that the two sides' daemons are of the same age and share the machine while they start. Grown one after
 * the other, the side started second was about a minute younger when the idle windows began, still busier
 * with its start-up work: an A/A idle run read 1.77x on it (1.05x grown interleaved).
 */
async function growInterleaved(sides: readonly Side[], nodes: number): Promise<void> {
  for (let step = 0; step * START_BATCH < nodes; step++) {
    const count = Math.min(START_BATCH, nodes - step * START_BATCH);
    for (const side of step % 2 === 0 ? sides : [...sides].reverse()) {
      // The founding daemon starts alone (grow does that), the rest of the step beside each other.
      await side.cluster.grow(count, START_BATCH);
    }
  }
}

/**
 * Lets joins and leaf-set pushes settle before idle windows, and both sides pass V8's memory reducer (its
 * collections come some 30 s after start), counted from the later side's last join.
 */
const IDLE_SETTLE_MS = 45_000;
const MIB = 1024 * 1024;

/**
 * Both clusters idle through the same windows: each window gives one pair of figures (CPU per daemon as a
 * share of one core, each side's own daemons only), and the ratio head/base per pair is what compares them.
 */
async function idleWindows(sides: readonly Side[], o: AbOptions): Promise<void> {
  await sleep(
    Math.max(
      0,
      Math.max(...sides.map((side) => side.cluster.changedAt)) + IDLE_SETTLE_MS - performance.now(),
    ),
  );
  const percent: number[][] = sides.map(() => []);
  const ratios: number[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const pids = sides.map((side) => side.cluster.nodes.map((n) => n.pid));
    const before = pids.map((p) => totalCpuSeconds(p));
    await sleep(o.seconds * 1000);
    const shares = pids.map((p, i) => ((totalCpuSeconds(p) - before[i]!) / p.length / o.seconds) * 100);
    shares.forEach((share, i) => percent[i]!.push(share));
    ratios.push(shares[1]! / shares[0]!);
    process.stdout.write(
      `window ${round + 1}: ` +
        sides.map((side, i) => `${side.label} ${shares[i]!.toFixed(3)} %`).join(", ") +
        ` of a core per daemon; head/base ${ratios.at(-1)!.toFixed(2)}\n`,
    );
  }
  sides.forEach((side, i) => {
    const parts = side.cluster.nodes.map((n) => memoryParts(n.pid));
    const rss = parts.map((p) => p.rssBytes / MIB);
    process.stdout.write(
      `${side.label}: idle median ${median(percent[i]!).toFixed(3)} % of a core per daemon over ${o.rounds} ` +
        `windows of ${o.seconds} s, ${o.nodes} nodes; RSS median ${median(rss).toFixed(1)} MiB ` +
        `(max ${Math.max(...rss).toFixed(1)}; of it anonymous, the daemon's own, median ` +
        `${median(parts.map((p) => p.anonymousBytes / MIB)).toFixed(1)} MiB)\n`,
    );
  });
  process.stdout.write(`head/base: median ratio ${median(ratios).toFixed(2)} over ${o.rounds} pairs\n`);
}

/** One closed-loop window of the side's kind of traffic at 64 in flight, for the code warm-up. */
async function measureKind(
  traffic: Traffic,
  o: AbOptions,
  window: { readonly warmupMs: number; readonly measureMs: number },
): Promise<WarmupWindow> {
  const settings: BenchSettings = {
    ...window,
    repeats: 1,
    clusterSizes: [o.nodes],
    inFlights: [WARMUP_IN_FLIGHT],
    payloadBytes: [o.payload],
    joinSizes: [],
    failureSizes: [],
    embeddedSizes: [],
    idleMs: 0,
    startBatch: START_BATCH,
    runtime: "compiled",
  };
  const measure = {
    send: traffic.measureSend,
    "send-acked": traffic.measureAckedSend,
    call: traffic.measureCall,
    idle: traffic.measureSend,
  }[o.kind].bind(traffic);
  return measure(o.payload, WARMUP_IN_FLIGHT, settings);
}

/** One window of open-loop traffic: a fixed number of sends per tick, whatever the latency. */
async function window(
  side: Side,
  o: AbOptions,
): Promise<{ cpuUs: number; delivered: number; p50Ms: number }> {
  const nodes = side.cluster.nodes;
  const keys = side.traffic;
  const pids = nodes.map((n) => n.pid);
  const perTick = o.rate / TICKS_PER_SECOND;
  const ticks = o.seconds * TICKS_PER_SECOND;
  const sends: Promise<number>[] = [];
  let owed = 0;
  let op = 0;
  await sleep(500);
  const before = totalCpuSeconds(pids);
  for (let tick = 0; tick < ticks; tick++) {
    owed += perTick;
    for (; owed >= 1; owed--) {
      const entry = nodes[op++ % nodes.length]!;
      const key = keys.keyFor(entry, op);
      const done =
        o.kind === "call"
          ? keys.callOnce(entry, key, o.payload)
          : o.kind === "send-acked"
            ? keys.ackedSendOnce(entry, key, o.payload)
            : keys.sendOnce(entry, key, o.payload);
      sends.push(done.catch(() => Number.NaN));
    }
    await sleep(1000 / TICKS_PER_SECOND);
  }
  const latencies = await Promise.all(sends);
  const cpu = totalCpuSeconds(pids) - before;
  const done = latencies.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const delivered = done.length;
  return {
    cpuUs: delivered === 0 ? Number.NaN : (cpu / delivered) * 1e6,
    delivered,
    p50Ms: delivered === 0 ? Number.NaN : percentile(done, 0.5),
  };
}

runMain("ab", main);
