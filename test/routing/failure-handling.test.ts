// Failure detection that survives overload: probe retries with RTT-adaptive timeouts, any contact (or an
// acknowledged call) as proof of life, hearsay that does not kill, refuted and reinstated deaths, and
// coalesced leaf-set pushes. Driven input by input on machines of a small quiet overlay.
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

function sends(outputs: readonly Output[]): { to: NodeInfo | undefined; message: PeerMessage }[] {
  return outputs.flatMap((o) => (o.type === "send" ? [{ to: o.out.to, message: o.out.message }] : []));
}

/** `size` ready nodes with l = 8, built from the given seeds. */
function ringOf(size: number, seed: number): Overlay {
  const overlay = new Overlay({ leafSetSize: 8 }, seed);
  const random = seededRandom(seed + 1);
  overlay.bootstrap(randomId(random));
  for (let i = 1; i < size; i++) overlay.join(randomId(random));
  return overlay;
}

/** Seven ready nodes, l = 8: every node has every other in its leaf set. Returns a node and its successor. */
function pair(): { overlay: Overlay; a: PastryNode; b: PastryNode; c: PastryNode } {
  const overlay = ringOf(7, 21);
  const a = overlay.live()[0]!;
  const successor = a.leafSet().right[0]!;
  const b = overlay.live().find((n) => n.self.id.equals(successor.id))!;
  const c = overlay.live().find((n) => n !== a && n !== b)!;
  a.takeOutputs();
  return { overlay, a, b, c };
}

function inLeafSet(node: PastryNode, peer: PastryNode): boolean {
  const { left, right } = node.leafSet();
  return [...left, ...right].some((n) => n.id.equals(peer.self.id));
}

/** Makes `a` suspect `b` (a heartbeat to it failed) at time `at`. */
function suspect(a: PastryNode, b: PastryNode, at: number): void {
  a.sendFailed({ to: b.self, address: b.self.localAddress, message: { type: "heartbeat" } }, at);
}

/** Ticks `node` from `from` to `to` every 100 ms; returns the probes it sent to `peer`. */
function tickProbes(node: PastryNode, peer: PastryNode, from: number, to: number): number[] {
  const at: number[] = [];
  for (let t = from; t <= to; t += 100) {
    node.tick(t);
    for (const s of sends(node.takeOutputs()))
      if (s.message.type === "probe" && s.to?.id.equals(peer.self.id)) at.push(t);
  }
  return at;
}

