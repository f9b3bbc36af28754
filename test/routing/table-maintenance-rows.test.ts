// TableMaintenance on its own: which row requests go to whom (the overlay-level behaviour is in
// table-maintenance.test.ts).
import { describe, expect, it } from "vitest";
import { routingConfig } from "../../src/routing/config.js";
import { NodeId } from "../../src/routing/id.js";
import { NeighbourhoodSet } from "../../src/routing/neighbourhood-set.js";
import type { PeerSend } from "../../src/routing/outbox.js";
import { ProximityStore } from "../../src/routing/proximity.js";
import { RoutingTable } from "../../src/routing/routing-table.js";
import { TableMaintenance } from "../../src/routing/table-maintenance.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const config = routingConfig({ failureTimeoutMs: 1000, tableMaintenanceIntervalMs: 10_000 });
const node = (hex: string, port: number): NodeInfo => nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), port);
const self = node("a", 1);
const row0 = [node("1", 2), node("2", 3), node("3", 4)];
const row1 = [node("a1", 5), node("a2", 6)];

function setUp(): { proximity: ProximityStore; table: RoutingTable; neighbours: NeighbourhoodSet } {
  const proximity = new ProximityStore(self, config.regionMultiplier);
  const proximityOf = (peer: NodeInfo): number | undefined => proximity.proximity(peer);
  const table = new RoutingTable(self, proximityOf, true);
  const neighbours = new NeighbourhoodSet(config.neighbourhoodSize, proximityOf);
  for (const n of [...row0, ...row1]) {
    table.insert(n);
    neighbours.insert(n);
  }
  return { proximity, table, neighbours };
}

const asked = (sends: readonly PeerSend[]): string[] =>
  sends.map(
    (s) => `${s.to.id.hex[0]}${s.to.id.hex[1]}:${s.message.type === "rowRequest" ? s.message.row : "?"}`,
  );

