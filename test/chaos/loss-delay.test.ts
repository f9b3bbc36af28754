// Loss and delay: 5 % packet loss on every link between two halves of the ring and 50-200 ms of jitter on
// some links (through delaying relays), in place before the nodes start. The leaf sets must converge within
// a bound, and acknowledged delivery must complete, exactly once, at the key's closest node.
import { beforeAll, describe, expect, it } from "vitest";
import { keys } from "../integration/harness.js";
import { addLoss } from "./lib/faults.js";
import { ChaosScenario } from "./lib/preamble.js";
import { delayLink, type RelayProcess } from "./lib/relay.js";
import { divergenceOf, ringConverged, spread, startRing, writeResults } from "./lib/scenario.js";
import { Lifecycle, Traffic, judge, verdictTable, verdictDetails, type Verdict } from "./lib/traffic.js";

const NODES = 8;
const PORT = 7400;
const LOSS_PERCENT = 5;
const HALF_A = [0, 1, 2, 3];
const HALF_B = [4, 5, 6, 7];
/** Links (from node, to node) whose connections go through a 50-200 ms relay. */
const DELAYED: readonly [number, number][] = [
  [0, 4],
  [0, 5],
  [1, 6],
  [5, 2],
  [7, 3],
  [2, 3],
];
const SENDS_PER_SENDER = 30;
const CONVERGE_LIMIT_MS = 30_000;

const scenario = ChaosScenario.register("chaos-loss", NODES);
const world = scenario.world;

describe("5 % loss and 50-200 ms jitter on some links", () => {
  let verdict: Verdict;
  let wrongOwner: string[] = [];
  let convergedMs: number | undefined;
  /** When the leaf sets did not converge: how they differ from the converged ring (ringDivergence). */
  let notConverged = "";

  // The whole scenario runs here; the tests below judge what it saw. A run that breaks off fails them all.
  beforeAll(async () => {
    const net = scenario.net;
    await addLoss(net, HALF_A, HALF_B, LOSS_PERCENT);
    const relays: RelayProcess[] = [];
    for (const [from, to] of DELAYED) {
      const relay = await delayLink(net, from, `${net.node(to).address}:${PORT}`, {
        minDelayMs: 50,
        maxDelayMs: 200,
        lifetimeMs: 300_000,
      });
      relays.push(relay);
      scenario.onCleanup(() => relay.stop());
    }
    const options = scenario.nodeOptions(NODES, "l", { WENDY_TEST_PORT: String(PORT) });
    const started = world.now();
    const { peers, joinRetries } = await startRing(world, options);
    const ringMs = world.now() - started;
    const ids = new Set(peers.map((p) => p.id));
    convergedMs = await scenario.timeUntil(
      () => peers,
      (states) => ringConverged(states, ids),
      CONVERGE_LIMIT_MS,
    );
    if (convergedMs === undefined) notConverged = await divergenceOf(peers);
    world.progress(`ring of ${NODES} up in ${Math.round(ringMs)} ms; converged: ${convergedMs}`);

    const traffic = new Traffic(world, keys(400, 21), "loss");
    await traffic.run([peers[0]!, peers[2]!, peers[5]!, peers[7]!], {
      perSender: SENDS_PER_SENDER,
      intervalMs: 50,
      forMs: 120_000,
    });
    verdict = judge(world, traffic.records, new Lifecycle(), 0);
    wrongOwner = traffic.records
      .filter((r) => r.deliveredBy !== undefined && r.deliveredBy !== world.owner(r.key))
      .map((r) => `${r.payload} at ${r.deliveredBy}`);
    const latencies = traffic.records
      .filter((r) => r.deliveredBy !== undefined && r.doneAt !== undefined)
      .map((r) => r.doneAt! - r.sentAt);
    const relayed = relays.reduce((n, r) => n + (r.child.exitCode === null ? 1 : 0), 0);
    writeResults(
      "2-loss-delay",
      [
        `## Loss and delay (${NODES} nodes; ${LOSS_PERCENT} % loss on all ${HALF_A.length * HALF_B.length} links between two halves; 50-200 ms relays on ${DELAYED.length} links)`,
        "",
        `Run ${new Date().toISOString()}. Ring of ${NODES} started in ${Math.round(ringMs)} ms (joins retried: ${
          joinRetries.length === 0 ? "none" : joinRetries.join("; ")
        }); leaf sets ${convergedMs === undefined ? `NOT converged within ${CONVERGE_LIMIT_MS / 1000} s` : `converged ${Math.round(convergedMs)} ms later`}.`,
        "",
        verdictTable([verdict]),
        "",
        ...verdictDetails(verdict),
        "",
        `Send-to-ack latency: ${spread(latencies)}. Delivered away from the closest node: ${wrongOwner.length}. Relays still running at the end: ${relayed}/${relays.length}.`,
      ].join("\n"),
    );
    console.log(
      `loss-delay: sent ${verdict.sent}, acked ${verdict.acknowledged}, delivered ${verdict.delivered}, duplicated ${verdict.duplicated}, lost ${verdict.lost}, wrong owner ${wrongOwner.length}, latency ${spread(latencies)}`,
    );
  }, 300_000);

  it("converges every leaf set over the whole ring within 30 s of the last join", () => {
    expect(
      convergedMs,
      `leaf sets did not converge within ${CONVERGE_LIMIT_MS} ms: ${notConverged}`,
    ).toBeDefined();
  });

  it("acknowledged every send, delivering each exactly once", () => {
    expect(verdict.sent).toBe(4 * SENDS_PER_SENDER);
    expect(verdict.acknowledged).toBe(verdict.sent);
    expect(verdict.ackedNotOnce).toEqual([]);
    expect(verdict.duplicated).toBe(0);
  });

  it("delivered each at the numerically closest node", () => {
    expect(wrongOwner).toEqual([]);
  });
});