describe("failure detection under overload", () => {
  it("a silent peer is probed three times, each attempt waiting longer, before it is declared dead", () => {
    const { a, b } = pair();
    const base = 100_000;
    suspect(a, b, base);
    expect(sends(a.takeOutputs()).filter((s) => s.message.type === "probe")).toHaveLength(1);
    const retries = tickProbes(a, b, base + 100, base + 10_000);
    expect(retries).toEqual([base + 500, base + 1_500]);
    expect(inLeafSet(a, b)).toBe(false);
  });

  it("an answer to an earlier attempt, arriving late, keeps the peer", () => {
    const { a, b } = pair();
    const base = 100_000;
    suspect(a, b, base);
    a.takeOutputs();
    expect(tickProbes(a, b, base + 100, base + 1_000)).toEqual([base + 500]);
    a.receive(b.self, { type: "probeReply", echoSentAt: base, leafSet: [], ready: true }, base + 1_100);
    // Heard from at base + 1100: no further probe until it is silent for failureTimeoutMs again.
    expect(tickProbes(a, b, base + 1_200, base + 3_500)).toEqual([]);
    expect(inLeafSet(a, b)).toBe(true);
    expect(a.stats().suspects).toBe(0);
  });

  it("probe timeouts follow the measured round-trip time (srtt + 4 rttvar), never below probeTimeoutMs", () => {
    const { a, b } = pair();
    const base = 100_000;
    for (const rtt of [900, 1_100, 1_000, 1_000]) a.reportRtt(b.self, rtt, base);
    suspect(a, b, base);
    a.takeOutputs();
    const retries = tickProbes(a, b, base + 100, base + 3_000);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toBeGreaterThanOrEqual(base + 1_100);
  });

  it("an acknowledged call (heardFrom) or any message answers a liveness probe and clears suspicion", () => {
    const { a, b, c } = pair();
    suspect(a, b, 100_000);
    suspect(a, c, 100_000);
    expect(a.stats()).toMatchObject({ suspects: 2, outstandingProbes: 2 });
    a.heardFrom(b.self, 100_200);
    a.receive(c.self, { type: "heartbeat" }, 100_200);
    expect(a.stats()).toMatchObject({ suspects: 0, outstandingProbes: 0 });
    a.takeOutputs();
    expect(tickProbes(a, b, 100_300, 102_600)).toEqual([]);
    expect(inLeafSet(a, b) && inLeafSet(a, c)).toBe(true);
  });

  it("a death reported by a third party does not drop a node heard from directly just now: it is probed", () => {
    const { a, b, c } = pair();
    a.heardFrom(b.self, 100_000);
    a.takeOutputs();
    a.receive(c.self, { type: "leafSet", leafSet: [a.self], removed: [b.self.id] }, 100_500);
    expect(inLeafSet(a, b)).toBe(true);
    expect(sends(a.takeOutputs()).some((s) => s.message.type === "probe" && s.to === b.self)).toBe(true);
    // Not heard from for longer than the window: the report is believed.
    a.receive(c.self, { type: "leafSet", leafSet: [], removed: [c.self.id] }, 200_000);
    expect(inLeafSet(a, c)).toBe(true);
    const d = a.leafSet().left.find((n) => !n.id.equals(b.self.id) && !n.id.equals(c.self.id))!;
    a.receive(c.self, { type: "leafSet", leafSet: [a.self], removed: [d.id] }, 200_000);
    expect([...a.leafSet().left, ...a.leafSet().right].some((n) => n.id.equals(d.id))).toBe(false);
  });

  it("a death heard from a member is forgotten when that member names the node again: it is probed, not ignored", () => {
    const { overlay, a, c } = pair();
    const others = overlay.live().filter((n) => n !== a && n !== c);
    const d = others[0]!;
    const e = others[1]!;
    // c pushes d's death (a has not heard from d lately): a drops it, and would ignore gossip naming it for a while.
    a.receive(c.self, { type: "leafSet", leafSet: [a.self], removed: [d.self.id] }, 200_000);
    expect(inLeafSet(a, d)).toBe(false);
    a.takeOutputs();
    const probesTo = (node: PastryNode): number =>
      sends(a.takeOutputs()).filter((s) => s.message.type === "probe" && s.to?.id.equals(node.self.id))
        .length;
    // Another member naming d may have sent its leaf set before it heard of the death: still ignored.
    a.receive(e.self, { type: "leafSet", leafSet: [d.self], removed: [] }, 200_100);
    expect(probesTo(d)).toBe(0);
    // The reporter itself naming d took it back since (d refuted the death to it): d is probed at once.
    a.receive(c.self, { type: "leafSet", leafSet: [d.self], removed: [] }, 200_200);
    expect(probesTo(d)).toBe(1);
    a.receive(d.self, { type: "probeReply", echoSentAt: 200_200, leafSet: [], ready: true }, 200_300);
    expect(inLeafSet(a, d)).toBe(true);
  });

  it("a node told of its own death refutes it by pushing its leaf set to every member", () => {
    const { b, c } = pair();
    b.takeOutputs();
    b.receive(c.self, { type: "leafSet", leafSet: [], removed: [b.self.id] }, 100_000);
    const pushed = sends(b.takeOutputs()).filter((s) => s.message.type === "leafSet");
    const members = new Set([...b.leafSet().left, ...b.leafSet().right].map((n) => n.id.hex));
    expect(new Set(pushed.map((s) => s.to?.id.hex))).toEqual(members);
  });

  it("a node found dead that talks to us directly is reinstated, and later joiners are not told it died", () => {
    const { a, b } = pair();
    suspect(a, b, 100_000);
    tickProbes(a, b, 100_100, 110_000);
    expect(inLeafSet(a, b)).toBe(false);
    a.receive(b.self, { type: "heartbeat" }, 110_100);
    expect(inLeafSet(a, b)).toBe(true);
    // Gossip about it is believed again too: it is no longer remembered as dead.
    expect(a.owner(b.self.id).id.equals(b.self.id)).toBe(true);
  });

  it("leaf-set pushes are coalesced: at most one fan-out per tick, the rest goes out with the next tick", () => {
    const { a, b, c } = pair();
    // Pushes that report deaths, or that refute ours (to every member): not the one-member gossip.
    const fanOut = (outputs: Output[]): number => {
      const pushes = sends(outputs).filter((s) => s.message.type === "leafSet");
      const reportsDeath = pushes.some((s) => s.message.type === "leafSet" && s.message.removed.length > 0);
      return reportsDeath || pushes.length > 1 ? pushes.length : 0;
    };
    suspect(a, b, 100_000);
    a.takeOutputs();
    let t = 100_000;
    let pushed = 0;
    while (pushed === 0 && t < 110_000) {
      t += 100;
      a.tick(t);
      pushed = fanOut(a.takeOutputs());
    }
    expect(inLeafSet(a, b)).toBe(false);
    expect(pushed).toBeGreaterThan(0);
    // In the same tick interval, a's own death is reported to it: the refutation waits for the next tick.
    a.receive(c.self, { type: "leafSet", leafSet: [], removed: [a.self.id] }, t + 10);
    expect(fanOut(a.takeOutputs())).toBe(0);
    a.tick(t + 100);
    const members = new Set([...a.leafSet().left, ...a.leafSet().right].map((n) => n.id.hex));
    const recipients = sends(a.takeOutputs()).filter((s) => s.message.type === "leafSet");
    expect(new Set(recipients.map((s) => s.to?.id.hex))).toEqual(members);
  });
});

