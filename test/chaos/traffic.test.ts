// The traffic judge on hand-made histories: exactly-once, duplicates, losses, and the conservative rule
// for misdelivery (a closer node counts only if it was settled and undisturbed throughout).
import { describe, expect, it } from "vitest";
import type { PeerProcess } from "../integration/harness.js";
import { ChaosWorld } from "./lib/scenario.js";
import { Lifecycle, judge, type Disruption, type SendRecord } from "./lib/traffic.js";

const KEY = "80000000000000000000000000000000";
const NEAR = "80000000000000000000000000000001";
const FAR = "90000000000000000000000000000000";

/** A stand-in for a node process: only what the judge reads. */
function fakePeer(id: string, readyOrder: number | undefined): PeerProcess {
  return {
    id,
    info: { id, localAddress: "", globalAddress: "", region: "" },
    readyOrder,
    exited: false,
    options: { name: id.slice(0, 4), host: "" },
  } as unknown as PeerProcess;
}

function history() {
  const world = new ChaosWorld();
  const near = fakePeer(NEAR, world.nextOrder());
  const far = fakePeer(FAR, world.nextOrder());
  const deliver = (at: string, payload: string, id: string) =>
    world.deliveries.push({
      at,
      id,
      key: KEY,
      purpose: 16,
      payload,
      hops: 1,
      origin: FAR,
      order: world.nextOrder(),
    });
  const record = (payload: string, extra: Partial<SendRecord> = {}): SendRecord => ({
    origin: far,
    key: KEY,
    payload,
    sentAt: world.now(),
    ...extra,
  });
  return { world, near, far, deliver, record };
}

describe("traffic judge", () => {
  it("accepts an acknowledged message delivered once at the closest node", () => {
    const { world, near, far, deliver, record } = history();
    const r = record("m1", { messageId: "id1", deliveredBy: NEAR });
    deliver(NEAR, "m1", "id1");
    const v = judge(world, [r], new Lifecycle(), 0, [near, far]);
    expect(v).toMatchObject({ sent: 1, acknowledged: 1, delivered: 1, duplicated: 0, lost: 0 });
    expect(v.misdelivered).toEqual([]);
    expect(v.ackedNotOnce).toEqual([]);
  });

  it("flags a duplicate, a loss and an ack from the wrong node", () => {
    const { world, near, far, deliver, record } = history();
    const twice = record("m1", { messageId: "id1", deliveredBy: NEAR });
    deliver(NEAR, "m1", "id1");
    deliver(NEAR, "m1", "id1");
    const lost = record("m2", { error: "timed out" });
    const wrongAck = record("m3", { messageId: "id3", deliveredBy: FAR });
    deliver(NEAR, "m3", "id3");
    const v = judge(world, [twice, lost, wrongAck], new Lifecycle(), 0, [near, far]);
    expect(v.duplicated).toBe(1);
    expect(v.duplicates).toEqual([{ payload: "m1", at: [NEAR, NEAR] }]);
    expect(v.lost).toBe(1);
    expect(v.ackedNotOnce.map((r) => r.payload)).toEqual(["m1", "m3"]);
  });

  it("accepts a second delivery only at a node killed or frozen while the send was in flight", () => {
    /**
     * m1 delivered at NEAR, then at the next owner FAR, which acknowledged it; NEAR suffered `what`
     * between the two deliveries, or after the ack came. With `restarted`, NEAR runs again under its ID.
     */
    const failover = (what: Disruption, when: "in flight" | "after the ack", restarted = false) => {
      const { world, near, far, deliver, record } = history();
      const lifecycle = new Lifecycle();
      const r = record("m1", { messageId: "id1", deliveredBy: FAR });
      deliver(NEAR, "m1", "id1");
      if (when === "in flight") lifecycle.record(near, what, world.now());
      deliver(FAR, "m1", "id1");
      r.doneAt = world.now();
      if (when === "after the ack") lifecycle.record(near, what, r.doneAt + 1);
      if (!restarted) return judge(world, [r], lifecycle, 0, [near, far]);
      const secondLife = fakePeer(NEAR, world.nextOrder());
      world.peers.push(near, far, secondLife);
      return judge(world, [r], lifecycle, 0, [secondLife, far]);
    };

    // NEAR was killed before acknowledging; the next owner FAR delivered and acked.
    const v = failover("killed", "in flight");
    expect(v.ackedNotOnce).toEqual([]);
    expect(v.redeliveredAfterFailure.map((x) => x.payload)).toEqual(["m1"]);
    expect(v.duplicated).toBe(1);

    // The killed node was restarted later under the same ID: its earlier life still excuses the copy.
    const v1 = failover("killed", "in flight", true);
    expect(v1.ackedNotOnce).toEqual([]);
    expect(v1.redeliveredAfterFailure).toHaveLength(1);

    // NEAR failed only after the ack came: a plain duplicate.
    const v2 = failover("killed", "after the ack");
    expect(v2.ackedNotOnce.map((x) => x.payload)).toEqual(["m1"]);
    expect(v2.redeliveredAfterFailure).toEqual([]);

    // A graceful stop is no excuse: a leaving node acknowledges what it delivered.
    expect(failover("stopped", "in flight").ackedNotOnce).toHaveLength(1);
  });

  it("counts a delivery at a farther node only while the closer node was settled and undisturbed", () => {
    const settled = history();
    const r1 = settled.record("m1");
    settled.deliver(FAR, "m1", "id1");
    const v1 = judge(settled.world, [r1], new Lifecycle(), 0, [settled.near, settled.far]);
    expect(v1.misdelivered.map((m) => m.closer)).toEqual([NEAR]);

    // The closer node was frozen before the delivery: not held against the overlay.
    const frozen = history();
    const r2 = frozen.record("m2");
    const lifecycle = new Lifecycle();
    lifecycle.record(frozen.near, "frozen", frozen.world.now());
    frozen.deliver(FAR, "m2", "id2");
    expect(judge(frozen.world, [r2], lifecycle, 0, [frozen.near, frozen.far]).misdelivered).toEqual([]);

    // The closer node had not been ready for the settling time when the send started.
    const fresh = history();
    const r3 = fresh.record("m3");
    fresh.deliver(FAR, "m3", "id3");
    expect(judge(fresh.world, [r3], new Lifecycle(), 60_000, [fresh.near, fresh.far]).misdelivered).toEqual(
      [],
    );
  });
});
