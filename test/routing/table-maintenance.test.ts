// Periodic routing-table maintenance (MSPastry; Castro et al., "Exploiting network proximity"): a ready node
// keeps improving the table its join filled, one row request per interval, rows in turn. Driven input by
// input on one machine of a small overlay; the simulator test shows the tables converging.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type { RoutingTable } from "../../src/routing/routing-table.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { Overlay, nodeInfo, randomId, seededRandom } from "./overlay-harness.js";

const INTERVAL = 60_000;

/** Forty ready nodes (rows 0 and 1 of most tables hold entries); returns the overlay and one of them. */
function readyOverlay(tableMaintenanceIntervalMs = INTERVAL): { overlay: Overlay; node: PastryNode } {
  const overlay = new Overlay({ leafSetSize: 8, tableMaintenanceIntervalMs }, 41);
  const random = seededRandom(42);
  overlay.bootstrap(randomId(random));
  for (let i = 0; i < 39; i++) overlay.join(randomId(random));
  const node = overlay.live().find((n) => n.routingTable().filter((row) => row.some(Boolean)).length >= 2)!;
  return { overlay, node };
}

/** Runs the whole (quiet, stable) overlay for `ms`; returns each rowRequest `node` sent, when and to whom. */
function rowRequests(
  overlay: Overlay,
  node: PastryNode,
  ms: number,
): { at: number; to: NodeInfo; row: number }[] {
  const asked: { at: number; to: NodeInfo; row: number }[] = [];
  overlay.lose = (sender, out) => {
    if (sender === node && out.message.type === "rowRequest" && out.to !== undefined)
      asked.push({ at: overlay.now, to: out.to, row: out.message.row });
    return false;
  };
  overlay.advance(ms, 250);
  overlay.lose = () => false;
  return asked;
}

