import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { nodeInfo, seededRandom } from "./overlay-harness.js";

const SELF = 0x8n << 124n;
const info = (id: bigint, port: number): NodeInfo => nodeInfo(NodeId.fromBigInt(id), port);

function probedIds(outputs: readonly Output[]): string[] {
  return outputs
    .flatMap((o) => (o.type === "send" && o.out.message.type === "probe" ? [o.out.to?.id.hex ?? "?"] : []))
    .sort();
}

function rowOf(...entries: NodeInfo[]): PeerMessage {
  return { type: "row", row: { row: 0, entries } };
}

/**
 * A ready node whose leaf set is full of nodes numerically next to it, so that the nodes a test offers
 * (far away on the ring) are candidates for its routing table only.
 */
function readyNodeWithFullLeafSet(): PastryNode {
  const node = new PastryNode(info(SELF, 7000), { random: seededRandom(3) });
  node.bootstrap(0);
  for (let k = 1n; k <= 16n; k++) {
    node.receive(info(SELF + k, 7000 + Number(k)), { type: "heartbeat" }, 1);
    node.receive(info(SELF - k, 7100 + Number(k)), { type: "heartbeat" }, 1);
  }
  node.takeOutputs();
  return node;
}

describe("proximity probes: measured only when a measurement decides a table slot", () => {
  it("a node taking an empty slot is not probed; a rival for it is probed together with the holder", () => {
    const node = readyNodeWithFullLeafSet();
    const sender = info(0x2n << 124n, 8000);
    const holder = info(0x1n << 124n, 8001);
    const rival = info((0x11n << 120n) | 5n, 8002);

    node.receive(sender, rowOf(holder), 100);
    expect(probedIds(node.takeOutputs())).toEqual([]);
    expect(node.routingTable()[0]?.[1]).toBe(holder);
    expect(node.routingTable()[0]?.[2]).toBe(sender);

    node.receive(sender, rowOf(rival), 200);
    expect(probedIds(node.takeOutputs())).toEqual([holder.id.hex, rival.id.hex].sort());
    expect(node.routingTable()[0]?.[1]).toBe(holder);

    // The nearer one answers first and takes the slot; the farther one's answer leaves it there.
    node.receive(rival, { type: "probeReply", echoSentAt: 200, leafSet: [], ready: true }, 230);
    node.receive(holder, { type: "probeReply", echoSentAt: 200, leafSet: [], ready: true }, 290);
    expect(node.routingTable()[0]?.[1]).toBe(rival);
    node.takeOutputs();

    // Both are measured now: offering either again sends no probe.
    node.receive(sender, rowOf(holder, rival), 10_000);
    expect(probedIds(node.takeOutputs())).toEqual([]);
    expect(node.routingTable()[0]?.[1]).toBe(rival);
  });

  it("a measured holder stays unless the rival proves nearer", () => {
    const node = readyNodeWithFullLeafSet();
    const sender = info(0x2n << 124n, 8000);
    const holder = info(0x1n << 124n, 8001);
    const rival = info((0x11n << 120n) | 5n, 8002);
    node.receive(sender, rowOf(holder), 100);
    node.receive(sender, rowOf(rival), 200);
    node.receive(holder, { type: "probeReply", echoSentAt: 200, leafSet: [], ready: true }, 220);
    node.receive(rival, { type: "probeReply", echoSentAt: 200, leafSet: [], ready: true }, 300);
    expect(node.routingTable()[0]?.[1]).toBe(holder);
  });

  it("without proximity-aware tables nothing is probed for the table", () => {
    const node = new PastryNode(info(SELF, 7000), {
      random: seededRandom(3),
      config: { proximityAware: false },
    });
    node.bootstrap(0);
    for (let k = 1n; k <= 16n; k++) {
      node.receive(info(SELF + k, 7000 + Number(k)), { type: "heartbeat" }, 1);
      node.receive(info(SELF - k, 7100 + Number(k)), { type: "heartbeat" }, 1);
    }
    node.takeOutputs();
    node.receive(info(0x2n << 124n, 8000), rowOf(info(0x1n << 124n, 8001)), 100);
    node.receive(info(0x2n << 124n, 8000), rowOf(info((0x11n << 120n) | 5n, 8002)), 200);
    expect(probedIds(node.takeOutputs())).toEqual([]);
  });
});
