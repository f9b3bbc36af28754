import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { NodeId } from "../../../src/routing/id.js";
import type { NodeInfo } from "../../../src/routing/types.js";
import { PendingAcks } from "../../../src/server/cluster/pending-acks.js";
import { NotReadyError, WendyError } from "../../../src/server/errors.js";

const owner: NodeInfo = {
  id: NodeId.fromString("owner"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "",
  incarnation: 1,
};

describe("PendingAcks", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("resolves a waiting send with its deliverer and hops once acked, and only the first outcome counts", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("m1", 1000);
    acks.acked("m1", owner, 3);
    acks.dropped("m1", "ttl");
    await expect(waiting).resolves.toEqual({ messageId: "m1", deliveredBy: owner, hops: 3 });
  });

  it("rejects with the refusal's code and reason, or UNAVAILABLE naming the drop reason", async () => {
    const acks = new PendingAcks();
    const refused = acks.wait("r", 1000);
    const dropped = acks.wait("d", 1000);
    acks.refused("r", { code: status.FAILED_PRECONDITION, reason: "no subscriber" });
    acks.dropped("d", "ttl");
    await expect(refused).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
      message: "no subscriber",
    });
    await expect(dropped).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      message: "message d dropped: ttl",
    });
  });

  it("an unacknowledged drop (the hop may have arrived) is no verdict: a later ack still completes the send", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("m", 1000);
    acks.dropped("m", "unacknowledged");
    vi.advanceTimersByTime(900);
    acks.acked("m", owner, 1);
    await expect(waiting).resolves.toEqual({ messageId: "m", deliveredBy: owner, hops: 1 });
  });

  it("an unacknowledged drop with no ack after it fails DEADLINE_EXCEEDED at the deadline, not UNAVAILABLE", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("m", 1000);
    const outcome = expect(waiting).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    acks.dropped("m", "unacknowledged");
    vi.advanceTimersByTime(1000);
    await outcome;
  });

  it("fails DEADLINE_EXCEEDED after its timeout, and a late ack then changes nothing", async () => {
    const acks = new PendingAcks();
    const waiting = acks.wait("slow", 500);
    const outcome = expect(waiting).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    vi.advanceTimersByTime(500);
    await outcome;
    expect(() => acks.acked("slow", owner, 1)).not.toThrow();
  });

  it("fails every waiting send with NotReadyError when the node stops", async () => {
    const acks = new PendingAcks();
    const all = [acks.wait("a", 1000), acks.wait("b", 1000)];
    acks.stopped();
    for (const waiting of all) {
      await expect(waiting).rejects.toBeInstanceOf(NotReadyError);
      await expect(waiting).rejects.toBeInstanceOf(WendyError);
    }
    expect(vi.getTimerCount()).toBe(0);
  });
});