/** The members of `node`'s leaf set on the side(s) that hold `dead`, other than `dead`, by ID hex. */
function sideMembers(node: PastryNode, dead: PastryNode): Set<string> {
  const holds = (side: readonly NodeInfo[]): boolean => side.some((n) => n.id.equals(dead.self.id));
  const { left, right } = node.leafSet();
  const side = [...(holds(left) ? left : []), ...(holds(right) ? right : [])];
  return new Set(side.map((n) => n.id.hex).filter((hex) => hex !== dead.self.id.hex));
}

/** The ID hexes of the nodes `outputs` probe. */
function probed(outputs: readonly Output[]): Set<string> {
  return new Set(
    sends(outputs).flatMap((s) => (s.message.type === "probe" && s.to !== undefined ? [s.to.id.hex] : [])),
  );
}

describe("after a departure, only the node that found a death probes the members that may have died with it", () => {
  it("the node that found a member dead probes every member on that side quiet for a heartbeat interval", () => {
    const { a, b } = pair();
    // Nobody has been heard from since the overlay was built: every member is quiet at 100 s.
    const quiet = sideMembers(a, b);
    expect(quiet.size).toBeGreaterThan(0);
    suspect(a, b, 100_000);
    a.takeOutputs();
    let atDeath = new Set<string>();
    for (let t = 100_100; t <= 110_000 && inLeafSet(a, b); t += 100) {
      a.tick(t);
      atDeath = probed(a.takeOutputs());
    }
    expect(inLeafSet(a, b)).toBe(false);
    for (const hex of quiet) expect(atDeath.has(hex)).toBe(true);
  });

  it("a member told of the death by a push probes none of its members (it lacks no node)", () => {
    const { a, b, c } = pair();
    c.takeOutputs();
    const pushed = [...a.leafSet().left, ...a.leafSet().right].filter((n) => !n.id.equals(b.self.id));
    c.receive(a.self, { type: "leafSet", leafSet: pushed, removed: [b.self.id] }, 100_000);
    expect(inLeafSet(c, b)).toBe(false);
    expect(probed(c.takeOutputs())).toEqual(new Set());
  });

  it("a graceful leave makes no member probe its quiet members", () => {
    const { a, b } = pair();
    a.takeOutputs();
    const leaverSet = [...b.leafSet().left, ...b.leafSet().right];
    a.receive(b.self, { type: "leave", leafSet: leaverSet }, 100_000);
    expect(inLeafSet(a, b)).toBe(false);
    expect(probed(a.takeOutputs())).toEqual(new Set());
  });
});

