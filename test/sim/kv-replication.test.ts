// The replication protocol in the simulator (src/sim/kv-*.ts) on a small overlay: keys written with W
// acknowledgements, before and during churn (overwrites too), survive churn and k-1 replicas crashing at
// once; every key ends with its k true replicas holding its last acknowledged write, and a read of it from
// them answers that write.
import { describe, expect, it } from "vitest";
import { SimKv } from "../../src/sim/kv-layer.js";
import { kvCensus, trueReplicaSet } from "../../src/sim/kv-measure.js";
import { runKv } from "../../src/sim/kv-run.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { Simulator } from "../../src/sim/simulator.js";

describe("key-value replication in the simulator", () => {
  it("200 nodes under churn with writes and overwrites going on: none lost, all end with k correct replicas, every key reads as its last acknowledged write from all k", () => {
    const result = runKv({
      nodes: 200,
      seed: 7,
      keys: 1000,
      valueBytes: 32,
      writeSpreadMs: 5_000,
      restMs: 5_000,
      lifetime: { kind: "exponential", medianMs: 5 * 60_000 },
      crashFraction: 0.5,
      churnMs: 45_000,
      churnWritesPerSecond: 20,
      churnOverwriteShare: 0.5,
      repairMs: 45_000,
      windowMs: 15_000,
    });
    const departures = Object.values(result.departures).reduce((a, b) => a + b, 0);
    // The churn did strike: replicas were lost, some keys down to fewer than k live holders at once.
    expect(departures).toBeGreaterThan(10);
    expect(result.fewestLiveHolders.slice(1, 3).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // The premise: at most k-1 of a key's holders gone at once (else a loss is no fault of the protocol).
    expect(result.keysThatLostEveryHolder).toBe(0);
    expect(result.keysAcknowledged).toBe(1000);
    expect(result.final.lost).toBe(0);
    expect(result.final.withAllReplicas).toBe(result.final.keys);
    expect(result.final.extraCopies).toBe(0);
    // Writes went on during churn, overwrites among them, and were acknowledged.
    const during = result.writes.duringChurn;
    expect(during.issued).toBeGreaterThan(500);
    expect(during.acked).toBeGreaterThan(during.issued / 2);
    expect(during.overwritesAcked).toBeGreaterThan(100);
    expect(during.acked - during.overwritesAcked).toBeGreaterThan(100);
    // Every key with an acknowledged write reads, from its k true replicas, as its last acknowledged write
    // (or one issued after it), held by all k, and nothing else.
    const check = result.readCheck;
    expect(check.keys).toBe(result.final.keys);
    expect(check.keys).toBeGreaterThan(1000);
    expect(check.behind).toBe(0);
    expect(check.missing).toBe(0);
    expect(check.divergent).toBe(0);
    expect(check.neverWritten).toBe(0);
    expect(check.short).toBe(0);
    expect(check.atLatest + check.newer).toBe(check.keys);
  }, 600_000);

  it("k-1 replicas of many keys crashed at the same instant: the survivor repairs every key to k correct replicas", () => {
    const sim = new Simulator({ seed: 11, createMachine: createPastryMachine });
    sim.grow(120, { growth: 1, spreadMs: 500 });
    sim.runFor(3_000);
    const random = new Prng(12);
    const kv = new SimKv(sim, random.fork());
    kv.attachAll();
    const value = new Uint8Array(16).fill(1);
    let acked = 0;
    for (let i = 0; i < 600; i++) kv.write(random.nodeId(), value, (o) => void (o.acked && acked++));
    sim.runFor(10_000);
    expect(acked).toBe(600);
    expect(kvCensus(sim, kv).withAllReplicas).toBe(600);
    // Crash the two closest replicas of some keys at once, pairs at least k ring places apart from each
    // other, so that no key loses more than k-1 = 2 of its replicas.
    const positions = new Map(sim.truth.all().map((m, i) => [m.index, i]));
    const ring = sim.truth.size;
    const crashedAt: number[] = [];
    const crashed: number[] = [];
    const farFromCrashed = (index: number): boolean => {
      const p = positions.get(index) as number;
      return crashedAt.every((q) => Math.min((p - q + ring) % ring, (q - p + ring) % ring) > 3);
    };
    for (const { key } of kv.acknowledged().values()) {
      if (crashed.length >= 16) break;
      const [first, second] = trueReplicaSet(sim.truth, key, 3);
      if (first === undefined || second === undefined) continue;
      if (!farFromCrashed(first.index) || !farFromCrashed(second.index)) continue;
      for (const member of [first, second]) {
        crashed.push(member.index);
        crashedAt.push(positions.get(member.index) as number);
      }
    }
    expect(crashed.length).toBe(16);
    for (const index of crashed) {
      kv.departing(sim.node(index), "host");
      sim.crash(index, "host");
    }
    expect(kvCensus(sim, kv).withAllReplicas).toBeLessThan(600);
    expect(kvCensus(sim, kv).lost).toBe(0);
    sim.runFor(60_000);
    const after = kvCensus(sim, kv);
    expect(after.lost).toBe(0);
    expect(after.withAllReplicas).toBe(600);
    expect(after.extraCopies).toBe(0);
  }, 600_000);
});
