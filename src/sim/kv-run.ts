// One key-value replication run, shared by the benchmark (bench/sim/kv.ts) and the tests: build an overlay
// through real joins, give every node a replica, write keys (acknowledged at W), measure the store at rest,
// then churn (sessions of the given law, each departure replaced by a join) while writes of new keys and
// overwrites go on, stop the churn and let repair run; census against the ring's truth every window, repair
// traffic per ready node per second by phase, and at the end a read of every key from its k true replicas
// (kv-writer.ts): the last acknowledged write of each, or a later one, and nothing else.
import { Churn, type LifetimeDistribution } from "./churn.js";
import { SimKv } from "./kv-layer.js";
import { kvCensus, type KvCensus } from "./kv-measure.js";
import type { SimKvConfig } from "./kv-node.js";
import type { KvWork, TrafficCount } from "./kv-traffic.js";
import { KvWriter, type ReadCheck, type WriteTally } from "./kv-writer.js";
import { createPastryMachine } from "./pastry.js";
import { Prng } from "./prng.js";
import { Simulator } from "./simulator.js";

export interface KvRunOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly keys: number;
  readonly valueBytes: number;
  /** Writes are spread over this long. */
  readonly writeSpreadMs: number;
  /** At rest after the writes, before churn (the anti-entropy cost of a store with nothing to repair). */
  readonly restMs: number;
  readonly lifetime: LifetimeDistribution;
  readonly crashFraction: number;
  readonly churnMs: number;
  /** Writes per second during churn, of new keys and overwrites (default 0: none). */
  readonly churnWritesPerSecond?: number;
  /** The share of those writes that overwrite a key written before (default 0.5). */
  readonly churnOverwriteShare?: number;
  /** After churn stops, how long repair runs before the final census. */
  readonly repairMs: number;
  /** A census every this long during churn and repair. */
  readonly windowMs: number;
  readonly kv?: Partial<SimKvConfig>;
  readonly log?: (line: string) => void;
  /** Sees the simulator and the layer once the run is over (tests, diagnosis). */
  readonly inspect?: (sim: Simulator, kv: SimKv) => void;
}

export type PhaseTraffic = Record<KvWork | "total", TrafficCount>;

export interface KvRunResult {
  readonly nodes: number;
  readonly readyAfterBuild: number;
  readonly config: SimKvConfig;
  readonly keysWritten: number;
  readonly keysAcknowledged: number;
  /** Writes before churn (each of a new key) and during it (new keys and overwrites). */
  readonly writes: { readonly beforeChurn: WriteTally; readonly duringChurn: WriteTally };
  /** At the end: what a read of each key from its k true replicas answers. */
  readonly readCheck: ReadCheck;
  readonly afterWrites: KvCensus;
  readonly departures: Readonly<Record<string, number>>;
  readonly arrivals: number;
  readonly duringChurn: readonly KvCensus[];
  readonly afterChurn: readonly KvCensus[];
  readonly final: KvCensus;
  /** From churn's end until the first census with every key at k correct replicas (undefined: never). */
  readonly convergedAfterMs: number | undefined;
  /** Keys whose live holders of the acknowledged version all went at some departure (then lost). */
  readonly keysThatLostEveryHolder: number;
  /** Keys by the fewest live holders of their acknowledged version seen at any departure (index = count). */
  readonly fewestLiveHolders: readonly number[];
  readonly traffic: {
    readonly rest: PhaseTraffic;
    readonly churn: PhaseTraffic;
    readonly repair: PhaseTraffic;
  };
  readonly events: number;
}

