// Death notices: a node that finds one of its routing-table entries dead tells its nearest neighbours that
// could hold it, and a neighbour drops it from its table on that word, but checks a leaf-set member first.
// Driven input by input on machines of a small quiet overlay.
import { describe, expect, it } from "vitest";
import { deathNotices } from "../../src/routing/death-notices.js";
import { NodeId } from "../../src/routing/id.js";
import type { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { nodeInfo, Overlay, randomId, seededRandom } from "./overlay-harness.js";

function sends(outputs: readonly Output[]): { to: NodeInfo | undefined; message: PeerMessage }[] {
  return outputs.flatMap((o) => (o.type === "send" ? [{ to: o.out.to, message: o.out.message }] : []));
}

const info = (hex: string, port: number): NodeInfo => nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), port);

function tableHolds(node: PastryNode, peer: NodeInfo): boolean {
  return node.routingTable().some((row) => row.some((n) => n?.id.equals(peer.id) === true));
}

function leafHolds(node: PastryNode, peer: NodeInfo): boolean {
  const { left, right } = node.leafSet();
  return [...left, ...right].some((n) => n.id.equals(peer.id));
}

/** Thirty ready nodes with l = 4: most of a node's table entries are outside its leaf set. */
function overlay(): Overlay {
  const o = new Overlay({ leafSetSize: 4 }, 31);
  const random = seededRandom(32);
  o.bootstrap(randomId(random));
  for (let i = 0; i < 29; i++) o.join(randomId(random));
  for (const n of o.live()) n.takeOutputs();
  return o;
}

/** A node and an entry of its routing table that is not in its leaf set. */
function holderAndEntry(o: Overlay): { holder: PastryNode; entry: NodeInfo } {
  for (const holder of o.live()) {
    for (const row of holder.routingTable())
      for (const entry of row) if (entry !== undefined && !leafHolds(holder, entry)) return { holder, entry };
  }
  throw new Error("no table entry outside a leaf set");
}

describe("death notices", () => {
  it("go to the nearest neighbours sharing at least the dead entry's row with it, never to it, at most fanout", () => {
    const dead = info("a5", 1);
    const neighbours = [info("a7", 2), info("b0", 3), info("a5", 1), info("a1", 4), info("a9", 5)];
    const told = (row: number, fanout: number): string[] =>
      deathNotices(dead, row, neighbours, fanout).map((s) => s.to.id.hex.slice(0, 2));
    expect(told(1, 16)).toEqual(["a7", "a1", "a9"]);
    expect(told(0, 16)).toEqual(["a7", "b0", "a1", "a9"]);
    expect(told(1, 2)).toEqual(["a7", "a1"]);
    const [first] = deathNotices(dead, 1, neighbours, 1);
    expect(first?.message).toEqual({ type: "leafSet", leafSet: [], removed: [dead.id] });
  });

  it("a node that finds a table entry dead itself tells its neighbours; one that holds it drops it from its table", () => {
    const o = overlay();
    const { holder, entry } = holderAndEntry(o);
    const base = 100_000;
    // The runtime lost its connection to the entry, and the probes that follow are refused: dead.
    holder.connectionLost(entry, base);
    holder.takeOutputs();
    const refuse = (at: number): void =>
      holder.sendFailed(
        { to: entry, address: entry.localAddress, message: { type: "probe", sentAt: at, joining: false } },
        at,
        "unreachable",
      );
    refuse(base + 1);
    for (let t = base + 100; t <= base + 400; t += 100) holder.tick(t);
    holder.takeOutputs();
    refuse(base + 401);
    expect(tableHolds(holder, entry)).toBe(false);
    const notices = sends(holder.takeOutputs()).filter(
      (s) => s.message.type === "leafSet" && s.message.leafSet.length === 0,
    );
    expect(notices.length).toBeGreaterThan(0);
    expect(notices.some((s) => s.to?.id.equals(entry.id) === true)).toBe(false);
    for (const s of notices) {
      expect(s.message).toEqual({ type: "leafSet", leafSet: [], removed: [entry.id] });
      expect(s.to?.id.commonPrefixLength(entry.id)).toBeGreaterThanOrEqual(
        holder.self.id.commonPrefixLength(entry.id),
      );
    }
  });

  it("a notice drops a table entry at once, but a node heard from directly just now is only probed", () => {
    const o = overlay();
    const { holder, entry } = holderAndEntry(o);
    const teller = o.live().find((n) => n !== holder && !n.self.id.equals(entry.id))!;
    const notice: PeerMessage = { type: "leafSet", leafSet: [], removed: [entry.id] };
    holder.heardFrom(entry, 100_000);
    holder.takeOutputs();
    holder.receive(teller.self, notice, 100_500);
    expect(tableHolds(holder, entry)).toBe(true);
    const probes = sends(holder.takeOutputs()).filter((s) => s.message.type === "probe");
    expect(probes.map((s) => s.to?.id.hex)).toEqual([entry.id.hex]);
    holder.receive(teller.self, notice, 200_000);
    expect(tableHolds(holder, entry)).toBe(false);
  });
});
