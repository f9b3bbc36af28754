// Churn in the simulator: session laws, steady replacement of departures, trace replay, and the failure
// causes the simulator reports (a dead process refuses, a dead host is silent).
import { describe, expect, it } from "vitest";
import { PastryNode, type SendFailure } from "../../src/routing/node.js";
import { DEFAULT_ROUTING_CONFIG, isReportedFailure, type PeerMessage } from "../../src/routing/types.js";
import {
  Churn,
  drawLifetime,
  drawResidualLifetime,
  parseTrace,
  replayTrace,
  type LifetimeDistribution,
} from "../../src/sim/churn.js";
import { leafSetMembers, type MachineFactory } from "../../src/sim/machine.js";
import { LEAVE_DRAIN_MS } from "../../src/sim/membership.js";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Prng } from "../../src/sim/prng.js";
import { summarize } from "../../src/sim/stats.js";
import { churnedOverlay } from "./churned-overlay.js";
import { Simulator } from "../../src/sim/simulator.js";

/** A few seconds of CPU each; on a loaded 2-core machine give them room (behaviour, not timing). */
const SIM_TIMEOUT_MS = 240_000;

function draws(d: LifetimeDistribution, n: number, residual = false): number[] {
  const random = new Prng(7);
  return Array.from({ length: n }, () =>
    residual ? drawResidualLifetime(d, random) : drawLifetime(d, random),
  );
}

describe("session lengths", () => {
  it("exponential and pareto draws have the requested median (within 3 % over 20,000 draws)", () => {
    for (const d of [
      { kind: "exponential", medianMs: 60_000 },
      { kind: "pareto", medianMs: 60_000, shape: 1.5 },
    ] as const) {
      const median = summarize(draws(d, 20_000)).p50;
      expect(Math.abs(median / 60_000 - 1)).toBeLessThan(0.03);
    }
  });

  it("pareto sessions are heavy-tailed: their 99th percentile is several times the exponential one", () => {
    const exp = summarize(draws({ kind: "exponential", medianMs: 1000 }, 20_000)).p99;
    const par = summarize(draws({ kind: "pareto", medianMs: 1000, shape: 1.5 }, 20_000)).p99;
    expect(par / exp).toBeGreaterThan(3);
  });

  it("remaining lifetimes of a steady population: exponential keeps its median, pareto's grows", () => {
    const exp = summarize(draws({ kind: "exponential", medianMs: 1000 }, 20_000, true)).p50;
    expect(Math.abs(exp / 1000 - 1)).toBeLessThan(0.03);
    const par = summarize(draws({ kind: "pareto", medianMs: 1000, shape: 1.5 }, 20_000, true)).p50;
    expect(par).toBeGreaterThan(1500);
  });

  it("refuses a non-positive median and a pareto shape of 1 or less", () => {
    const sim = new Simulator({ seed: 1, createMachine: createPastryMachine });
    expect(() => new Churn(sim, { lifetime: { kind: "exponential", medianMs: 0 } }, new Prng(1))).toThrow(
      /median session/,
    );
    expect(
      () => new Churn(sim, { lifetime: { kind: "pareto", medianMs: 10, shape: 1 } }, new Prng(1)),
    ).toThrow(/shape must be > 1/);
    expect(
      () =>
        new Churn(sim, { lifetime: { kind: "exponential", medianMs: 10 }, crashFraction: 2 }, new Prng(1)),
    ).toThrow(/crashFraction/);
  });
});

describe("churn trace files", () => {
  it("parses join, leave and crash lines, skipping comments and blank lines", () => {
    const events = parseTrace("# a trace\n0 join a\n0.5 join b\n\n2 leave a\n3.25 crash b\n4 join a\n");
    expect(events.map((e) => [e.atMs, e.verb, e.name, e.line])).toEqual([
      [0, "join", "a", 2],
      [500, "join", "b", 3],
      [2000, "leave", "a", 5],
      [3250, "crash", "b", 6],
      [4000, "join", "a", 7],
    ]);
  });

  it.each([
    ["0 join a\n1 join a\n", /line 2: "a" joins while already in/],
    ["0 join a\n1 leave b\n", /line 2: "b" departs without having joined/],
    ["5 join a\n1 join b\n", /line 2: time 1 s goes back before 5 s/],
    ["0 hop a\n", /line 1: unknown event "hop"/],
    ["-1 join a\n", /line 1: time "-1" is not a non-negative decimal/],
    ["0 join\n", /line 1: expected "<seconds> <join\|leave\|crash> <name>"/],
  ])("rejects %j with a clear error", (text, error) => {
    expect(() => parseTrace(text)).toThrow(error);
  });

  it(
    "replays a trace: its nodes join, leave and crash at the written times",
    () => {
      const sim = new Simulator({ seed: 3, createMachine: createPastryMachine });
      const lines = ["0 join n0"];
      for (let i = 1; i < 12; i++) lines.push(`${(i * 0.2).toFixed(1)} join n${i}`);
      lines.push("10 leave n3", "11 crash n5", "12 join n3");
      const end = replayTrace(sim, parseTrace(lines.join("\n")), new Prng(4));
      expect(end).toBe(12_000);
      sim.runFor(20_000);
      expect(sim.nodeCount).toBe(13);
      expect(sim.node(3).state).toBe("left");
      expect(sim.node(3).endedAt).toBe(10_000);
      expect(sim.node(5).state).toBe("crashed");
      expect(sim.node(12).state).toBe("ready");
      expect(sim.truth.size).toBe(11);
    },
    SIM_TIMEOUT_MS,
  );
});

