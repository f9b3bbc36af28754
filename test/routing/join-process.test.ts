import { describe, expect, it } from "vitest";
import { routingConfig } from "../../src/routing/config.js";
import { NodeId } from "../../src/routing/id.js";
import { JoinProcess, withinHalfOfEachOther } from "../../src/routing/join.js";
import { LeafSet } from "../../src/routing/leaf-set.js";
import type { NodeInfo, Outbound, RouteMessage } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const config = routingConfig({
  joinTimeoutMs: 1000,
  maxPendingMessages: 2,
  pauseThresholdMs: 500,
  leafSetSize: 8,
});
const at = (n: bigint): NodeInfo => nodeInfo(NodeId.fromBigInt(n << 100n), Number(n));
const self = at(100n);
const seedAddress = (out: Outbound | undefined): string | undefined => out?.address;

function message(id: string): RouteMessage {
  return {
    id,
    key: self.id,
    purpose: 16,
    payload: new Uint8Array(0),
    origin: self,
    hops: 0,
    maxHops: 9,
    wantAck: false,
  };
}

describe("JoinProcess", () => {
  it("tries the seeds round-robin from the one the random source picks, each twice, then gives up", () => {
    const join = new JoinProcess(self, config);
    const seeds = ["a:1", "b:1", "c:1"];
    const tried = [seedAddress(join.start(seeds, 0, { next: () => 0.5 }))];
    for (let i = 0; i < 6; i++) tried.push(seedAddress(join.retry(0)));
    expect(tried).toEqual(["b:1", "c:1", "a:1", "b:1", "c:1", "a:1", undefined]);
  });

  it("the join deadline is one join timeout after each attempt, and can be extended", () => {
    const join = new JoinProcess(self, config);
    join.start(["a:1"], 0, { next: () => 0 });
    expect(join.timedOut(999)).toBe(false);
    expect(join.timedOut(1000)).toBe(true);
    join.extendDeadline(1000);
    expect(join.timedOut(1999)).toBe(false);
  });

  it("holds messages up to maxPendingMessages and hands them back on ready, then joins held meanwhile", () => {
    const join = new JoinProcess(self, config);
    expect([join.hold(message("1")), join.hold(message("2")), join.hold(message("3"))]).toEqual([
      true,
      true,
      false,
    ]);
    join.holdJoin(at(7n), 2);
    const held = join.ready();
    expect(held.messages.map((m) => m.id)).toEqual(["1", "2"]);
    expect(held.joins).toEqual([{ joiner: at(7n), hops: 2 }]);
    expect(join.heldMessages).toBe(0);
  });

  it("keeps proximity probes until the final join state, then hands them back once", () => {
    const join = new JoinProcess(self, config);
    join.start(["a:1"], 0, { next: () => 0 });
    join.defer(at(3n));
    expect(join.finalStateReceived).toBe(false);
    expect(join.finalStateArrived()).toEqual([at(3n)]);
    expect(join.finalStateReceived).toBe(true);
    expect(join.finalStateArrived()).toEqual([]);
  });

  it("a failed join state is sent again at most twice more", () => {
    const join = new JoinProcess(self, config);
    const out: Outbound = { to: at(5n), address: "x", message: { type: "heartbeat" } };
    for (let i = 0; i < 4; i++) join.resendLater(out);
    expect(join.takeResends()).toEqual([out, out]);
    expect(join.takeResends()).toEqual([]);
  });

  it("notices a pause only when ready and the input comes more than pauseThresholdMs after the last tick", () => {
    const join = new JoinProcess(self, config);
    expect(join.pausedUntil(10_000, true)).toBe(false);
    join.ticked(1000);
    expect(join.pausedUntil(1500, true)).toBe(false);
    expect(join.pausedUntil(1501, true)).toBe(true);
    expect(join.pausedUntil(1501, false)).toBe(false);
    join.beginRevalidation(1501);
    expect(join.revalidating).toBe(true);
    expect(join.finalStateReceived).toBe(true);
    expect(join.timedOut(1e12)).toBe(false);
    join.ready();
    expect(join.revalidating).toBe(false);
  });

  it("introduces a new joiner only to recent joiners within half a leaf set of it", () => {
    const join = new JoinProcess(self, config);
    const leaf = new LeafSet(self, config.leafSetSize);
    // Four members on each side: 99..96 on the left, 101..104 on the right.
    const [a, b, far] = [at(101n), at(102n), at(96n)];
    for (const n of [a, b, far, at(99n), at(98n), at(97n), at(103n), at(104n)]) leaf.insert(n);
    expect(join.joinersToIntroduce(a, leaf, 0)).toEqual([]);
    expect(join.joinersToIntroduce(far, leaf, 10)).toEqual([]);
    expect(join.joinersToIntroduce(b, leaf, 20)).toEqual([a]);
    expect(withinHalfOfEachOther(leaf, a, b)).toBe(true);
    expect(withinHalfOfEachOther(leaf, far, a)).toBe(false);
  });
});
