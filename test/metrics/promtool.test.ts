import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry, collectDefaultMetrics } from "prom-client";
import { startHealthServer, type HealthServer } from "../../src/server/metrics/http.js";
import { DROP_REASONS } from "../../src/server/metrics/labels.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import { promtoolCheckMetrics } from "./promtool.js";

/** A node's metrics with every metric and every kind of label value touched. */
function touchEverything(): WendyMetrics {
  const m = new WendyMetrics({ nodeId: "cd".repeat(16), version: "0.1.0" });
  m.setStateProvider(() => ({
    leafSetLeft: 16,
    leafSetRight: 15,
    routingTableEntries: 42,
    neighbourhoodSetSize: 8,
    knownPeers: 60,
    openPeerConnections: 12,
    subscribers: 3,
    ready: true,
    rerouted: 4,
    hopRetries: 3,
    hopsParked: 1,
    parkedHops: 0,
    ringMinimum: "cd".repeat(16),
  }));
  m.messageSent();
  m.messageForwarded();
  m.messageDelivered(4);
  for (const reason of DROP_REASONS) m.messageDropped(reason);
  m.duplicateSuppressed();
  m.undeliveredNoSubscriber();
  m.observeDeliveryLatency(0.03);
  m.joinStarted();
  m.joinCompleted(0.8);
  m.joinFailed();
  m.nodeFailureDetected(3.1);
  m.membershipChanged("joined");
  m.membershipChanged("left");
  m.leafSetChanged();
  m.authenticationFailed("bad_mac");
  m.authenticationFailed("from a hostile peer");
  m.peerRpcServed("/wendy.v1.PeerService/Route", 0);
  m.peerRpcCompleted("Join", 14, 0.002);
  m.peerRpcCompleted("NoSuchMethod", 0, 0.002);
  m.clientRpcServed("Send", 0);
  m.observeClientRpcDuration("Call", 0.02);
  return m;
}

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.text();
}

describe("promtool check metrics", () => {
  let server: HealthServer;
  beforeAll(async () => {
    server = await startHealthServer({
      host: "127.0.0.1",
      port: 0,
      metrics: touchEverything(),
      health: { liveness: () => ({ ok: true }), readiness: () => ({ ok: true }) },
    });
  });
  afterAll(() => server.close());

  it("finds no problem in the live /metrics output of a node with every metric touched", async () => {
    const text = await fetchText(`${server.url}/metrics`);
    // The scrape really holds the node's metrics, the process metrics and the renamed runtime gauges.
    for (const name of [
      "wendy_messages_dropped_total",
      "wendy_peer_rpc_duration_seconds",
      "wendy_leaf_set_size",
      "wendy_build_info",
      "wendy_ring_minimum",
      "wendy_client_rpc_duration_seconds",
      "wendy_membership_changes_total",
      "process_cpu_seconds_total",
      "nodejs_gc_duration_seconds",
      "nodejs_active_handles_all",
      "nodejs_active_requests_all",
      "nodejs_active_resources_all",
    ]) {
      expect(text).toContain(`\n# TYPE ${name} `);
    }
    const result = await promtoolCheckMetrics(text);
    expect(result.problems).toEqual([]);
    expect(result.exitCode).toBe(0);
  });

  it("does flag prom-client's unmodified default metrics (exactly the three gauges named *_total)", async () => {
    const raw = new Registry();
    collectDefaultMetrics({ register: raw });
    const result = await promtoolCheckMetrics(await raw.metrics());
    expect(result.exitCode).not.toBe(0);
    expect(result.problems.sort()).toEqual([
      'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
      'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
      'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
    ]);
  });
});
