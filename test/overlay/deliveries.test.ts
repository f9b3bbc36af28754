// The delivery hub on its own: groups, acknowledgement, redelivery, the grace and the bounds, with fake
// subscribers and fake timers.
import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Delivery } from "../../src/gen/wendy/v1/overlay.js";
import { NodeId } from "../../src/routing/id.js";
import type { Message } from "../../src/server/application.js";
import { DeliveryHub, type Subscriber } from "../../src/server/overlay/deliveries.js";
import { DEFAULT_OVERLAY_LIMITS, type OverlayLimits } from "../../src/server/overlay/limits.js";
import type { OverlayRpcError } from "../../src/server/overlay/rpc-error.js";

const NODE = "ab".repeat(16);
const GRACE = 1000;
const origin = {
  id: NodeId.fromString("origin"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "r",
  incarnation: 1,
};

let counter = 0;
function message(purpose = 16, payload = "x"): Message {
  return {
    id: `m-${++counter}`,
    key: NodeId.fromString("k"),
    purpose,
    payload: Buffer.from(payload),
    origin,
    hops: 1,
  };
}

interface Fake extends Subscriber {
  readonly got: Delivery[];
  open: boolean;
}

function fake(
  kind: Subscriber["kind"],
  options: { group?: string; max?: number; purposes?: number[] } = {},
): Fake {
  const got: Delivery[] = [];
  const f: Fake = {
    purposes: new Set(options.purposes ?? [16]),
    kind,
    group: options.group ?? "",
    maxUnacknowledged: options.max ?? 64,
    got,
    open: true,
    write: (d) => {
      if (!f.open) return false;
      got.push(d);
      return true;
    },
    end: () => {
      f.open = false;
    },
  };
  return f;
}

/** The promise's outcome so far: "pending", "ok", or the refusal's code. */
function outcome(p: Promise<void>): () => string | number {
  let state: string | number = "pending";
  p.then(
    () => (state = "ok"),
    (e: OverlayRpcError) => (state = e.code),
  );
  return () => state;
}

let hub: DeliveryHub;
function makeHub(limits: Partial<OverlayLimits> = {}): DeliveryHub {
  return new DeliveryHub({ ...DEFAULT_OVERLAY_LIMITS, deliveryGraceMs: GRACE, ...limits }, () => NODE);
}

beforeEach(() => {
  vi.useFakeTimers();
  hub = makeHub();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("delivery hub", () => {
  it("a message is acknowledged only when the member that received it acknowledges", async () => {
    const s = fake("member");
    hub.attach(s);
    const m = message();
    const state = outcome(hub.deliver(m, ""));
    await vi.advanceTimersByTimeAsync(10);
    expect(s.got.map((d) => [d.messageId, d.attempt])).toEqual([[m.id, 1]]);
    expect(state()).toBe("pending");
    hub.acknowledge(s, m.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(state()).toBe("ok");
    expect(hub.heldCount).toBe(0);
  });

  it("with no subscriber, the message is refused FAILED_PRECONDITION after the grace, naming purpose and node", async () => {
    const p = hub.deliver(message(17), "");
    const state = outcome(p);
    await vi.advanceTimersByTimeAsync(GRACE - 10);
    expect(state()).toBe("pending");
    await vi.advanceTimersByTimeAsync(20);
    expect(state()).toBe(status.FAILED_PRECONDITION);
    await expect(p).rejects.toThrow(`purpose 17 at node ${NODE}, the key's owner`);
    expect(hub.undeliveredCount).toBe(1n);
  });

  it("a message refused after the grace, its group gone, is never handed to a group that attaches later", async () => {
    const gone = fake("member");
    hub.attach(gone);
    hub.detach(gone);
    const state = outcome(hub.deliver(message(), ""));
    await vi.advanceTimersByTimeAsync(GRACE + 10);
    expect(state()).toBe(status.FAILED_PRECONDITION);
    const late = fake("member");
    hub.attach(late);
    await vi.advanceTimersByTimeAsync(GRACE);
    expect(late.got).toEqual([]);
    expect(hub.heldCount).toBe(0);
  });

  it("once the node leaves, what no member holds is refused UNAVAILABLE at once, what a member holds can still be acknowledged, and what it gives back is refused at once", async () => {
    const holder = fake("member", { max: 1 });
    hub.attach(holder);
    const held = message();
    const heldState = outcome(hub.deliver(held, ""));
    const queuedState = outcome(hub.deliver(message(), ""));
    const noGroupState = outcome(hub.deliver(message(99), ""));
    hub.drain();
    await vi.advanceTimersByTimeAsync(0);
    expect(queuedState()).toBe(status.UNAVAILABLE);
    expect(noGroupState()).toBe(status.UNAVAILABLE);
    expect(heldState()).toBe("pending");
    hub.acknowledge(holder, held.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(heldState()).toBe("ok");
    const givenBack = outcome(hub.deliver(message(), ""));
    await vi.advanceTimersByTimeAsync(0);
    expect(givenBack()).toBe("pending");
    hub.detach(holder);
    await vi.advanceTimersByTimeAsync(0);
    expect(givenBack()).toBe(status.UNAVAILABLE);
    expect(hub.heldCount).toBe(0);
  });

  it("a subscriber attaching within the grace receives the waiting message and its ack completes it", async () => {
    const m = message();
    const state = outcome(hub.deliver(m, ""));
    await vi.advanceTimersByTimeAsync(GRACE / 2);
    const late = fake("member");
    hub.attach(late);
    expect(late.got.map((d) => d.messageId)).toEqual([m.id]);
    await vi.advanceTimersByTimeAsync(GRACE);
    expect(state()).toBe("pending");
    hub.acknowledge(late, m.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(state()).toBe("ok");
  });

  it("a member that goes away unacknowledged gives its deliveries to another member, same id, attempt 2", async () => {
    const first = fake("member", { max: 1 });
    hub.attach(first);
    const m = message();
    const state = outcome(hub.deliver(m, ""));
    const second = fake("member");
    hub.attach(second);
    expect(first.got.map((d) => d.messageId)).toEqual([m.id]);
    expect(second.got).toEqual([]);
    hub.detach(first);
    expect(second.got.map((d) => [d.messageId, d.attempt])).toEqual([[m.id, 2]]);
    hub.acknowledge(first, m.id); // Too late: it is no longer first's to acknowledge.
    await vi.advanceTimersByTimeAsync(0);
    expect(state()).toBe("pending");
    hub.acknowledge(second, m.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(state()).toBe("ok");
  });

  it("a returned delivery waits the grace for a member to come back, then is refused", async () => {
    const s = fake("member");
    hub.attach(s);
    const kept = message();
    const lost = message();
    const keptState = outcome(hub.deliver(kept, ""));
    const lostState = outcome(hub.deliver(lost, ""));
    hub.detach(s);
    await vi.advanceTimersByTimeAsync(GRACE / 2);
    const back = fake("member");
    hub.attach(back);
    expect(back.got.map((d) => [d.messageId, d.attempt])).toEqual([
      [kept.id, 2],
      [lost.id, 2],
    ]);
    hub.acknowledge(back, kept.id);
    hub.detach(back);
    await vi.advanceTimersByTimeAsync(GRACE + 10);
    expect(keptState()).toBe("ok");
    expect(lostState()).toBe(status.FAILED_PRECONDITION);
  });

  it("members of one group split the deliveries; each group gets every message; copies do not gate", async () => {
    const a1 = fake("member", { group: "a" });
    const a2 = fake("member", { group: "a" });
    const b = fake("member", { group: "b" });
    const copy = fake("copy");
    for (const s of [a1, a2, b, copy]) hub.attach(s);
    const messages = Array.from({ length: 10 }, () => message());
    const states = messages.map((m) => outcome(hub.deliver(m, "")));
    expect(a1.got).toHaveLength(5);
    expect(a2.got).toHaveLength(5);
    expect(new Set([...a1.got, ...a2.got].map((d) => d.messageId)).size).toBe(10);
    expect(b.got).toHaveLength(10);
    expect(copy.got).toHaveLength(10);
    for (const d of [...a1.got, ...a2.got]) hub.acknowledge(a1.got.includes(d) ? a1 : a2, d.messageId);
    await vi.advanceTimersByTimeAsync(0);
    expect(states.map((s) => s())).toEqual(Array(10).fill("pending"));
    for (const d of b.got) hub.acknowledge(b, d.messageId);
    await vi.advanceTimersByTimeAsync(0);
    expect(states.map((s) => s())).toEqual(Array(10).fill("ok"));
  });

  it("a subscriber at its unacknowledged limit gets no more; what waits past the grace is RESOURCE_EXHAUSTED", async () => {
    const slow = fake("member", { max: 2 });
    hub.attach(slow);
    const states = [message(), message(), message()].map((m) => outcome(hub.deliver(m, "")));
    expect(slow.got).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(GRACE + 10);
    expect(states.map((s) => s())).toEqual(["pending", "pending", status.RESOURCE_EXHAUSTED]);
  });

  it("beyond the bound on held deliveries a message is refused at once with RESOURCE_EXHAUSTED", async () => {
    hub = makeHub({ maxHeldDeliveries: 2 });
    const held = [message(), message()].map((m) => outcome(hub.deliver(m, "")));
    const refused = outcome(hub.deliver(message(), ""));
    await vi.advanceTimersByTimeAsync(0);
    expect(held.map((s) => s())).toEqual(["pending", "pending"]);
    expect(refused()).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("a deprecated Subscribe stream takes the message on its own when no group is attached", async () => {
    const legacy = fake("legacy");
    hub.attach(legacy);
    const state = outcome(hub.deliver(message(), ""));
    await vi.advanceTimersByTimeAsync(0);
    expect(legacy.got).toHaveLength(1);
    expect(state()).toBe("ok");
    const member = fake("member");
    hub.attach(member);
    const gated = outcome(hub.deliver(message(), ""));
    await vi.advanceTimersByTimeAsync(0);
    expect(legacy.got).toHaveLength(2);
    expect(gated()).toBe("pending");
  });

  it("an answered call is acknowledged wherever it is; a withdrawn one is no longer delivered", async () => {
    const s = fake("member", { max: 1 });
    hub.attach(s);
    const call = message();
    const answered = outcome(hub.deliver(call, "c".repeat(32)));
    const queued = message();
    const withdrawn = hub.deliver(queued, "d".repeat(32));
    const withdrawnState = outcome(withdrawn);
    expect(s.got.map((d) => d.callId)).toEqual(["c".repeat(32)]);
    hub.withdraw(queued.id, { code: status.CANCELLED } as OverlayRpcError);
    hub.answered(call.id);
    await vi.advanceTimersByTimeAsync(0);
    expect(answered()).toBe("ok");
    expect(withdrawnState()).toBe(status.CANCELLED);
    expect(s.got).toHaveLength(1);
    expect(hub.heldCount).toBe(0);
  });

  it("the same message id delivered twice is held once and both share its outcome", async () => {
    const s = fake("member");
    hub.attach(s);
    const m = message();
    const first = outcome(hub.deliver(m, ""));
    const second = outcome(hub.deliver(m, ""));
    expect(s.got).toHaveLength(1);
    hub.acknowledge(s, m.id);
    await vi.advanceTimersByTimeAsync(0);
    expect([first(), second()]).toEqual(["ok", "ok"]);
  });

  it("closing refuses everything held with UNAVAILABLE and ends every stream", async () => {
    const s = fake("member");
    hub.attach(s);
    const state = outcome(hub.deliver(message(), ""));
    hub.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(state()).toBe(status.UNAVAILABLE);
    expect(s.open).toBe(false);
  });
});
