// The applications' say over forwarded hops, decided by synchronous callbacks and asynchronous hooks.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, RouteMessage } from "../../src/routing/types.js";
import type { Application } from "../../src/server/application.js";
import { ForwardGate, type ForwardInterceptor } from "../../src/server/forwarding.js";

const node = (name: string): NodeInfo => ({
  id: NodeId.fromString(name),
  localAddress: `${name}:1`,
  globalAddress: `${name}:1`,
  region: "",
  incarnation: 1,
});
const next = node("next");
const message = (purpose = 16, id = "m1"): RouteMessage => ({
  id,
  key: NodeId.fromString("key"),
  purpose,
  payload: Buffer.from("original"),
  origin: node("origin"),
  hops: 1,
  maxHops: 10,
  wantAck: false,
});

function gate(apps: Application[], errors: Error[] = []): ForwardGate {
  return new ForwardGate({
    applications: () => apps,
    maxPurpose: 0xffff,
    maxPayloadBytes: 64,
    guard: (callback) => {
      try {
        return callback();
      } catch (e) {
        errors.push(e as Error);
        return undefined;
      }
    },
    reportError: (e) => errors.push(e),
  });
}

describe("forward gate", () => {
  it("sends the hop unchanged when nobody objects", () => {
    const g = gate([{ onForward: () => undefined }]);
    const m = message();
    g.decide(m, next);
    expect(g.planFor(m)).toEqual({ kind: "send", message: m });
  });

  it("a callback returning false vetoes the hop", () => {
    const g = gate([{ onForward: () => true }, { onForward: () => false }]);
    g.decide(message(), next);
    expect(g.planFor(message()).kind).toBe("veto");
    // The decision is used once: a later hop of the same id is not vetoed by a stale plan.
    expect(g.planFor(message()).kind).toBe("send");
  });

  it("changes from several callbacks accumulate; the key stays", () => {
    const g = gate([
      { onForward: (m) => ({ ...m, payload: Buffer.from("first") }) },
      { onForward: (m) => ({ ...m, purpose: 17, key: NodeId.fromString("elsewhere") }) },
    ]);
    g.decide(message(), next);
    const plan = g.planFor(message());
    expect(plan.kind).toBe("send");
    if (plan.kind !== "send") return;
    expect(Buffer.from(plan.message.payload).toString()).toBe("first");
    expect(plan.message.purpose).toBe(17);
    expect(plan.message.key.equals(NodeId.fromString("key"))).toBe(true);
  });

  it("an invalid change is reported and ignored", () => {
    const errors: Error[] = [];
    const g = gate(
      [
        { onForward: (m) => ({ ...m, purpose: 3 }) },
        { onForward: (m) => ({ ...m, payload: new Uint8Array(65) }) },
      ],
      errors,
    );
    g.decide(message(), next);
    expect(g.planFor(message())).toEqual({ kind: "send", message: message() });
    expect(errors).toHaveLength(2);
  });

  it("a callback that throws is reported and does not stop the hop", () => {
    const errors: Error[] = [];
    const g = gate(
      [
        {
          onForward: () => {
            throw new Error("boom");
          },
        },
      ],
      errors,
    );
    g.decide(message(), next);
    expect(g.planFor(message()).kind).toBe("send");
    expect(errors.map((e) => e.message)).toEqual(["boom"]);
  });

  it("the runtime's reserved traffic is never offered to the hooks", () => {
    const g = gate([{ onForward: () => false }]);
    g.decide(message(2), next);
    expect(g.planFor(message(2)).kind).toBe("send");
  });

  it("asynchronous interceptors make the hop wait, then veto or change it", async () => {
    const g = gate([]);
    const changing: ForwardInterceptor = {
      wants: (p) => p === 16,
      decide: async (m) => ({ ...m, payload: Buffer.from("async") }),
    };
    const remove = g.addInterceptor(changing);
    g.decide(message(16, "a"), next);
    const plan = g.planFor(message(16, "a"));
    expect(plan.kind).toBe("wait");
    if (plan.kind !== "wait") return;
    const decided = await plan.decision;
    expect(decided !== false && Buffer.from(decided.payload).toString()).toBe("async");

    g.addInterceptor({ wants: () => true, decide: async () => false });
    g.decide(message(16, "b"), next);
    const vetoed = g.planFor(message(16, "b"));
    expect(vetoed.kind === "wait" && (await vetoed.decision)).toBe(false);

    remove();
    g.decide(message(18, "c"), next);
    const other = g.planFor(message(18, "c"));
    expect(other.kind === "wait" && (await other.decision)).toBe(false);
  });
});
