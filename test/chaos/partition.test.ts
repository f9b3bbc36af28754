// Partition and heal: the ring is split in two and each half must come to see only itself within a bound;
// both halves carry traffic, each delivering exactly once at its own side's closest node; then the split
// heals, and the halves must merge into one ring again (every leaf set holds every node) and route exactly
// again within a bound. The figures also go into the results file.
import { beforeAll, describe, expect, it } from "vitest";
import { keys } from "../integration/harness.js";
import { heal, partition } from "./lib/faults.js";
import { ChaosScenario } from "./lib/preamble.js";
import { leafIds, ringConverged, startRing, statesOf, writeResults } from "./lib/scenario.js";
import { Lifecycle, Traffic, judge, verdictTable, verdictDetails, type Verdict } from "./lib/traffic.js";

const NODES = 8;
const SIDE_A = [0, 1, 2, 3];
const SIDE_B = [4, 5, 6, 7];
const SPLIT_LIMIT_MS = 30_000;
const MERGE_LIMIT_MS = 90_000;

const SENDS_PER_SENDER = 20;

const scenario = ChaosScenario.register("chaos-partition", NODES);
const world = scenario.world;

describe("partition and heal", () => {
  const figures: { splitMs?: number; mergeMs?: number; routedMs?: number } = {};
  const correctAfter = { sent: 0, correct: 0 };
  /** Traffic during the split, judged within each side (its own closest node): side A, then side B. */
  let splitVerdicts: Verdict[] = [];
  /** Sends during the split delivered away from the closest node of the sender's side. */
  let wrongSide: string[] = [];

  // The whole scenario runs here; the tests below judge what it saw. A run that breaks off fails them all.
  beforeAll(async () => {
    const net = scenario.net;
    const options = scenario.nodeOptions(NODES, "p");
    const { peers } = await startRing(world, options);
    const all = new Set(peers.map((p) => p.id));
    const sideA = SIDE_A.map((i) => peers[i]!);
    const sideB = SIDE_B.map((i) => peers[i]!);
    const before = await scenario.timeUntil(
      () => peers,
      (s) => ringConverged(s, all),
      30_000,
    );
    world.progress(`ring converged before the split: ${before}`);

    await partition(net, SIDE_A, SIDE_B);
    const splitAt = world.now();
    world.progress("partitioned");
    // Each half should come to see only itself.
    const idsA = new Set(sideA.map((p) => p.id));
    const idsB = new Set(sideB.map((p) => p.id));
    figures.splitMs = await scenario.timeUntil(
      () => peers,
      (states) =>
        [...states].every(([p, s]) => {
          const own = idsA.has(p.id) ? idsA : idsB;
          return [...leafIds(s)].every((id) => own.has(id));
        }),
      SPLIT_LIMIT_MS,
    );
    world.progress(`halves separated after ${figures.splitMs}`);

    // Traffic on both sides during the split; judged within each side (its own closest node).
    const trafficA = new Traffic(world, keys(80, 31), "split-a");
    const trafficB = new Traffic(world, keys(80, 32), "split-b");
    const load = { perSender: SENDS_PER_SENDER, intervalMs: 50, forMs: 30_000 };
    await Promise.all([trafficA.run(sideA.slice(0, 2), load), trafficB.run(sideB.slice(0, 2), load)]);
    // Judged within each side: during the split a side's own closest node is the right one.
    splitVerdicts = [
      judge(world, trafficA.records, new Lifecycle(), 0, sideA),
      judge(world, trafficB.records, new Lifecycle(), 0, sideB),
    ];
    wrongSide = [
      ...trafficA.records.filter(
        (r) => r.deliveredBy !== undefined && r.deliveredBy !== world.owner(r.key, sideA),
      ),
      ...trafficB.records.filter(
        (r) => r.deliveredBy !== undefined && r.deliveredBy !== world.owner(r.key, sideB),
      ),
    ].map((r) => `${r.payload} at ${r.deliveredBy}`);

    await heal(net);
    const healedAt = world.now();
    world.progress(`healed after ${Math.round(healedAt - splitAt)} ms of partition`);
    figures.mergeMs = await scenario.timeUntil(
      () => peers,
      (s) => ringConverged(s, all),
      MERGE_LIMIT_MS,
    );
    world.progress(`merged after ${figures.mergeMs}`);
    // What is missing where, when the merge did not complete (for the report).
    const endStates = await statesOf(peers);
    const missing = [...endStates].map(([p, st]) => {
      const leaves = leafIds(st);
      const absent = [...all].filter((id) => id !== p.id && !leaves.has(id));
      return `${p.options.name} lacks ${absent.length === 0 ? "nothing" : absent.map((id) => peers.find((q) => q.id === id)?.options.name).join(",")}`;
    });

    // Routing is exact again: keys sent from either side land at the closest node of the whole ring.
    const check = new Traffic(world, keys(40, 33), "healed");
    // All at once: each send is bounded by the node's 15 s acknowledgement timeout.
    const finals = await Promise.all(Array.from({ length: 40 }, (_, i) => check.sendOne(peers[i % NODES]!)));
    correctAfter.sent = finals.length;
    correctAfter.correct = finals.filter((r) => r.deliveredBy === world.owner(r.key)).length;
    figures.routedMs = world.now() - healedAt;

    const show = (ms: number | undefined, limit: number): string =>
      ms === undefined ? `NOT within ${limit / 1000} s` : `${Math.round(ms)} ms`;
    writeResults(
      "3-partition",
      [
        `## Partition and heal (${NODES} nodes split ${SIDE_A.length} / ${SIDE_B.length} with nftables drops)`,
        "",
        `Run ${new Date().toISOString()}. Halves separated (each leaf set only its own side): ${show(figures.splitMs, SPLIT_LIMIT_MS)} after the split.`,
        `Merged into one ring after the heal: ${show(figures.mergeMs, MERGE_LIMIT_MS)}. After that, ${correctAfter.correct}/${correctAfter.sent} sends delivered at the closest node of the whole ring (${Math.round(figures.routedMs)} ms after the heal).`,
        "",
        "Traffic during the split (per side):",
        "",
        verdictTable(splitVerdicts, { column: "side", names: ["A", "B"] }),
        "",
        `Delivered during the split away from the closest node of the sender's side: ${wrongSide.length}.`,
        "",
        `Leaf sets at the end: ${missing.join("; ")}.`,
        ...splitVerdicts.flatMap((v) => verdictDetails(v)),
      ].join("\n"),
    );
    console.log(
      `partition: split ${figures.splitMs}, merge ${figures.mergeMs}, after ${correctAfter.correct}/${correctAfter.sent}`,
    );
  }, 400_000);

  it("separates the halves within 30 s of the split: every leaf set holds only its own side", () => {
    expect(figures.splitMs, `leaf sets did not separate within ${SPLIT_LIMIT_MS} ms`).toBeDefined();
  });

  it("acknowledges every send on each side during the split, delivering each once at its side's closest node", () => {
    expect(splitVerdicts).toHaveLength(2);
    splitVerdicts.forEach((v, i) => {
      const side = i === 0 ? "side A" : "side B";
      expect(v.sent, side).toBe(2 * SENDS_PER_SENDER);
      expect(v.acknowledged, side).toBe(v.sent);
      expect(
        v.ackedNotOnce.map((r) => r.payload),
        side,
      ).toEqual([]);
      expect(v.duplicated, side).toBe(0);
      expect(
        v.misdelivered.map((m) => `${m.delivery.payload} at ${m.delivery.at} (closer ${m.closer})`),
        side,
      ).toEqual([]);
    });
    expect(wrongSide).toEqual([]);
  });

  it("merges the halves into one ring within 90 s of the heal", () => {
    expect(figures.mergeMs, "leaf sets did not converge over the whole ring").toBeDefined();
  });

  it("routes every key to its closest node of the whole ring after the merge", () => {
    expect(correctAfter.sent).toBe(40);
    expect(correctAfter.correct).toBe(correctAfter.sent);
  });
});