describe("2.5 routing table maintenance", () => {
  it("asks an entry of each populated row for that row, rows in turn, one request per round; with no failures seen, rounds are 8 configured intervals apart", () => {
    // Configured at an eighth of INTERVAL: on this quiet overlay the rounds come every INTERVAL.
    const { overlay, node } = readyOverlay(INTERVAL / 8);
    const populated = node
      .routingTable()
      .flatMap((row, r) => (row.some((entry) => entry !== undefined) ? [r] : []));
    const asked = rowRequests(overlay, node, 2 * populated.length * INTERVAL);
    expect(asked).toHaveLength(2 * populated.length);
    // Two full rounds over the populated rows, in turn (starting wherever the first one fell).
    const rows = asked.map((a) => a.row);
    expect(new Set(rows.slice(0, populated.length))).toEqual(new Set(populated));
    expect(rows.slice(populated.length)).toEqual(rows.slice(0, populated.length));
    for (const a of asked) {
      // The one asked sits in that row of our table.
      expect(node.routingTable()[a.row]!.some((entry) => entry?.id.equals(a.to.id))).toBe(true);
    }
    // INTERVAL apart (the overlay ticks every 250 ms).
    for (let i = 1; i < asked.length; i++)
      expect(Math.abs(asked[i]!.at - asked[i - 1]!.at - INTERVAL)).toBeLessThanOrEqual(250);
  });

  it("takes a nearer node from the row it gets back in place of a farther entry", () => {
    const { overlay, node } = readyOverlay();
    const [first] = rowRequests(overlay, node, INTERVAL);
    const start = overlay.now;
    node.takeOutputs();
    const slot = node.routingTable()[first!.row]!.findIndex((e) => e !== undefined);
    const holder = node.routingTable()[first!.row]![slot]!;
    node.reportRtt(holder, 80, start + INTERVAL);
    // A node for the same slot: same prefix and digit as the holder, a different ID.
    const digits = holder.id.hex.split("");
    digits[31] = digits[31] === "0" ? "1" : "0";
    const nearer = nodeInfo(NodeId.fromHex(digits.join("")), 4100);
    node.receive(first!.to, { type: "row", row: { row: first!.row, entries: [nearer] } }, start + INTERVAL);
    const probe = node
      .takeOutputs()
      .find((o) => o.type === "send" && o.out.message.type === "probe" && o.out.to?.id.equals(nearer.id));
    expect(probe).toBeDefined();
    node.reportRtt(nearer, 5, start + INTERVAL + 10);
    node.receive(
      first!.to,
      { type: "row", row: { row: first!.row, entries: [nearer] } },
      start + INTERVAL + 20,
    );
    expect(node.routingTable()[first!.row]![slot]?.id.equals(nearer.id)).toBe(true);
  });

  it("measures the nodes a repair's answer names only for the slot it lost; an answer to a round of maintenance is measured in full", () => {
    const { overlay, node } = readyOverlay(Number.POSITIVE_INFINITY);
    const leafMembers = new Set(
      [...node.leafSet().left, ...node.leafSet().right].map((member) => member.id.hex),
    );
    const row0 = node.routingTable()[0]!;
    const outsideLeafSet = row0.filter((e): e is NodeInfo => e !== undefined && !leafMembers.has(e.id.hex));
    // The lost entry is the only node of its slot's class: no runner-up can take the slot, so it is repaired.
    const alone = (e: NodeInfo): boolean =>
      overlay.live().filter((n) => n.self.id.digit(0) === e.id.digit(0)).length === 1;
    const lost = outsideLeafSet.find(alone);
    const held = outsideLeafSet.find((e) => e !== lost);
    expect(lost).toBeDefined();
    expect(held).toBeDefined();
    // Another node for a slot: same prefix and digit, a different ID (a neighbour of the holder on the ring).
    const sameSlot = (holder: NodeInfo, port: number): NodeInfo => {
      const digits = holder.id.hex.split("");
      digits[31] = digits[31] === "0" ? "1" : "0";
      return nodeInfo(NodeId.fromHex(digits.join("")), port);
    };
    const forLost = sameSlot(lost!, 4300);
    const forHeld = sameSlot(held!, 4301);
    const probed = (outputs: ReturnType<PastryNode["takeOutputs"]>): string[] =>
      outputs.flatMap((o) =>
        o.type === "send" && o.out.message.type === "probe" && o.out.to !== undefined
          ? [o.out.to.id.hex]
          : [],
      );

    // `lost` crashes; a message routed through it finds it dead, and the node asks another entry for row 0.
    let repair: { to: NodeInfo; row: number } | undefined;
    overlay.lose = (sender, out) => {
      if (sender === node && out.message.type === "rowRequest" && out.to !== undefined)
        repair ??= { to: out.to, row: out.message.row };
      // Its real answer is replaced by the one below.
      return out.message.type === "row" && out.to?.id.equals(node.self.id) === true;
    };
    overlay.crash(overlay.byAddress.get(lost!.localAddress)!);
    overlay.send(node, lost!.id);
    overlay.advance(10_000);
    overlay.lose = undefined;
    expect(repair?.row).toBe(0);
    node.takeOutputs();

    const answer = { row: 0, entries: [forLost, forHeld] };
    node.receive(repair!.to, { type: "row", row: answer }, overlay.now);
    expect(probed(node.takeOutputs())).toEqual([forLost.id.hex]);
    // The same row again, not asked for as a repair: every node it names that is not measured yet is.
    node.receive(repair!.to, { type: "row", row: answer }, overlay.now + 1);
    expect(probed(node.takeOutputs())).toEqual([forHeld.id.hex]);
  });

  it("a lost entry whose slot has a runner-up is replaced by it at once, and no repair is asked", () => {
    const { overlay } = readyOverlay(Number.POSITIVE_INFINITY);
    // A node with a row-0 slot that has a runner-up, its holder outside the leaf set (a node's own table:
    // PastryNode shows only the holders).
    const withRunnerUp = overlay.live().flatMap((candidate) => {
      const table = (candidate as unknown as { readonly table: RoutingTable }).table;
      const leafMembers = new Set(
        [...candidate.leafSet().left, ...candidate.leafSet().right].map((member) => member.id.hex),
      );
      const column = Array.from({ length: 16 }, (_, c) => c).find((c) => {
        const holder = table.get(0, c);
        return holder !== undefined && !leafMembers.has(holder.id.hex) && table.backup(0, c) !== undefined;
      });
      return column === undefined ? [] : [{ node: candidate, table, column }];
    })[0];
    expect(withRunnerUp).toBeDefined();
    const { node, table, column } = withRunnerUp!;
    const holder = table.get(0, column)!;
    const runnerUp = table.backup(0, column)!;

    const asked: number[] = [];
    overlay.lose = (sender, out) => {
      if (sender === node && out.message.type === "rowRequest") asked.push(out.message.row);
      return false;
    };
    overlay.crash(overlay.byAddress.get(holder.localAddress)!);
    overlay.send(node, holder.id);
    overlay.advance(10_000);
    overlay.lose = undefined;
    expect(node.routingTable()[0]![column]?.id.hex).toBe(runnerUp.id.hex);
    expect(asked).toEqual([]);
  });

  it("never asks with an infinite interval; a non-positive interval is refused", () => {
    const { overlay, node } = readyOverlay(Number.POSITIVE_INFINITY);
    expect(rowRequests(overlay, node, 10 * INTERVAL)).toEqual([]);
    for (const bad of [0, -1, Number.NaN]) {
      expect(
        () =>
          new PastryNode(nodeInfo(randomId(seededRandom(1)), 4200), {
            random: seededRandom(1),
            config: { tableMaintenanceIntervalMs: bad },
          }),
      ).toThrow(/tableMaintenanceIntervalMs must be positive/);
    }
  });
});