describe("a death found on one side of the gap reaches every leaf set that held the dead node", () => {
  /** 20 ready nodes, l = 8: b, its predecessor a and its successor s. */
  function gap(): { overlay: Overlay; a: PastryNode; b: PastryNode; s: PastryNode } {
    const overlay = ringOf(20, 31);
    const b = overlay.live()[5]!;
    const byId = (info: NodeInfo): PastryNode => overlay.live().find((n) => n.self.id.equals(info.id))!;
    const a = byId(b.leafSet().left[0]!);
    const s = byId(b.leafSet().right[0]!);
    for (const node of overlay.live()) node.takeOutputs();
    return { overlay, a, b, s };
  }

  /** What the finder `s` pushes after finding `b` dead: its leaf set without `b`. */
  function pushOf(s: PastryNode, b: PastryNode): NodeInfo[] {
    return [...s.leafSet().left, ...s.leafSet().right].filter((n) => !n.id.equals(b.self.id));
  }

  it("the node across the gap, told second-hand, relays the death to exactly the members the finder's push left out, among them the holder l/2 away", () => {
    const { overlay, a, b, s } = gap();
    const pushed = pushOf(s, b);
    // l/2 = 4 positions from b on a's side: a is 1 away, a's left members 2, 3 and 4. The last holds b, and
    // the finder's leaf set (4 per side, b gone) does not reach it.
    const farHolder = overlay.live().find((n) => n.self.id.equals(a.leafSet().left[2]!.id))!;
    expect(inLeafSet(farHolder, b)).toBe(true);
    expect(pushed.some((n) => n.id.equals(farHolder.self.id))).toBe(false);

    a.receive(s.self, { type: "leafSet", leafSet: pushed, removed: [b.self.id] }, 100_000);
    expect(inLeafSet(a, b)).toBe(false);
    const relays = sends(a.takeOutputs()).filter(
      (x) => x.message.type === "leafSet" && x.message.removed.some((id) => id.equals(b.self.id)),
    );
    const leftOut = [...a.leafSet().left, ...a.leafSet().right]
      .filter((n) => !n.id.equals(s.self.id) && !pushed.some((p) => p.id.equals(n.id)))
      .map((n) => n.id.hex)
      .sort();
    expect(leftOut).toContain(farHolder.self.id.hex);
    expect(relays.map((x) => x.to!.id.hex).sort()).toEqual(leftOut);

    const relay = relays.find((x) => x.to!.id.equals(farHolder.self.id))!;
    farHolder.receive(a.self, relay.message, 100_050);
    expect(inLeafSet(farHolder, b)).toBe(false);
  });

  it("a member told by the same push that is not next to the dead node relays nothing", () => {
    const { overlay, a, b, s } = gap();
    const c = overlay.live().find((n) => n.self.id.equals(a.leafSet().left[0]!.id))!;
    c.takeOutputs();
    c.receive(s.self, { type: "leafSet", leafSet: pushOf(s, b), removed: [b.self.id] }, 100_000);
    expect(inLeafSet(c, b)).toBe(false);
    expect(sends(c.takeOutputs()).filter((x) => x.message.type === "leafSet")).toEqual([]);
  });
});

describe("failure detection of a crashed process: lost connections and refused probes", () => {
  /** What the runtime reports when nothing listens at the peer's address any more. */
  function refuse(a: PastryNode, b: PastryNode, at: number): void {
    a.sendFailed(
      { to: b.self, address: b.self.localAddress, message: { type: "probe", sentAt: at, joining: false } },
      at,
      "unreachable",
    );
  }

  it("a lost connection to a known peer makes it probed at once, long before its silence would", () => {
    const { a, b, c } = pair();
    a.connectionLost(b.self, 100_000);
    const probes = sends(a.takeOutputs()).filter((s) => s.message.type === "probe");
    expect(probes.map((s) => s.to?.id.hex)).toEqual([b.self.id.hex]);
    // A peer we do not know under that incarnation is left alone (the address now belongs to someone else).
    a.connectionLost({ ...c.self, incarnation: c.self.incarnation + 1 }, 100_001);
    expect(sends(a.takeOutputs()).filter((s) => s.message.type === "probe")).toHaveLength(0);
  });

  it("a probe refused twice, the retry a moment later, ends in death without waiting out its timeouts", () => {
    const { a, b } = pair();
    const base = 100_000;
    a.connectionLost(b.self, base);
    a.takeOutputs();
    refuse(a, b, base + 1);
    expect(inLeafSet(a, b)).toBe(true);
    // The retry goes out within a fraction of the probe timeout, and its refusal is the verdict.
    const retries = tickProbes(a, b, base + 100, base + 400);
    expect(retries).toEqual([base + 300]);
    refuse(a, b, base + 301);
    expect(inLeafSet(a, b)).toBe(false);
  });

  it("one refusal, then an answer: the peer stays (it was restarting, or the refusal was someone else's)", () => {
    const { a, b } = pair();
    const base = 100_000;
    a.connectionLost(b.self, base);
    a.takeOutputs();
    refuse(a, b, base + 1);
    a.receive(b.self, { type: "probeReply", echoSentAt: base, leafSet: [], ready: true }, base + 50);
    // The answer ended the probe: no retry, and a later refusal (of a stale connection) decides nothing alone.
    expect(tickProbes(a, b, base + 100, base + 1_000)).toEqual([]);
    refuse(a, b, base + 1_001);
    expect(inLeafSet(a, b)).toBe(true);
  });

  it("timeouts are not refusals: a probe that only timed out still takes its three attempts", () => {
    const { a, b } = pair();
    const base = 100_000;
    a.connectionLost(b.self, base);
    a.takeOutputs();
    a.sendFailed(
      { to: b.self, address: b.self.localAddress, message: { type: "probe", sentAt: base, joining: false } },
      base + 1,
      "unknown",
    );
    expect(tickProbes(a, b, base + 100, base + 1_400)).toEqual([base + 500]);
    expect(inLeafSet(a, b)).toBe(true);
  });
});
