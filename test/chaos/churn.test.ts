// Churn: 16 nodes under steady acknowledged traffic while, every few seconds, a node is killed, frozen and
// thawed, or gracefully stopped, and a new or restarted node joins. Every acknowledged message must be
// delivered exactly once at the node that acknowledged it, and nowhere else except at a node that was
// killed or frozen while it was in flight (delivered, then failed before its ack: delivery is at most once
// per node), never at a node while a settled node was closer to its key, and no process may die that the
// test did not end. Every join during the churn must complete, and the ring must converge again and route
// exactly afterwards. The first step kills the owner of the second message's key (c5) as traffic starts.
import { beforeAll, describe, expect, it } from "vitest";
import { keys, type PeerProcess } from "../integration/harness.js";
import type { NodeState } from "../integration/fixtures/protocol.js";
import { restart } from "./lib/faults.js";
import { ChaosScenario, applyFault, faultTimeline, unexpectedExits } from "./lib/preamble.js";
import {
  divergenceOf,
  leafIds,
  ringConverged,
  sleep,
  spread,
  startRing,
  statesOf,
  table,
  withTimeout,
  writeResults,
} from "./lib/scenario.js";
import { Lifecycle, Traffic, judge, verdictTable, verdictDetails, type Verdict } from "./lib/traffic.js";

const INITIAL = 16;
const SPARE = 4;
/** Nodes 0..3 send the traffic and are never faulted, so a lost ack is never the origin's death. */
const SENDERS = 4;
const STEPS = 12;
const STEP_MS = 5000;
const FREEZE_MS = 4000;
const SETTLE_MS = 3000;
const RECOVERY_LIMIT_MS = 30_000;
/** A join started during the churn that has neither completed nor failed this long after the churn ends. */
const JOIN_SETTLE_MS = 30_000;
const FINAL_SENDS = 64;

const scenario = ChaosScenario.register("chaos-churn", INITIAL + SPARE);
const world = scenario.world;
const lifecycle = new Lifecycle();

/** A condition on the ring the monitor waits for; `since` is when the fault happened. */
interface Recovery {
  readonly what: string;
  readonly since: number;
  readonly done: (states: Map<PeerProcess, NodeState>) => boolean;
  took?: number;
}

