import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, RouteMessage } from "../../src/routing/types.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import { RoutingMetrics } from "../../src/server/metrics/routing-metrics.js";
import { valueOf } from "./scrape.js";

const peer: NodeInfo = {
  id: NodeId.fromString("peer"),
  localAddress: "127.0.0.1:7000",
  globalAddress: "127.0.0.1:7000",
  region: "r1",
  incarnation: 1,
};

function setup(): { metrics: WendyMetrics; routing: RoutingMetrics } {
  const metrics = new WendyMetrics({ nodeId: "ab".repeat(16), version: "1", processMetrics: false });
  return { metrics, routing: new RoutingMetrics(metrics) };
}

describe("RoutingMetrics", () => {
  it("observes origin send to acknowledgement on one clock, once per message, only for messages it saw sent", async () => {
    const { metrics, routing } = setup();
    routing.sending("m-1", 1000);
    routing.event({ type: "acked", messageId: "m-1", deliveredBy: peer, hops: 2 }, 1250);
    routing.event({ type: "acked", messageId: "m-1", deliveredBy: peer, hops: 2 }, 1300);
    routing.event({ type: "acked", messageId: "never-sent", deliveredBy: peer, hops: 1 }, 1300);
    const name = "wendy_delivery_latency_seconds";
    expect(await valueOf(metrics.registry, name, {}, `${name}_count`)).toBe(1);
    expect(await valueOf(metrics.registry, name, {}, `${name}_sum`)).toBeCloseTo(0.25);
  });

  it("times a failure from the peer's last sign of life, and counts joins, leaves and leaf-set changes", async () => {
    const { metrics, routing } = setup();
    routing.event({ type: "heartbeat", from: peer }, 10_000);
    routing.heardFrom(peer, 11_000);
    routing.event({ type: "nodeExited", node: peer, graceful: false }, 14_500);
    routing.event({ type: "nodeJoined", node: peer }, 15_000);
    routing.event({ type: "nodeExited", node: peer, graceful: true }, 16_000);
    routing.event({ type: "leafSetChanged", leafSet: [peer] }, 16_000);
    const r = metrics.registry;
    const detection = "wendy_failure_detection_seconds";
    expect(await valueOf(r, detection, {}, `${detection}_sum`)).toBeCloseTo(3.5);
    expect(await valueOf(r, "wendy_membership_changes_total", { change: "failed" })).toBe(1);
    expect(await valueOf(r, "wendy_membership_changes_total", { change: "joined" })).toBe(1);
    expect(await valueOf(r, "wendy_membership_changes_total", { change: "left" })).toBe(1);
    expect(await valueOf(r, "wendy_leaf_set_changes_total")).toBe(1);
  });

  it("counts duplicates apart from drops, and forgets a dropped message's send time", async () => {
    const { metrics, routing } = setup();
    const message = { id: "m-2" } as RouteMessage;
    routing.sending("m-2", 0);
    routing.event({ type: "dropped", message, reason: "duplicate" }, 1);
    routing.event({ type: "dropped", message, reason: "undeliverable" }, 2);
    routing.event({ type: "acked", messageId: "m-2", deliveredBy: peer, hops: 1 }, 3);
    const r = metrics.registry;
    expect(await valueOf(r, "wendy_duplicates_suppressed_total")).toBe(1);
    expect(await valueOf(r, "wendy_messages_dropped_total", { reason: "undeliverable" })).toBe(1);
    expect(await valueOf(r, "wendy_messages_dropped_total", { reason: "duplicate" })).toBeUndefined();
    expect(
      await valueOf(r, "wendy_delivery_latency_seconds", {}, "wendy_delivery_latency_seconds_count"),
    ).toBe(0);
  });
});
