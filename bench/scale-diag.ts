// Why a message costs more in a bigger cluster at the same hop count: `node --import tsx bench/scale-diag.ts
// [--small 8] [--large 32] [--loads 1,64,r300]`. Two clusters of one commit's daemons run side by side, and
// windows of Send traffic alternate between four setups: the small cluster with every node sending and
// receiving; the large one likewise; the large one with only as many nodes as the small one has taking part
// (entries and owners), the rest idle beside them; and the large one split into groups the small one's size,
// each sending only among itself. The third tells "more processes on the machine" (its figures stay with the
// large cluster's) from "more busy nodes" (they come back to the small one's); the fourth tells "fewer
// messages per node" (as busy a node as the large cluster's) from "more destinations per node" (as few as
// the small cluster's). Per window: daemon CPU per delivered message, split into the active daemons' and the
// idle ones'; and voluntary context switches per message (every thread's, from /proc: each is a wait, mostly
// an event-loop wake-up). Each load is a number of Sends in flight (closed loop) or r<rate> (open loop).
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { Command } from "commander";
import { closestTo, NodeId } from "../src/routing/id.js";
import { BenchCluster, type BenchNode } from "./lib/cluster.js";
import { buildCompiledDaemon } from "./lib/compiled.js";
import { runLoad, sleep } from "./lib/load.js";
import { totalCpuSeconds } from "./lib/proc.js";
import { median, percentile } from "./lib/stats.js";
import { Traffic } from "./scenarios/traffic.js";
import { runMain } from "./lib/run-main.js";

interface ScaleOptions {
  rev: string;
  small: number;
  large: number;
  loads: string;
  rate?: number;
  inFlight?: number;
  seconds: number;
  rounds: number;
  settle: number;
  leafSet?: number;
}

/** One setup traffic alternates between: a cluster and the nodes of it that send and own the keys. */
interface Setup {
  readonly label: string;
  readonly cluster: BenchCluster;
  readonly traffic: Traffic;
  readonly active: readonly BenchNode[];
  /** Per entry: keys owned by another active node. */
  readonly keys: Map<BenchNode, NodeId[]>;
  readonly windows: WindowFigures[];
}

interface WindowFigures {
  readonly delivered: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  /** Daemon CPU µs per delivered message: every daemon, the active ones, the idle ones. */
  readonly cpuUs: number;
  readonly activeCpuUs: number;
  readonly idleCpuUs: number;
  /** Voluntary context switches per delivered message, active and idle daemons. */
  readonly activeSwitches: number;
  readonly idleSwitches: number;
}

const TICKS_PER_SECOND = 100;
const KEYS_PER_ENTRY = 64;

/** Voluntary context switches of every thread of the processes that still exist. */
function voluntarySwitches(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
        const match = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
        if (match !== null) sum += Number(match[1]);
      }
    } catch {
      // Gone: left out, as totalCpuSeconds does.
    }
  }
  return sum;
}

/** Random keys owned by an active node other than `entry`. */
function keysAmong(entry: BenchNode, active: readonly BenchNode[], all: readonly BenchNode[]): NodeId[] {
  const keys: NodeId[] = [];
  for (let attempt = 0; keys.length < KEYS_PER_ENTRY && attempt < KEYS_PER_ENTRY * 1000; attempt++) {
    const key = NodeId.fromBytes(randomBytes(16));
    const owner = closestTo(key, all);
    if (owner !== entry && owner !== undefined && active.includes(owner)) keys.push(key);
  }
  return keys;
}

/**
 * `count` nodes of `cluster` take part, spread around the ring (every (size / count)-th), each sending to
 * keys owned by the others; or, with `groups`, every node takes part, split into that many groups (every
 * groups-th node in one) that send only among themselves: as many busy processes as the whole cluster, as
 * few destinations per node as a cluster the size of one group.
 */
