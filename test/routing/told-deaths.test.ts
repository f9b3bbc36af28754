// A push names deaths of nodes the receiver does not hold too (they lay beyond its far ends). Those it believes
// briefly, as it does deaths of its own members that it hears of: a stale table row or leaf set naming one a
// moment later must not make it a leaf-set candidate, probed for three attempts (3 s) while it holds the slot a
// live node needs (adjacent crashes, l = 16, seed 21072: a hole for 3 s).
import { describe, expect, it } from "vitest";
import { routingConfig } from "../../src/routing/config.js";
import { NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { nodeInfo, seededRandom } from "./overlay-harness.js";

const at = (n: bigint): NodeInfo => nodeInfo(NodeId.fromBigInt(n << 96n), Number(n));
const FAILURE_TIMEOUT_MS = routingConfig({ leafSetSize: 8 }).failureTimeoutMs;
const MEMBERS = [1560n, 1570n, 1580n, 1590n, 1610n, 1620n, 1630n, 1640n];

/** A ready node at 1600 (leaf-set size 8) that heard from each of MEMBERS at t = 10 ms. */
function readyNode(): PastryNode {
  const node = new PastryNode(at(1600n), { random: seededRandom(1), config: { leafSetSize: 8 } });
  node.bootstrap(0);
  for (const n of MEMBERS) node.receive(at(n), { type: "heartbeat" }, 10);
  node.takeOutputs();
  return node;
}

const probedIds = (outputs: readonly Output[]): string[] =>
  outputs.flatMap((o) => (o.type === "send" && o.out.message.type === "probe" ? [o.out.to!.id.hex] : []));

/** A routing-table row from `from` that names `entries` (row 6: the rows these IDs share with 1600). */
const rowNaming = (entries: readonly NodeInfo[]): PeerMessage => ({
  type: "row",
  row: { row: 6, entries: [...entries] },
});

/** At 10 s, 1630 pushes the deaths of 1640 (the node's far right member) and `beyond` (not held by it). */
function pushDeaths(node: PastryNode, beyond: NodeInfo): void {
  node.receive(
    at(1630n),
    { type: "leafSet", leafSet: [at(1620n), node.self], removed: [at(1640n).id, beyond.id] },
    10_000,
  );
  node.takeOutputs();
}

describe("deaths told of nodes not held", () => {
  it("a node a push named dead, though not held, is no leaf-set candidate when a stale row names it within a failure timeout", () => {
    const node = readyNode();
    const beyond = at(1650n);
    const live = at(1660n);
    pushDeaths(node, beyond);
    expect(node.leafSet().right.map((n) => n.id.hex)).not.toContain(at(1640n).id.hex);
    // A moment later a row written before the deaths names 1650 and a live node beyond it.
    node.receive(at(1590n), rowNaming([beyond, live]), 10_100);
    const probed = probedIds(node.takeOutputs());
    expect(probed).not.toContain(beyond.id.hex);
    expect(probed).toContain(live.id.hex);
  });

  it("after a failure timeout, or once the node talks to us, a node told dead is a candidate again", () => {
    const node = readyNode();
    const beyond = at(1650n);
    pushDeaths(node, beyond);
    // Ticks meanwhile, as the runtime gives them (a silent gap reads as a pause of this node's own).
    const later = 10_000 + FAILURE_TIMEOUT_MS;
    for (let t = 10_250; t <= later; t += 250) node.tick(t);
    node.takeOutputs();
    node.receive(at(1590n), rowNaming([beyond]), later);
    expect(probedIds(node.takeOutputs())).toContain(beyond.id.hex);

    const other = readyNode();
    pushDeaths(other, beyond);
    other.receive(beyond, { type: "heartbeat" }, 10_100);
    expect(other.leafSet().right.map((n) => n.id.hex)).toContain(beyond.id.hex);
  });
});