describe("TableMaintenance", () => {
  it("periodic maintenance asks rows in turn, skipping empty rows, one request per round", () => {
    const { proximity, table, neighbours } = setUp();
    const m = new TableMaintenance(self, config);
    const first = { next: () => 0 };
    expect(asked(m.periodic(table, neighbours, proximity, first, 0))).toEqual(["10:0"]);
    expect(asked(m.periodic(table, neighbours, proximity, first, 0))).toEqual(["a1:1"]);
    // Rows 2..31 are empty: the next round wraps to row 0 again, and the random source picks the entry.
    expect(asked(m.periodic(table, neighbours, proximity, { next: () => 0.99 }, 0))).toEqual(["30:0"]);
  });

  it("a round for row 0 asks one of the nearest measured neighbours; other rows a random entry", () => {
    const proximity = new ProximityStore(self, config.regionMultiplier);
    const proximityOf = (peer: NodeInfo): number | undefined => proximity.proximity(peer);
    const table = new RoutingTable(self, proximityOf, true);
    const neighbours = new NeighbourhoodSet(config.neighbourhoodSize, proximityOf);
    // Ten measured neighbours (1 ms apart) and one unmeasured; the table holds the farthest of them.
    const near = Array.from({ length: 10 }, (_, i) => node(`${i}f`, 10 + i));
    near.forEach((n, i) => proximity.record(n, i + 1));
    for (const n of [...near, node("e", 30), ...row1]) {
      table.insert(n);
      neighbours.insert(n);
    }
    const m = new TableMaintenance(self, config);
    // The random source's last pick among the 8 nearest is the 8th (7 ms), never the 9th, 10th or e.
    expect(asked(m.periodic(table, neighbours, proximity, { next: () => 0.99 }, 0))).toEqual(["7f:0"]);
    expect(asked(m.periodic(table, neighbours, proximity, { next: () => 0.99 }, 0))).toEqual(["a2:1"]);
    expect(asked(m.periodic(table, neighbours, proximity, { next: () => 0 }, 20_000))).toEqual(["0f:0"]);
  });

  it("starts at a random phase within the first interval, then paces rounds by the failures seen: 8 intervals apart with none, a quarter of one under heavy churn", () => {
    const m = new TableMaintenance(self, config);
    expect(m.due(1e12, 50)).toBe(false);
    m.start(1000, { next: () => 0.5 });
    expect(m.due(5_999, 50)).toBe(false);
    expect(m.due(6_000, 50)).toBe(true);
    expect(m.due(85_999, 50)).toBe(false);
    expect(m.due(86_000, 50)).toBe(true);
    // One of the 50 peers kept fails every second: stale entries appear far faster than rounds could follow.
    for (let t = 86_000; t <= 166_000; t += 1000) m.peerFailed(50, t);
    expect(m.due(166_000, 50)).toBe(true);
    expect(m.due(168_499, 50)).toBe(false);
    expect(m.due(168_500, 50)).toBe(true);
  });

  it("asks a peer for a given row at most once per two failure timeouts", () => {
    const { table } = setUp();
    const m = new TableMaintenance(self, config);
    expect(m.repairRow(table, 0, new Set(), 0)).toHaveLength(1);
    expect(m.repairRow(table, 0, new Set(), 1_999)).toEqual([]);
    expect(m.repairRow(table, 0, new Set(), 2_000)).toHaveLength(1);
  });

  it("an answer is a repair's once, for the peer and row asked; a periodic round's or the join's never is", () => {
    const { proximity, table, neighbours } = setUp();
    const m = new TableMaintenance(self, config);
    expect(asked(m.repairRow(table, 0, new Set(), 0))).toEqual(["10:0"]);
    expect(m.answersRepair(row0[0]!, 1)).toBe(false);
    expect(m.answersRepair(row0[1]!, 0)).toBe(false);
    expect(m.answersRepair(row0[0]!, 0)).toBe(true);
    expect(m.answersRepair(row0[0]!, 0)).toBe(false);
    expect(asked(m.periodic(table, neighbours, proximity, { next: () => 0.5 }, 0))).toEqual(["20:0"]);
    expect(m.answersRepair(row0[1]!, 0)).toBe(false);
    proximity.record(row1[0]!, 5);
    neighbours.insert(row1[0]!);
    expect(m.nearerRows(neighbours, table, proximity, 0).length).toBeGreaterThan(0);
    for (const n of [...row0, ...row1]) for (const r of [0, 1]) expect(m.answersRepair(n, r)).toBe(false);
    // Asked again for a round of maintenance, a repair's pending answer becomes that round's.
    expect(asked(m.repairRow(table, 1, new Set(), 3_000))).toEqual(["a1:1"]);
    expect(asked(m.periodic(table, neighbours, proximity, { next: () => 0 }, 10_000))).toEqual(["a1:1"]);
    expect(m.answersRepair(row1[0]!, 1)).toBe(false);
  });

  it("a row that lost an entry is asked of a non-suspect entry of it, else of a deeper row", () => {
    const { table } = setUp();
    const m = new TableMaintenance(self, config);
    const suspects = new Set(row0.map((n) => n.id.hex));
    expect(asked(m.repairRow(table, 0, suspects, 0))).toEqual(["a1:0"]);
    expect(m.repairRow(table, 2, new Set(), 0)).toEqual([]);
  });

  it("the join's second phase asks the nearest measured entry of each row, and the nearest neighbours for their first rows", () => {
    const { proximity, table, neighbours } = setUp();
    proximity.record(row0[2]!, 5);
    proximity.record(row0[0]!, 50);
    proximity.record(row1[1]!, 7);
    // Measured after insertion: re-ranked by re-inserting, as the node does when an RTT arrives.
    for (const n of [...row0, ...row1]) neighbours.insert(n);
    const m = new TableMaintenance(self, config);
    expect(asked(m.nearerRows(neighbours, table, proximity, 0)).sort()).toEqual(
      ["30:0", "a2:0", "a2:1", "10:0"].sort(),
    );
  });
});