describe("steady churn", () => {
  it(
    "replaces every departure with an arrival (steady population), mixes crashes of both kinds and leaves, and is reproducible from its seed",
    () => {
      const { sim, churn, observer } = churnedOverlay(11, 60, 40_000);
      const departed = churn.departed();
      const total = departed.leave + departed.process + departed.host;
      // 60 nodes with 15 s median sessions for 40 s: about 60 * ln 2 / 15 * 40 = 111 departures.
      expect(total).toBeGreaterThan(60);
      expect(departed.leave).toBeGreaterThan(0);
      expect(departed.process).toBeGreaterThan(0);
      expect(departed.host).toBeGreaterThan(0);
      expect(churn.arrivals).toBe(total);
      expect(sim.liveNodes().length).toBe(60);
      const totals = observer.finish();
      expect(totals.deliveredWrong).toBe(0);
      expect(totals.windows.length).toBe(4);
      expect(totals.repairsTracked).toBeGreaterThan(0);

      const again = churnedOverlay(11, 60, 40_000);
      expect(again.sim.events).toBe(sim.events);
      expect(again.churn.departed()).toEqual(departed);
    },
    SIM_TIMEOUT_MS,
  );
});

describe("failure causes reported to the machines", () => {
  function recordingFactory(
    seen: { message: PeerMessage; cause: SendFailure | undefined }[],
  ): MachineFactory {
    return (self, options) => {
      const node = new PastryNode(self, options);
      const original = node.sendFailed.bind(node);
      node.sendFailed = (out, now, cause) => {
        seen.push({ message: out.message, cause });
        original(out, now, cause);
      };
      return node;
    };
  }

  function crashAndWait(
    kind: "process" | "host",
  ): { message: PeerMessage; cause: SendFailure | undefined }[] {
    const seen: { message: PeerMessage; cause: SendFailure | undefined }[] = [];
    const sim = new Simulator({ seed: 5, createMachine: recordingFactory(seen) });
    sim.grow(30, { growth: 1, spreadMs: 500 });
    sim.runFor(3000);
    seen.length = 0;
    for (const victim of sim.readyNodes().slice(0, 3)) sim.crash(victim.index, kind);
    sim.scheduleTraffic(200, 2000);
    sim.runFor(10_000);
    return seen;
  }

  it(
    "a crashed process's peers learn 'unreachable', a crashed host's only 'unknown'; only the failures the runtime reports reach the core",
    () => {
      const refused = crashAndWait("process");
      expect(refused.length).toBeGreaterThan(0);
      expect(refused.every((f) => f.cause === "unreachable")).toBe(true);
      const silent = crashAndWait("host");
      expect(silent.length).toBeGreaterThan(0);
      expect(silent.every((f) => f.cause === "unknown")).toBe(true);
      for (const f of [...refused, ...silent]) expect(isReportedFailure(f.message)).toBe(true);
    },
    SIM_TIMEOUT_MS,
  );

  function timeToForget(kind: "process" | "host"): number {
    const sim = new Simulator({ seed: 9, createMachine: createPastryMachine });
    sim.grow(40, { growth: 1, spreadMs: 500 });
    sim.runFor(5000);
    const victim = sim.readyNodes()[7]!;
    sim.crash(victim.index, kind);
    const crashedAt = sim.now;
    const named = (): boolean =>
      sim.readyNodes().some((n) => leafSetMembers(n.machine).some((m) => m.id.equals(victim.info.id)));
    expect(sim.runUntilCondition(() => !named(), 30_000, 10)).toBe(true);
    return sim.now - crashedAt;
  }

  it(
    "a crashed process's neighbours see their connections break and drop it from every leaf set before a silent host's failure timeout",
    () => {
      const failureTimeoutMs = DEFAULT_ROUTING_CONFIG.failureTimeoutMs;
      expect(timeToForget("process")).toBeLessThan(failureTimeoutMs);
      expect(timeToForget("host")).toBeGreaterThan(failureTimeoutMs);
    },
    SIM_TIMEOUT_MS,
  );
});

describe("a node that left drains its calls", () => {
  it(
    "failures of its calls reach it only within the drain, and its lost leave notices are sent again, at most twice",
    () => {
      const failures: { node: string; at: number; attempt: number; type: string }[] = [];
      const sim = new Simulator({
        seed: 11,
        network: { lossProbability: 0.3 },
        createMachine: (self, options) => {
          const node = new PastryNode(self, options);
          const original = node.sendFailed.bind(node);
          node.sendFailed = (out, now, cause) => {
            failures.push({ node: self.id.hex, at: now, attempt: out.attempt ?? 0, type: out.message.type });
            original(out, now, cause);
          };
          return node;
        },
      });
      sim.grow(30, { growth: 1, spreadMs: 500, finalTimeoutMs: 60_000 });
      sim.runFor(3000);
      const leavers = sim.readyNodes().slice(0, 5);
      const leftAt = sim.now;
      for (const leaver of leavers) sim.leave(leaver.index);
      sim.runFor(10_000);
      const hexes = new Set(leavers.map((n) => n.info.id.hex));
      const afterLeave = failures.filter((f) => hexes.has(f.node) && f.at >= leftAt);
      expect(afterLeave.every((f) => f.at < leftAt + LEAVE_DRAIN_MS)).toBe(true);
      const leaves = afterLeave.filter((f) => f.type === "leave");
      expect(leaves.some((f) => f.attempt === 0)).toBe(true);
      expect(leaves.some((f) => f.attempt === 1)).toBe(true);
      expect(leaves.every((f) => f.attempt <= 2)).toBe(true);
    },
    SIM_TIMEOUT_MS,
  );
});