function setup(label: string, cluster: BenchCluster, traffic: Traffic, count: number, groups = 1): Setup {
  const nodes = cluster.nodes;
  const step = nodes.length / count;
  const active =
    groups > 1 ? [...nodes] : Array.from({ length: count }, (_, i) => nodes[Math.floor(i * step)]!);
  const peersOf = (entry: BenchNode): BenchNode[] =>
    groups > 1 ? nodes.filter((_, i) => i % groups === nodes.indexOf(entry) % groups) : active;
  const keys = new Map(active.map((entry) => [entry, keysAmong(entry, peersOf(entry), nodes)]));
  return { label, cluster, traffic, active, keys, windows: [] };
}

async function measureWindow(s: Setup, o: ScaleOptions): Promise<WindowFigures> {
  const all = s.cluster.nodes.map((n) => n.pid);
  const activePids = s.active.map((n) => n.pid);
  const idlePids = all.filter((pid) => !activePids.includes(pid));
  let op = 0;
  const send = (): Promise<number> => {
    const entry = s.active[op % s.active.length]!;
    const keys = s.keys.get(entry)!;
    op++;
    return s.traffic.sendOnce(entry, keys[Math.floor(Math.random() * keys.length)]!, 100);
  };
  const read = (): number[] => [
    totalCpuSeconds(activePids),
    totalCpuSeconds(idlePids),
    voluntarySwitches(activePids),
    voluntarySwitches(idlePids),
  ];
  let start: number[] = [];
  let end: number[] = [];
  let latencies: number[];
  let seconds = o.seconds;
  if (o.inFlight !== undefined) {
    const load = await runLoad(send, {
      inFlight: o.inFlight,
      warmupMs: 1000,
      measureMs: o.seconds * 1000,
      onWindow: (edge) => (edge === "start" ? (start = read()) : (end = read())),
    });
    latencies = load.latenciesMs.sort((a, b) => a - b);
    seconds = load.seconds;
  } else {
    await sleep(500);
    start = read();
    const sends: Promise<number>[] = [];
    let owed = 0;
    for (let tick = 0; tick < o.seconds * TICKS_PER_SECOND; tick++) {
      for (owed += (o.rate ?? 0) / TICKS_PER_SECOND; owed >= 1; owed--)
        sends.push(send().catch(() => Number.NaN));
      await sleep(1000 / TICKS_PER_SECOND);
    }
    latencies = (await Promise.all(sends)).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    end = read();
  }
  const n = Math.max(1, latencies.length);
  const d = end.map((v, i) => v - start[i]!);
  return {
    delivered: latencies.length,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    cpuUs: ((d[0]! + d[1]!) / n) * 1e6,
    activeCpuUs: (d[0]! / n) * 1e6,
    idleCpuUs: (d[1]! / n) * 1e6,
    activeSwitches: d[2]! / n,
    idleSwitches: d[3]! / n,
  };
}

function describe(w: WindowFigures): string {
  return (
    `${w.perSecond.toFixed(0)} msgs/s, p50 ${w.p50Ms.toFixed(2)} ms, CPU ${w.cpuUs.toFixed(0)} µs/msg ` +
    `(active ${w.activeCpuUs.toFixed(0)}, idle ${w.idleCpuUs.toFixed(0)}), voluntary switches/msg ` +
    `active ${w.activeSwitches.toFixed(2)}, idle ${w.idleSwitches.toFixed(2)}`
  );
}

