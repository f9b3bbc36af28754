// The join rules of docs/configuration.md, on the join loop with scripted seeds (no network).
import { describe, expect, it } from "vitest";
import { planJoin, runJoinLoop, type JoinLoopOptions } from "../../src/server/daemon/join.js";

const quiet = { info: () => undefined, warn: () => undefined };

describe("planJoin", () => {
  it("drops this node's own local or global address, comparing hosts without case", () => {
    const plan = planJoin(
      ["Wendy-0.headless:7070", "wendy-1.headless:7070", "wendy-2.headless:7070", "10.0.0.9:7070"],
      ["wendy-0.HEADLESS:7070", "10.0.0.9:7070"],
    );
    expect(plan).toEqual({ others: ["wendy-1.headless:7070", "wendy-2.headless:7070"], founder: true });
  });

  it("makes only the first seed a founder; the same host on another port is another node", () => {
    expect(planJoin(["a:1", "b:1"], ["b:1"]).founder).toBe(false);
    expect(planJoin(["a:1", "b:1"], ["a:2"])).toEqual({ others: ["a:1", "b:1"], founder: false });
    expect(planJoin(["a:1"], ["a:1"])).toEqual({ others: [], founder: true });
  });
});

/** A scripted world: `serving(round)` says which seeds answer in each round; joins succeed unless told. */
function world(serving: (round: number) => string[], joinFails: (round: number) => boolean = () => false) {
  const checked: string[][] = [];
  const joins: string[][] = [];
  const abort = new AbortController();
  let seedCount = 1;
  let checks = 0;
  // The loop checks every other seed once per round, so the round is the number of checks so far / seeds.
  const round = (): number => Math.floor(checks / seedCount);
  const options = (seeds: string[], founder: boolean): JoinLoopOptions => {
    seedCount = Math.max(1, seeds.length);
    return {
      plan: { others: seeds, founder },
      isServing: async (seed) => {
        const r = round();
        checks++;
        (checked[r] ??= []).push(seed);
        return serving(r).includes(seed);
      },
      join: async (available) => {
        joins.push([...available]);
        if (joinFails(round() - 1)) throw new Error("join timed out");
      },
      signal: abort.signal,
      log: quiet,
      pauseMs: 0,
    };
  };
  return { checked, joins, abort, options, round };
}

describe("runJoinLoop", () => {
  it("the first seed founds the ring when no other seed serves in the first full round", async () => {
    const w = world(() => []);
    expect(await runJoinLoop(w.options(["b:1", "c:1"], true))).toBe("founded");
    expect(w.checked).toEqual([["b:1", "c:1"]]);
    expect(w.joins).toEqual([]);
  });

  it("the first seed joins an existing ring instead when another seed serves (a restarted pod 0)", async () => {
    const w = world(() => ["c:1"]);
    expect(await runJoinLoop(w.options(["b:1", "c:1"], true))).toBe("joined");
    expect(w.joins).toEqual([["c:1"]]);
  });

  it("a founder with no other seeds founds at once", async () => {
    const w = world(() => []);
    expect(await runJoinLoop(w.options([], true))).toBe("founded");
  });

  it("other nodes keep going round until a seed serves, and join only through serving ones, in order", async () => {
    const w = world((round) => (round < 3 ? [] : ["c:1", "a:1"]));
    expect(await runJoinLoop(w.options(["a:1", "b:1", "c:1"], false))).toBe("joined");
    expect(w.checked).toHaveLength(4);
    expect(w.joins).toEqual([["a:1", "c:1"]]);
  });

  it("a failed join is retried in a later round", async () => {
    const w = world(
      () => ["a:1"],
      (round) => round < 2,
    );
    expect(await runJoinLoop(w.options(["a:1"], false))).toBe("joined");
    expect(w.joins).toHaveLength(3);
  });

  it("stops when the daemon stops, without founding", async () => {
    const w = world(() => []);
    const loop = runJoinLoop(w.options(["a:1"], false));
    while (w.round() < 2) await new Promise((resolve) => setTimeout(resolve, 1));
    w.abort.abort();
    expect(await loop).toBe("stopped");
    expect(w.joins).toEqual([]);
  });
});