describe("churn under steady traffic", () => {
  let verdict: Verdict;
  const recoveries: Recovery[] = [];
  const joinTimes: number[] = [];
  let finalConvergenceMs: number | undefined;
  /** When the ring did not converge: how it differs from the converged ring (ringDivergence). */
  let notConverged = "";
  const finalCheck = { sent: 0, correct: 0 };
  const exitedUnasked: string[] = [];
  const startRetries: string[] = [];
  /** Joins and restarts started during the churn, and those that failed or never settled. */
  const joinsStarted: string[] = [];
  const joinFailures: string[] = [];

  // The whole scenario runs here; the tests below judge what it saw. A run that breaks off fails them all.
  beforeAll(async () => {
    const options = scenario.nodeOptions(INITIAL + SPARE, "c");
    const { peers: ring, joinRetries } = await startRing(world, options.slice(0, INITIAL));
    startRetries.push(...joinRetries);
    const senders = ring.slice(0, SENDERS);
    const stableSeeds = senders.slice(0, 2).map((p) => p.address);
    const traffic = new Traffic(world, keys(4000, 11), "churn");
    const trafficDone = traffic.run(senders, {
      perSender: 2000,
      intervalMs: 100,
      forMs: STEPS * STEP_MS,
    });

    // The monitor: polls every live, unfrozen node once a second and times each pending recovery.
    const frozen = new Set<PeerProcess>();
    let monitoring = true;
    const monitor = (async () => {
      while (monitoring) {
        const watched = world.live().filter((p) => !frozen.has(p) && p.readyOrder !== undefined);
        const states = await statesOf(watched);
        for (const r of recoveries)
          if (r.took === undefined && r.done(states)) r.took = world.now() - r.since;
        await sleep(1000);
      }
    })();
    const inAllLeafSets = (id: string, present: boolean) => (states: Map<PeerProcess, NodeState>) =>
      [...states].every(([p, s]) => p.id === id || leafIds(s).has(id) === present);

    const ended: PeerProcess[] = [];
    let spare = INITIAL;
    const churnable = (): PeerProcess[] =>
      world.live().filter((p) => !senders.includes(p) && !frozen.has(p) && p.readyOrder !== undefined);
    const actions = ["kill", "freeze", "join", "stop", "join", "freeze"] as const;
    /** Each join started during the churn, settled once it completed or failed. */
    const joins: { what: string; settled: Promise<void> }[] = [];
    for (let step = 0; step < STEPS; step++) {
      const stepStarted = world.now();
      const action = actions[step % actions.length]!;
      world.progress(`step ${step}: ${action}; ${traffic.records.length} sent so far`);
      const candidates = churnable();
      const victim = candidates[(step * 7) % candidates.length];
      if (action !== "join" && victim !== undefined) {
        await applyFault(action, victim, { world, lifecycle, frozen }, FREEZE_MS);
        if (action !== "freeze") ended.push(victim);
        recoveries.push({
          what: `${action === "freeze" ? "thaw" : action} ${victim.options.name}`,
          since: world.now(),
          done: inAllLeafSets(victim.id, action === "freeze"),
        });
      } else if (action === "join") {
        // Alternate: bring back an ended node under its own name, or a brand-new node.
        const comeback = step % 4 === 2 ? ended.shift() : undefined;
        const started = world.now();
        const joiner =
          comeback !== undefined
            ? restart(world, comeback, stableSeeds)
            : spare < INITIAL + SPARE
              ? world.start({ ...options[spare++]!, seeds: stableSeeds })
              : undefined;
        if (joiner !== undefined) {
          // The join completes in the background: a failed join does not stop the churn, it fails its test.
          const what = `${comeback !== undefined ? "restart" : "join"} ${joiner.options.name}`;
          const settled = joiner.ready.then(
            () => {
              joinTimes.push(world.now() - started);
              recoveries.push({ what, since: started, done: inAllLeafSets(joiner.id, true) });
            },
            (error: Error) => void joinFailures.push(`${what}: ${error.message}`),
          );
          joins.push({ what, settled });
          joinsStarted.push(what);
        }
      }
      await sleep(Math.max(0, STEP_MS - (world.now() - stepStarted)));
    }
    traffic.stop();
    await trafficDone;
    // Every join gets its outcome: one still pending after the churn and a grace period is a failure too.
    await Promise.all(
      joins.map(async ({ what, settled }) => {
        if ((await withTimeout(settled, JOIN_SETTLE_MS)) === "timeout")
          joinFailures.push(`${what}: neither ready nor failed ${JOIN_SETTLE_MS} ms after the churn`);
      }),
    );

    world.progress(`churn over; ${traffic.records.length} sent; waiting for the ring to converge`);
    // Quiet period: the ring of the nodes still running must converge again.
    finalConvergenceMs = await scenario.timeUntil(
      () => world.live(),
      (states, live) => ringConverged(states, new Set(live.map((p) => p.id))),
      RECOVERY_LIMIT_MS,
    );
    if (finalConvergenceMs === undefined) notConverged = await divergenceOf(world.live());
    monitoring = false;
    await monitor;

    // After convergence routing must be exact again: every key to its closest live node.
    const check = new Traffic(world, keys(FINAL_SENDS, 12), "after-churn");
    // All at once: each send is bounded by the node's 15 s acknowledgement timeout.
    const finals = await Promise.all(
      Array.from({ length: FINAL_SENDS }, (_, i) => check.sendOne(senders[i % SENDERS]!)),
    );
    finalCheck.sent = finals.length;
    finalCheck.correct = finals.filter(
      (r) => r.deliveredBy !== undefined && r.deliveredBy === world.owner(r.key),
    ).length;

    exitedUnasked.push(...unexpectedExits(world.peers, lifecycle));
    verdict = judge(world, traffic.records, lifecycle, SETTLE_MS);

    const faults = faultTimeline(lifecycle);
    writeResults(
      "1-churn",
      [
        "## Churn (16 nodes, kill / freeze 4 s / graceful stop / join / restart every 5 s)",
        "",
        `Run ${new Date().toISOString()}; ${STEPS} steps; 4 senders, one acknowledged send each per 100 ms.`,
        "",
        verdictTable([verdict]),
        "",
        table(
          ["fault or join", "recovered after"],
          recoveries.map((r) => [
            r.what,
            r.took === undefined ? `not within the run` : `${Math.round(r.took)} ms`,
          ]),
        ),
        "",
        `Join time (start to ready): ${spread(joinTimes)}. Ring converged again ${
          finalConvergenceMs === undefined ? "NOT within 30 s" : `${Math.round(finalConvergenceMs)} ms`
        } after the churn ended; afterwards ${finalCheck.correct}/${finalCheck.sent} sends delivered at the closest live node.`,
        `Joins during the churn that failed: ${joinFailures.length === 0 ? "none" : joinFailures.join("; ")}.`,
        `Joins retried while starting the ring: ${startRetries.length === 0 ? "none" : startRetries.join("; ")}.`,
        `Processes that died without being ended by the test: ${exitedUnasked.length === 0 ? "none" : exitedUnasked.join(", ")}.`,
        "",
        `Events: ${faults.join("; ")}.`,
        ...verdictDetails(verdict),
      ].join("\n"),
    );
    console.log(
      `churn: sent ${verdict.sent}, acked ${verdict.acknowledged}, delivered ${verdict.delivered}, duplicated ${verdict.duplicated} (after the deliverer failed: ${verdict.redeliveredAfterFailure.length}), misdelivered ${verdict.misdelivered.length}, lost ${verdict.lost}; recoveries ${recoveries.map((r) => `${r.what}=${r.took === undefined ? "none" : Math.round(r.took)}`).join(" ")}; converged ${finalConvergenceMs}`,
    );
  }, 360_000);

  it("delivered every acknowledged message once at the node that acknowledged it, elsewhere only at a node that failed", () => {
    expect(verdict.acknowledged).toBeGreaterThan(0);
    expect(verdict.ackedNotOnce.map((r) => r.payload)).toEqual([]);
  });

  it("never delivered a message while a settled, undisturbed node was closer to its key", () => {
    expect(
      verdict.misdelivered.map((m) => `${m.delivery.payload}@${m.delivery.at} (closer ${m.closer})`),
    ).toEqual([]);
  });

  it("kept every process up that the test did not end", () => {
    expect(exitedUnasked).toEqual([]);
  });

  it("completed every join and restart started during the churn", () => {
    expect(joinsStarted.length).toBeGreaterThan(0);
    expect(joinFailures).toEqual([]);
    expect(joinTimes).toHaveLength(joinsStarted.length);
  });

  it("converged into one ring again within 30 s and routes exactly after the churn", () => {
    expect(
      finalConvergenceMs,
      `no convergence within ${RECOVERY_LIMIT_MS} ms: ${notConverged}`,
    ).toBeDefined();
    expect(finalCheck.sent).toBe(FINAL_SENDS);
    expect(finalCheck.correct).toBe(finalCheck.sent);
  });
});
