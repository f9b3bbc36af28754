import { describe, expect, it } from "vitest";
import {
  HOP_RETRY_WINDOW_MS,
  HopDelivery,
  MAX_REROUTES,
  MAX_SAME_HOP_SENDS,
} from "../../src/routing/hop-delivery.js";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, Outbound, Refusal, RouteMessage } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const origin = nodeInfo(NodeId.fromBigInt(1n), 1);
const next = nodeInfo(NodeId.fromBigInt(2n), 2);

function message(id: string, wantAck = true): RouteMessage {
  return {
    id,
    key: NodeId.fromBigInt(9n),
    purpose: 16,
    payload: new Uint8Array(0),
    origin,
    hops: 2,
    maxHops: 9,
    wantAck,
  };
}

function hopTo(to: NodeInfo, m: RouteMessage): Outbound {
  return { to, address: to.localAddress, message: { type: "route", message: m } };
}

describe("HopDelivery: delivery and acks", () => {
  it("delivers a message once; a duplicate that wants an ack is acked again", () => {
    const hops = new HopDelivery(100, false);
    expect(hops.arrive(message("a"), false)).toEqual({ duplicate: false, ackNow: true });
    expect(hops.arrive(message("a"), false)).toEqual({ duplicate: true, ackAgain: true, refusal: undefined });
    expect(hops.arrive(message("b", false), false)).toEqual({ duplicate: false, ackNow: false });
    expect(hops.counts().delivered).toBe(2);
  });

  it("with application acks, the ack waits for the application; a duplicate meanwhile gets none", () => {
    const hops = new HopDelivery(100, true);
    expect(hops.arrive(message("a"), false)).toEqual({ duplicate: false, ackNow: false });
    expect(hops.arrive(message("a"), false)).toMatchObject({ duplicate: true, ackAgain: false });
    expect(hops.answer("a", undefined)).toEqual({ origin, hops: 2 });
    expect(hops.answer("a", undefined)).toBeUndefined();
  });

  it("a refused message's duplicate is answered with the same refusal", () => {
    const hops = new HopDelivery(100, true);
    hops.arrive(message("a"), false);
    const refusal: Refusal = { code: 8, reason: "try later" };
    hops.answer("a", refusal);
    expect(hops.arrive(message("a"), false)).toEqual({ duplicate: true, ackAgain: true, refusal });
  });

  it("an ack is sent at most 8 times in all", () => {
    const hops = new HopDelivery(100, false);
    const retries = Array.from({ length: 10 }, () => hops.retryAck("a"));
    expect(retries.filter(Boolean)).toHaveLength(7);
    expect(retries.slice(7)).toEqual([false, false, false]);
  });
});

