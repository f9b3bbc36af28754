import { describe, expect, it } from "vitest";
import { routingConfig } from "../../src/routing/config.js";
import { FailureDetector } from "../../src/routing/failure-detector.js";
import { NodeId } from "../../src/routing/id.js";
import { Outbox } from "../../src/routing/outbox.js";
import { ProximityStore } from "../../src/routing/proximity.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const config = routingConfig({ probeTimeoutMs: 500, failureTimeoutMs: 2500 });
const self = nodeInfo(NodeId.fromBigInt(1n), 1);
const peer = nodeInfo(NodeId.fromBigInt(2n), 2);

function detector(): { detector: FailureDetector; outbox: Outbox; probesSent: () => number } {
  const outbox = new Outbox(self, () => 0);
  const d = new FailureDetector(config, new ProximityStore(self, config.regionMultiplier), outbox);
  return {
    detector: d,
    outbox,
    probesSent: () => outbox.take().filter((o) => o.type === "send" && o.out.message.type === "probe").length,
  };
}

/** Expires every due probe at `now`; returns the verdicts in order. */
function expireAt(d: FailureDetector, now: number): string[] {
  return (d.expiredProbes(now) ?? []).map((p) => d.expire(p, now, false));
}

describe("FailureDetector", () => {
  it("keeps one probe per peer: a second probe sends nothing and a leaf-set probe takes over a proximity one", () => {
    const { detector: d, probesSent } = detector();
    d.probe(peer, "proximity", 0, false);
    d.probe(peer, "leaf", 0, false);
    d.probe(peer, "liveness", 0, false);
    expect(probesSent()).toBe(1);
    expect(d.outstandingProbes).toBe(1);
    expect(d.probeKind(peer.id.hex)).toBe("leaf");
    expect(d.awaitingLeafProbes()).toBe(true);
  });

  it("a silent peer is dead only after three attempts, attempt k waiting k probe timeouts", () => {
    const { detector: d, probesSent } = detector();
    d.probe(peer, "liveness", 0, false);
    expect(expireAt(d, 499)).toEqual([]);
    expect(expireAt(d, 500)).toEqual(["retried"]);
    expect(expireAt(d, 500 + 999)).toEqual([]);
    expect(expireAt(d, 500 + 1000)).toEqual(["retried"]);
    expect(expireAt(d, 1500 + 1499)).toEqual([]);
    expect(expireAt(d, 1500 + 1500)).toEqual(["dead"]);
    expect(probesSent()).toBe(3);
    expect(d.isProbing(peer.id.hex)).toBe(false);
  });

  it("a proximity probe of a node not in our state is sent once; of one held, three times; a stronger kind restores three", () => {
    const { detector: d, probesSent } = detector();
    d.proximityProbe(peer, 0, false, false);
    expect(expireAt(d, 500)).toEqual(["dead"]);
    expect(probesSent()).toBe(1);

    const held = nodeInfo(NodeId.fromBigInt(3n), 3);
    d.proximityProbe(held, 0, false, true);
    expect([...expireAt(d, 500), ...expireAt(d, 1500), ...expireAt(d, 3000)]).toEqual([
      "retried",
      "retried",
      "dead",
    ]);
    expect(probesSent()).toBe(3);

    const candidate = nodeInfo(NodeId.fromBigInt(4n), 4);
    d.proximityProbe(candidate, 0, false, false);
    d.probe(candidate, "leaf", 0, false);
    expect([...expireAt(d, 500), ...expireAt(d, 1500), ...expireAt(d, 3000)]).toEqual([
      "retried",
      "retried",
      "dead",
    ]);
  });

  it("remembers who named a node only on a one-attempt proximity probe to it", () => {
    const { detector: d } = detector();
    const namer = nodeInfo(NodeId.fromBigInt(5n), 5);
    const held = nodeInfo(NodeId.fromBigInt(3n), 3);
    d.proximityProbe(peer, 0, false, false);
    d.proximityProbe(held, 0, false, true);
    d.namedBy(peer.id.hex, namer);
    d.namedBy(held.id.hex, namer);
    d.namedBy(nodeInfo(NodeId.fromBigInt(6n), 6).id.hex, namer);
    const expired = d.expiredProbes(500) ?? [];
    expect(expired.map((p) => [p.node.id.hex, p.namedBy?.id.hex])).toEqual([
      [peer.id.hex, namer.id.hex],
      [held.id.hex, undefined],
    ]);
  });

  it("contact answers a liveness probe at once; a leaf-set probe still waits, then ends 'alive', never 'dead'", () => {
    const { detector: d } = detector();
    d.suspect(peer, 0, false);
    expect(d.suspects.has(peer.id.hex)).toBe(true);
    d.noteAlive(peer, 10, true, false);
    expect(d.suspects.has(peer.id.hex)).toBe(false);
    expect(d.isProbing(peer.id.hex)).toBe(false);

    d.probe(peer, "leaf", 20, true);
    d.noteAlive(peer, 30, true, false);
    expect(d.probeKind(peer.id.hex)).toBe("leaf");
    expect(expireAt(d, 10_000)).toEqual(["alive"]);
    expect(d.isProbing(peer.id.hex)).toBe(false);
  });

  it("a probe attempt that timed out is answered by contact after it was sent: no suspicion, the probe ends 'alive'", () => {
    // A joiner's leaf-set probe: attempt 1 at 0 is lost, the candidate talks to us at 300, and the attempt's
    // failure (a call timeout) is reported at 1,000. It asked only from 0.
    const { detector: d } = detector();
    d.probe(peer, "leaf", 0, true);
    d.noteAlive(peer, 300, false, false);
    d.suspect(peer, 1_000, true, 0);
    expect(d.suspects.has(peer.id.hex)).toBe(false);
    expect(expireAt(d, 10_000)).toEqual(["alive"]);

    // Contact before the timed-out attempt was sent answers nothing: the check stands.
    d.probe(peer, "leaf", 20_000, true);
    d.noteAlive(peer, 20_100, false, false);
    d.suspect(peer, 21_200, true, 20_200);
    expect(d.suspects.has(peer.id.hex)).toBe(true);
    expect(expireAt(d, 21_500)).toEqual(["retried"]);
  });

  it("two refusals in a row end the probe in death; the first only brings the retry forward", () => {
    const { detector: d } = detector();
    d.probe(peer, "liveness", 0, false);
    expect(d.probeRefused(peer, 10)).toBeUndefined();
    expect(d.expiredProbes(10 + 249)).toBeUndefined();
    expect(d.expiredProbes(10 + 250)).toHaveLength(1);
    expect(d.probeRefused(peer, 300)?.node).toBe(peer);
    expect(d.isProbing(peer.id.hex)).toBe(false);
  });

  it("a refusal of an older incarnation's probe, or after the peer talked, decides nothing", () => {
    const { detector: d } = detector();
    d.probe(peer, "liveness", 0, false);
    const restarted: NodeInfo = { ...peer, incarnation: peer.incarnation + 1 };
    expect(d.probeRefused(restarted, 10)).toBeUndefined();
    expect(d.probeRefused(restarted, 20)).toBeUndefined();
    d.probe(peer, "leaf", 0, false);
    d.noteAlive(peer, 30, false, false);
    expect(d.probeRefused(peer, 40)).toBeUndefined();
    expect(d.probeRefused(peer, 50)).toBeUndefined();
    expect(d.isProbing(peer.id.hex)).toBe(true);
  });

  it("a liveness check on a peer already probed waits for contact after it: earlier contact answers nothing", () => {
    // Our leaf-set probe is out, the peer's last message arrives (it crashed just after sending it), then
    // its connection breaks: the check must end in a verdict on the crash, not 'alive' from that message.
    const { detector: d, probesSent } = detector();
    d.probe(peer, "leaf", 0, false);
    d.noteAlive(peer, 30, false, false);
    d.probe(peer, "liveness", 90, false);
    expect(probesSent()).toBe(1);
    expect(d.probeRefused(peer, 170)).toBeUndefined();
    expect(expireAt(d, 420)).toEqual(["retried"]);
    expect(d.probeRefused(peer, 430)?.node).toBe(peer);
    expect(d.isProbing(peer.id.hex)).toBe(false);

    // Silent instead of refusing: dead after its attempts, not 'alive'.
    d.probe(peer, "leaf", 1_000, false);
    d.noteAlive(peer, 1_030, false, false);
    d.probe(peer, "liveness", 1_090, false);
    expect(expireAt(d, 1_500)).toEqual(["retried"]);
    expect(expireAt(d, 2_500)).toEqual(["retried"]);
    expect(expireAt(d, 4_000)).toEqual(["dead"]);

    // Contact after the check answers it as before.
    d.probe(peer, "leaf", 5_000, false);
    d.probe(peer, "liveness", 5_010, false);
    d.noteAlive(peer, 5_030, false, false);
    expect(expireAt(d, 10_000)).toEqual(["alive"]);
  });

  it("a death we found and pushed is believed for the dead memory; one we were told of, or found and told nobody, only for a failure timeout", () => {
    const { detector: d } = detector();
    const told = nodeInfo(NodeId.fromBigInt(3n), 3);
    const unpushed = nodeInfo(NodeId.fromBigInt(4n), 4);
    d.recordDeath(peer, true, 0, true);
    d.recordDeath(unpushed, true, 0, false);
    expect(d.confirmedDead(unpushed)).toBe(true);
    expect(d.believedDead(unpushed, 2499)).toBe(true);
    expect(d.believedDead(unpushed, 2500)).toBe(false);
    d.recordDeath(told, false, 0);
    expect(d.confirmedDead(peer)).toBe(true);
    expect(d.confirmedDead(told)).toBe(false);
    expect(d.believedDead(told, 2499)).toBe(true);
    expect(d.believedDead(told, 2500)).toBe(false);
    expect(d.believedDead(peer, 50_000)).toBe(true);
    expect(d.believedDead({ ...peer, incarnation: 2 }, 10)).toBe(false);
  });

  it("a death told of a node not held is believed for a failure timeout whatever its incarnation, but is no death of ours", () => {
    const { detector: d } = detector();
    const reporter = nodeInfo(NodeId.fromBigInt(5n), 5);
    d.recordToldDeath(peer.id, 0, reporter);
    expect(d.believedDead(peer, 2499)).toBe(true);
    expect(d.believedDead({ ...peer, incarnation: 7 }, 2499)).toBe(true);
    expect(d.believedDead(peer, 2500)).toBe(false);
    expect(d.isDead(peer)).toBe(false);
    expect(d.confirmedDead(peer)).toBe(false);
  });

  it("a death told of a node not held keeps a death already known, is retracted by its reporter, and ends at contact", () => {
    const { detector: d } = detector();
    const reporter = nodeInfo(NodeId.fromBigInt(5n), 5);
    const other = nodeInfo(NodeId.fromBigInt(6n), 6);
    d.recordDeath(peer, true, 0, true);
    d.recordToldDeath(peer.id, 10, reporter);
    expect(d.believedDead(peer, 50_000)).toBe(true);
    expect(d.believedDead({ ...peer, incarnation: 2 }, 20)).toBe(false);
    d.recordToldDeath(other.id, 0, reporter);
    d.retractedBy(other, peer);
    expect(d.believedDead(other, 10)).toBe(true);
    d.retractedBy(other, reporter);
    expect(d.believedDead(other, 10)).toBe(false);
    d.recordToldDeath(other.id, 20, reporter);
    expect(d.noteAlive(other, 30, false, false)).toBe(true);
    expect(d.believedDead(other, 40)).toBe(false);
  });

  it("a death we found and pushed is no longer believed 60 s after it, though no later death was recorded, and is then forgotten", () => {
    const { detector: d } = detector();
    d.recordDeath(peer, true, 0, true);
    expect(d.believedDead(peer, 59_999)).toBe(true);
    expect(d.believedDead(peer, 60_000)).toBe(false);
    expect(d.isDead(peer)).toBe(false);
    expect(d.confirmedDead(peer)).toBe(false);
  });

  it("contact from a node found dead reinstates it (noteAlive says so once)", () => {
    const { detector: d } = detector();
    d.recordDeath(peer, true, 0);
    expect(d.noteAlive(peer, 5, true, true)).toBe(true);
    expect(d.isDead(peer)).toBe(false);
    expect(d.noteAlive(peer, 6, true, true)).toBe(false);
  });

  it("a departed incarnation stays departed; its restart does not", () => {
    const { detector: d } = detector();
    d.recordDeparture(peer);
    expect(d.hasDeparted(peer)).toBe(true);
    expect(d.hasDeparted({ ...peer, incarnation: 2 })).toBe(false);
  });

  it("probes only leaf-set members quiet for a heartbeat interval after a death on their side", () => {
    const { detector: d, probesSent } = detector();
    const quiet = nodeInfo(NodeId.fromBigInt(4n), 4);
    d.markHeard(peer.id.hex, 10_000);
    d.markHeard(quiet.id.hex, 10_000 - config.heartbeatIntervalMs);
    d.probeQuietMembers([peer, quiet], 10_000, false);
    expect(probesSent()).toBe(1);
    expect(d.isProbing(quiet.id.hex)).toBe(true);
    expect(d.isProbing(peer.id.hex)).toBe(false);
  });
});
