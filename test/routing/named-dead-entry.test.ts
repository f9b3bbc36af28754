// A node named in another's routing-table row that does not answer our proximity probe: probed once (it is
// not in our state, so nothing of ours rests on it), and the node that named it is told it is dead, so that
// it stops routing through it and handing it out. Driven input by input on a machine of a small overlay.
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { quietOverlay, rowZeroStrangers } from "./overlay-harness.js";

function sends(outputs: readonly Output[]): { to: NodeInfo | undefined; message: PeerMessage }[] {
  return outputs.flatMap((o) => (o.type === "send" ? [{ to: o.out.to, message: o.out.message }] : []));
}

/** `asker` gets `namer`'s row 0 naming `named` at `now`; returns the probes it sent to `named`. */
function shareRow(asker: PastryNode, namer: PastryNode, named: NodeInfo, now: number): number {
  asker.receive(namer.self, { type: "row", row: { row: 0, entries: [named] } }, now);
  return sends(asker.takeOutputs()).filter((s) => s.message.type === "probe" && s.to?.id.equals(named.id))
    .length;
}

/** Ticks `node` every 100 ms for `ms`; returns what it sent. */
function tickFor(node: PastryNode, from: number, ms: number): ReturnType<typeof sends> {
  const out: ReturnType<typeof sends> = [];
  for (let t = from; t <= from + ms; t += 100) {
    node.tick(t);
    out.push(...sends(node.takeOutputs()));
  }
  return out;
}

describe("a node named in a row that does not answer", () => {
  it("is probed once, not three times, and the namer alone is told it is dead", () => {
    const o = quietOverlay(10, 11);
    const [asker, namer] = o.live() as [PastryNode, PastryNode];
    const [dead] = rowZeroStrangers(asker, 1, 999).named as [NodeInfo];
    const now = o.now + 1000;
    expect(shareRow(asker, namer, dead, now)).toBe(1);
    const after = tickFor(asker, now + 100, 10_000);
    expect(after.filter((s) => s.message.type === "probe" && s.to?.id.equals(dead.id))).toEqual([]);
    expect(
      asker
        .routingTable()
        .flat()
        .some((n) => n?.id.equals(dead.id) === true),
    ).toBe(false);
    const notices = after.filter(
      (s) => s.message.type === "leafSet" && s.message.removed.some((id) => id.equals(dead.id)),
    );
    expect(notices.map((s) => s.to?.id.hex)).toEqual([namer.self.id.hex]);
    expect(notices[0]?.message).toEqual({ type: "leafSet", leafSet: [], removed: [dead.id] });
  });

  it("is not told about a named node that answers", () => {
    const o = quietOverlay(10, 11);
    const [asker, namer] = o.live() as [PastryNode, PastryNode];
    const [alive] = rowZeroStrangers(asker, 1, 998).named as [NodeInfo];
    const now = o.now + 1000;
    expect(shareRow(asker, namer, alive, now)).toBe(1);
    asker.receive(alive, { type: "probeReply", echoSentAt: now, leafSet: [], ready: true }, now + 40);
    const after = tickFor(asker, now + 100, 10_000);
    const notices = after.filter(
      (s) => s.message.type === "leafSet" && s.message.removed.some((id) => id.equals(alive.id)),
    );
    expect(notices).toEqual([]);
  });
});