describe("HopDelivery: failed hops", () => {
  it("the first failure resends to the same node, later ones park the hop; a live node keeps it for the window", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    const out = hopTo(next, m);
    expect(hops.hopFailed(out, m, "unknown", true, false, 1_000)).toBe("resend");
    expect(hops.retransmission(out)).toEqual({ ...out, attempt: 1 });
    expect(hops.hopFailed(out, m, "unknown", true, false, 3_000)).toBe("park");
    expect(hops.parkedHops).toBe(1);
    expect(hops.releaseParked(next.id.hex, true)).toEqual([{ ...out, attempt: 2 }]);
    expect(hops.parkedHops).toBe(0);
    expect(hops.hopFailed(out, m, "unknown", true, false, 7_000)).toBe("park");
    expect(hops.releaseParked(next.id.hex, true)).toEqual([{ ...out, attempt: 3 }]);
    // A fourth failure within the window: still not given up (the node proves alive, it is only slow).
    expect(hops.hopFailed(out, m, "unknown", true, false, 9_000)).toBe("park");
    expect(hops.releaseParked(next.id.hex, true)).toEqual([{ ...out, attempt: 4 }]);
    // The window (from the first failure) has passed: given up, not rerouted.
    expect(hops.hopFailed(out, m, "unknown", true, false, 1_000 + HOP_RETRY_WINDOW_MS)).toBe("giveUp");
    expect(hops.counts()).toMatchObject({ hopRetries: 4, hopsParked: 3 });
  });

  it("our own message's hops are retried until its deadline, not for the default window", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    const out = hopTo(next, m);
    hops.noteOwn(m, 30_000, 0);
    expect(hops.hopFailed(out, m, "unknown", true, false, 1_000)).toBe("resend");
    expect(hops.hopFailed(out, m, "unknown", true, false, 20_000)).toBe("park");
    hops.releaseParked(next.id.hex, true);
    expect(hops.hopFailed(out, m, "unknown", true, false, 30_000)).toBe("giveUp");
    const early = message("b");
    hops.noteOwn(early, 2_000, 0);
    expect(hops.hopFailed(hopTo(next, early), early, "unknown", true, false, 2_000)).toBe("giveUp");
  });

  it(`failures that come back at once give a hop up after ${MAX_SAME_HOP_SENDS} sends, window or not`, () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    const out = hopTo(next, m);
    const decisions = Array.from({ length: MAX_SAME_HOP_SENDS }, () => {
      const decision = hops.hopFailed(out, m, "unknown", true, false, 1);
      hops.releaseParked(next.id.hex, true);
      return decision;
    });
    expect(decisions.filter((d) => d === "resend" || d === "park")).toHaveLength(MAX_SAME_HOP_SENDS - 1);
    expect(decisions.at(-1)).toBe("giveUp");
  });

  it("a refused hop is routed around at once; a sure failure after routing around MAX_REROUTES times drops the message", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    expect(MAX_REROUTES).toBe(2);
    expect(hops.hopFailed(hopTo(next, m), m, "unreachable", true, false, 1)).toBe("reroute");
    expect(hops.reroutesOf("a")).toBe(1);
    expect(hops.hopFailed(hopTo(origin, m), m, "unreachable", true, false, 2)).toBe("reroute");
    expect(hops.reroutesOf("a")).toBe(2);
    expect(hops.hopFailed(hopTo(next, m), m, "unreachable", true, false, 3)).toBe("drop");
  });

  it("after routing around, a slow but live next hop gets the hop again rather than a drop", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    expect(hops.hopFailed(hopTo(next, m), m, "unreachable", true, false, 1)).toBe("reroute");
    expect(hops.hopFailed(hopTo(origin, m), m, "unknown", true, false, 2)).toBe("resend");
    expect(hops.hopFailed(hopTo(origin, m), m, "unknown", true, false, 3)).toBe("park");
    expect(hops.releaseParked(origin.id.hex, false)).toHaveLength(1);
    expect(hops.hopFailed(hopTo(next, m), m, "unknown", true, true, 4)).toBe("drop");
    expect(hops.reroutesOf("a")).toBe(2);
  });

  it("a hop to a node we found dead, or from a node not ready, is routed around", () => {
    const hops = new HopDelivery(100, false);
    expect(hops.hopFailed(hopTo(next, message("a")), message("a"), "unknown", true, true, 1)).toBe("reroute");
    expect(hops.hopFailed(hopTo(next, message("b")), message("b"), "unknown", false, false, 1)).toBe(
      "reroute",
    );
  });

  it("a hop whose end-to-end ack came is neither retried nor released", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    const out = hopTo(next, m);
    hops.hopFailed(out, m, "unknown", true, false, 1);
    hops.hopFailed(out, m, "unknown", true, false, 2);
    hops.noteAcked("a");
    expect(hops.releaseParked(next.id.hex, false)).toEqual([]);
    expect(hops.hopFailed(out, m, "unknown", true, false, 3)).toBe("ignore");
  });

  it("hops released on a death are marked routed around: a sure failure after one more detour drops them", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    const out = hopTo(next, m);
    hops.hopFailed(out, m, "unknown", true, false, 1);
    hops.hopFailed(out, m, "unknown", true, false, 2);
    expect(hops.releaseParked(next.id.hex, false)).toEqual([{ ...out, attempt: 2 }]);
    expect(hops.hopFailed(hopTo(origin, m), m, "unreachable", true, false, 3)).toBe("reroute");
    expect(hops.hopFailed(hopTo(next, m), m, "unreachable", true, false, 4)).toBe("drop");
  });

  it("a leaving node resends once, then hands the hop on; a failure after that drops it", () => {
    const hops = new HopDelivery(100, false);
    const m = message("a");
    expect(hops.hopFailedWhileLeaving(m, "unknown")).toBe("resend");
    expect(hops.hopFailedWhileLeaving(m, "unknown")).toBe("handOff");
    expect(hops.hopFailedWhileLeaving(m, "unknown")).toBe("drop");
    expect(hops.hopFailedWhileLeaving(message("b"), "unreachable")).toBe("handOff");
  });

  it("leaving releases every parked hop still wanted, and nothing stays parked", () => {
    const hops = new HopDelivery(100, false);
    for (const id of ["a", "b"]) {
      const m = message(id);
      hops.hopFailed(hopTo(next, m), m, "unknown", true, false, 1);
      hops.hopFailed(hopTo(next, m), m, "unknown", true, false, 2);
    }
    hops.noteAcked("b");
    expect(hops.releaseAllForLeaving().map((m) => m.id)).toEqual(["a"]);
    expect(hops.parkedHops).toBe(0);
  });
});