/** Alternating windows of one load over every setup, then each setup's medians. */
async function measureLoad(setups: readonly Setup[], o: ScaleOptions): Promise<void> {
  const load =
    o.inFlight === undefined ? `${o.rate} msgs/s offered` : `${o.inFlight} in flight (closed loop)`;
  process.stdout.write(`${load}, 100 B, ${o.seconds} s windows, load average ${loadavg()[0]!.toFixed(1)}\n`);
  for (const s of setups) await measureWindow(s, o); // Warm-up, not counted.
  for (let round = 0; round < o.rounds; round++) {
    for (const s of round % 2 === 0 ? setups : [...setups].reverse()) {
      const w = await measureWindow(s, o);
      s.windows.push(w);
      process.stdout.write(`${s.label}: ${describe(w)}\n`);
    }
  }
  process.stdout.write(`medians over ${o.rounds} windows, load average ${loadavg()[0]!.toFixed(1)}:\n`);
  for (const s of setups) {
    const m = (f: (w: WindowFigures) => number): number => median(s.windows.map(f));
    process.stdout.write(
      `${s.label}: ${describe({
        delivered: m((w) => w.delivered),
        perSecond: m((w) => w.perSecond),
        p50Ms: m((w) => w.p50Ms),
        cpuUs: m((w) => w.cpuUs),
        activeCpuUs: m((w) => w.activeCpuUs),
        idleCpuUs: m((w) => w.idleCpuUs),
        activeSwitches: m((w) => w.activeSwitches),
        idleSwitches: m((w) => w.idleSwitches),
      })}\n`,
    );
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const o = new Command("bench-scale-diag")
    .option("--rev <rev>", "commit whose daemons run", "HEAD")
    .option("--small <n>", "the small cluster's size (and the active nodes of the large one)", Number, 8)
    .option("--large <n>", "the large cluster's size", Number, 32)
    .option(
      "--loads <list>",
      "comma-separated loads, each measured in turn: a number of Sends in flight (closed loop), or r<rate> (that many Sends per second offered, open loop)",
      "1,64,r300",
    )
    .option("--seconds <n>", "seconds per window", Number, 3)
    .option("--rounds <n>", "windows per setup", Number, 4)
    .option("--settle <s>", "seconds the clusters rest after their joins before the first window", Number, 20)
    .option("--leaf-set <n>", "leaf-set size of both clusters", Number)
    .parse([...argv])
    .opts<ScaleOptions>();
  const build = buildCompiledDaemon(o.rev);
  const env: Record<string, string> =
    o.leafSet === undefined ? {} : { WENDY_LEAF_SET_SIZE: String(o.leafSet) };
  const clusters: { cluster: BenchCluster; traffic: Traffic }[] = [];
  try {
    for (const size of [o.small, o.large]) {
      const cluster = new BenchCluster(`s${size}`, { name: "compiled", entry: build.entry }, env);
      const traffic = new Traffic(cluster);
      clusters.push({ cluster, traffic });
      // Ports picked per batch, not all at first: on a shared machine a port picked a minute before its
      // daemon starts may be some other process's by then.
      await cluster.grow(1, 1);
      while (cluster.nodes.length < size)
        await Promise.all(
          Array.from({ length: Math.min(2, size - cluster.nodes.length) }, () => cluster.startNode()),
        );
      await traffic.open();
    }
    await sleep(o.settle * 1000);
    const [small, large] = clusters as [(typeof clusters)[0], (typeof clusters)[0]];
    const setups = [
      setup(`${o.small} of ${o.small}`, small.cluster, small.traffic, o.small),
      setup(`${o.large} of ${o.large}`, large.cluster, large.traffic, o.large),
      setup(`${o.small} of ${o.large}`, large.cluster, large.traffic, o.small),
      setup(
        `${o.large} of ${o.large} in groups of ${o.small}`,
        large.cluster,
        large.traffic,
        o.large,
        o.large / o.small,
      ),
    ];
    process.stdout.write(`commit ${build.commit}: ${o.small} and ${o.large} daemons side by side\n`);
    for (const load of o.loads.split(",")) {
      const w = {
        ...o,
        ...(load.startsWith("r") ? { rate: Number(load.slice(1)) } : { inFlight: Number(load) }),
      };
      await measureLoad(setups, w);
      for (const s of setups) s.windows.length = 0;
    }
  } finally {
    for (const { cluster, traffic } of clusters) {
      traffic.close();
      await cluster.stop();
    }
  }
}

runMain("scale-diag", main);