export function runKv(o: KvRunOptions): KvRunResult {
  const log = o.log ?? (() => {});
  const sim = new Simulator({
    seed: o.seed,
    createMachine: createPastryMachine,
    seedSelection: { kind: "nearestOfSample", sample: 16 },
  });
  const random = new Prng(o.seed ^ 0x6b76);
  sim.grow(o.nodes, {
    growth: 1,
    spreadMs: 1000,
    waveTimeoutMs: 5_000,
    stragglers: 0.01,
    finalTimeoutMs: 60_000,
  });
  sim.runFor(3_000);
  const readyAfterBuild = sim.truth.size;
  log(`built: ${readyAfterBuild} ready at t=${(sim.now / 1000).toFixed(0)} s`);

  const kv = new SimKv(sim, random.fork(), o.kv);
  kv.attachAll();
  kv.traffic.enter("writes");
  const keyRandom = random.fork();
  const writer = new KvWriter(kv, keyRandom.fork(), o.valueBytes);
  for (let i = 0; i < o.keys; i++) {
    const key = keyRandom.nodeId();
    sim.at(keyRandom.next() * o.writeSpreadMs, () => void writer.writeNew(key));
  }
  sim.runFor(o.writeSpreadMs + 3 * kv.config.replicaTimeoutMs);
  const beforeChurn = writer.takeTally();
  const afterWrites = kvCensus(sim, kv);
  log(`written: ${afterWrites.keys}/${o.keys} acknowledged, ${afterWrites.withAllReplicas} with k replicas`);

  kv.traffic.enter("rest");
  sim.runFor(o.restMs);

  kv.traffic.enter("churn");
  const kvListener = kv.listener();
  const churn = new Churn(
    sim,
    { lifetime: o.lifetime, crashFraction: o.crashFraction },
    random.fork(),
    kvListener,
  );
  churn.start();
  const churnEnd = sim.now + o.churnMs;
  const writesPerSecond = o.churnWritesPerSecond ?? 0;
  if (writesPerSecond > 0) {
    const overwriteShare = o.churnOverwriteShare ?? 0.5;
    const writeRandom = random.fork();
    const write = (): void => {
      if (sim.now >= churnEnd) return;
      if (!writeRandom.chance(overwriteShare) || !writer.overwrite()) writer.writeNew(writeRandom.nodeId());
      sim.at(writeRandom.next() * (2000 / writesPerSecond), write);
    };
    sim.at(0, write);
  }
  const duringChurn = windows(sim, kv, o.churnMs, o.windowMs, (c) =>
    log(`  churn t=${(c.atMs / 1000).toFixed(0)} s: ${line(c)}`),
  );
  churn.stop();
  const stoppedAt = sim.now;

  kv.traffic.enter("repair");
  const afterChurn = windows(sim, kv, o.repairMs, o.windowMs, (c) =>
    log(`  repair +${((c.atMs - stoppedAt) / 1000).toFixed(0)} s: ${line(c)}`),
  );
  const final = afterChurn.at(-1) ?? kvCensus(sim, kv);
  // Writes are issued during churn only; those in flight as it stopped were answered during repair.
  const churnWrites = writer.takeTally();
  const readCheck = writer.readCheck(sim);
  o.inspect?.(sim, kv);
  const converged = afterChurn.find((c) => c.withAllReplicas === c.keys);

  const k = kv.config.replicas;
  const fewest = new Array<number>(k + 1).fill(0);
  let lostEvery = 0;
  for (const hex of kv.acknowledged().keys()) {
    const n = Math.min(k, kv.fewestLiveHolders().get(hex) ?? k);
    fewest[n] = (fewest[n] as number) + 1;
    if (n === 0) lostEvery++;
  }
  return {
    nodes: o.nodes,
    readyAfterBuild,
    config: kv.config,
    keysWritten: o.keys,
    keysAcknowledged: afterWrites.keys,
    writes: { beforeChurn, duringChurn: churnWrites },
    readCheck,
    afterWrites,
    departures: churn.departed(),
    arrivals: churn.arrivals,
    duringChurn,
    afterChurn,
    final,
    convergedAfterMs: converged === undefined ? undefined : converged.atMs - stoppedAt,
    keysThatLostEveryHolder: lostEvery,
    fewestLiveHolders: fewest,
    traffic: {
      rest: kv.traffic.perNodePerSecond("rest"),
      churn: kv.traffic.perNodePerSecond("churn"),
      repair: kv.traffic.perNodePerSecond("repair"),
    },
    events: sim.events,
  };
}

function windows(
  sim: Simulator,
  kv: SimKv,
  totalMs: number,
  windowMs: number,
  each: (c: KvCensus) => void,
): KvCensus[] {
  const out: KvCensus[] = [];
  const end = sim.now + totalMs;
  while (sim.now < end) {
    sim.runUntil(Math.min(end, sim.now + windowMs));
    const c = kvCensus(sim, kv);
    out.push(c);
    each(c);
  }
  return out;
}

function line(c: KvCensus): string {
  return (
    `${c.withAllReplicas}/${c.keys} keys with k correct replicas (${(100 * c.shareWithAllReplicas).toFixed(2)} %), ` +
    `by count ${c.byCorrectReplicas.join("/")}, lost ${c.lost}, extra copies ${c.extraCopies}`
  );
}
