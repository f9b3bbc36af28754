// Partition and heal: the ring is split in two, both halves carry traffic, then the split heals. The
// halves must merge into one ring again (every leaf set holds every node) and route exactly again within
// a bounded time, which is reported.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keys, type PeerProcess } from "../integration/harness.js";
import { heal, partition } from "./lib/faults.js";
import { TestNetwork } from "./lib/netns.js";
import {
  ChaosWorld,
  acquireMachineLock,
  leafIds,
  nodeOptions,
  ringConverged,
  sleep,
  startRing,
  statesOf,
  table,
  writeResults,
} from "./lib/scenario.js";
import { Lifecycle, Traffic, VERDICT_HEAD, judge, verdictCells, verdictDetails } from "./lib/traffic.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("chaos-partition");
const NODES = 8;
const SIDE_A = [0, 1, 2, 3];
const SIDE_B = [4, 5, 6, 7];
const SPLIT_LIMIT_MS = 30_000;
const MERGE_LIMIT_MS = 90_000;

const world = new ChaosWorld();
let net: TestNetwork;
let release: () => void = () => undefined;

beforeAll(async () => {
  release = await acquireMachineLock();
  net = await TestNetwork.create(NODES);
}, 420_000);

afterAll(async () => {
  await world.closeAll();
  await net?.destroy();
  release();
}, 60_000);

/** Polls until `done` holds for the states of `peers`, at most `limitMs`; returns how long it took. */
async function timeUntil(
  peers: readonly PeerProcess[],
  done: (states: Awaited<ReturnType<typeof statesOf>>) => boolean,
  limitMs: number,
): Promise<number | undefined> {
  const start = world.now();
  while (world.now() - start < limitMs) {
    const states = await statesOf(peers);
    if (states.size === peers.length && done(states)) return world.now() - start;
    await sleep(1000);
  }
  return undefined;
}

describe("partition and heal", () => {
  const figures: { splitMs?: number; mergeMs?: number; routedMs?: number } = {};
  const correctAfter = { sent: 0, correct: 0 };

  it("splits, carries traffic on both sides, heals and merges", async () => {
    const options = Array.from({ length: NODES }, (_, i) => nodeOptions(net, i, `p${i + 1}`, SECRET));
    const { peers } = await startRing(world, options);
    const all = new Set(peers.map((p) => p.id));
    const sideA = SIDE_A.map((i) => peers[i]!);
    const sideB = SIDE_B.map((i) => peers[i]!);
    const before = await timeUntil(peers, (s) => ringConverged(s, all), 30_000);
    world.progress(`ring converged before the split: ${before}`);

    await partition(net, SIDE_A, SIDE_B);
    const splitAt = world.now();
    world.progress("partitioned");
    // Each half should come to see only itself.
    const idsA = new Set(sideA.map((p) => p.id));
    const idsB = new Set(sideB.map((p) => p.id));
    figures.splitMs = await timeUntil(
      peers,
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
    await Promise.all([
      trafficA.run(sideA.slice(0, 2), { perSender: 20, intervalMs: 50, forMs: 30_000 }),
      trafficB.run(sideB.slice(0, 2), { perSender: 20, intervalMs: 50, forMs: 30_000 }),
    ]);
    // Judged within each side: during the split a side's own closest node is the right one.
    const splitVerdicts = [
      judge(world, trafficA.records, new Lifecycle(), 0, sideA),
      judge(world, trafficB.records, new Lifecycle(), 0, sideB),
    ];
    const wrongSide = [
      ...trafficA.records.filter(
        (r) => r.deliveredBy !== undefined && r.deliveredBy !== world.owner(r.key, sideA),
      ),
      ...trafficB.records.filter(
        (r) => r.deliveredBy !== undefined && r.deliveredBy !== world.owner(r.key, sideB),
      ),
    ].length;

    await heal(net);
    const healedAt = world.now();
    world.progress(`healed after ${Math.round(healedAt - splitAt)} ms of partition`);
    figures.mergeMs = await timeUntil(peers, (s) => ringConverged(s, all), MERGE_LIMIT_MS);
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
        table(
          ["side", ...VERDICT_HEAD],
          splitVerdicts.map((v, i) => [i === 0 ? "A" : "B", ...verdictCells(v)]),
        ),
        "",
        `Delivered during the split away from the closest node of the sender's side: ${wrongSide}.`,
        "",
        `Leaf sets at the end: ${missing.join("; ")}.`,
        ...splitVerdicts.flatMap((v) => verdictDetails(v)),
      ].join("\n"),
    );
    console.log(
      `partition: split ${figures.splitMs}, merge ${figures.mergeMs}, after ${correctAfter.correct}/${correctAfter.sent}`,
    );
  }, 400_000);

  it("the halves merge into one ring after the heal", () => {
    expect(figures.mergeMs, "leaf sets did not converge over the whole ring").toBeDefined();
  });

  it("routes every key to its closest node of the whole ring after the merge", () => {
    expect(correctAfter.sent).toBeGreaterThan(0);
    expect(correctAfter.correct).toBe(correctAfter.sent);
  });
});
