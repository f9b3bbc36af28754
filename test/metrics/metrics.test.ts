import { describe, expect, it } from "vitest";
import { register as globalRegistry } from "prom-client";
import { WendyMetrics, type NodeStateSnapshot } from "../../src/server/metrics/metrics.js";
import { samplesOf, valueOf } from "./scrape.js";

const NODE_ID = "0123456789abcdef0123456789abcdef";

function newMetrics(): WendyMetrics {
  return new WendyMetrics({ nodeId: NODE_ID, version: "1.2.3", processMetrics: false });
}

describe("WendyMetrics counters and histograms", () => {
  it("moves message counters and the hops histogram as the methods are called", async () => {
    const m = newMetrics();
    const r = m.registry;
    expect(await valueOf(r, "wendy_messages_sent_total")).toBe(0);
    m.messageSent();
    m.messageSent();
    m.messageForwarded();
    m.messageDelivered(3);
    m.messageDelivered(5);
    m.duplicateSuppressed();
    m.undeliveredNoSubscriber();
    m.observeDeliveryLatency(0.02);
    expect(await valueOf(r, "wendy_messages_sent_total")).toBe(2);
    expect(await valueOf(r, "wendy_messages_forwarded_total")).toBe(1);
    expect(await valueOf(r, "wendy_messages_delivered_total")).toBe(2);
    expect(await valueOf(r, "wendy_duplicates_suppressed_total")).toBe(1);
    expect(await valueOf(r, "wendy_undelivered_no_subscriber_total")).toBe(1);
    const hops = "wendy_delivered_message_hops";
    expect(await valueOf(r, hops, {}, `${hops}_count`)).toBe(2);
    expect(await valueOf(r, hops, {}, `${hops}_sum`)).toBe(8);
    expect(await valueOf(r, hops, { le: 4 }, `${hops}_bucket`)).toBe(1);
    const latency = "wendy_delivery_latency_seconds";
    expect(await valueOf(r, latency, {}, `${latency}_sum`)).toBeCloseTo(0.02);
  });

  it("counts drops by reason", async () => {
    const m = newMetrics();
    m.messageDropped("ttl");
    m.messageDropped("ttl");
    m.messageDropped("vetoed");
    const r = m.registry;
    expect(await valueOf(r, "wendy_messages_dropped_total", { reason: "ttl" })).toBe(2);
    expect(await valueOf(r, "wendy_messages_dropped_total", { reason: "vetoed" })).toBe(1);
    expect(await valueOf(r, "wendy_messages_dropped_total", { reason: "queue_full" })).toBeUndefined();
  });

  it("records joins, membership changes, leaf-set changes and authentication failures", async () => {
    const m = newMetrics();
    m.joinStarted();
    m.joinStarted();
    m.joinFailed();
    m.joinCompleted(1.5);
    m.nodeFailureDetected(3.2);
    m.nodeFailureDetected(undefined);
    m.membershipChanged("left");
    m.membershipChanged("joined");
    m.membershipChanged("joined");
    m.leafSetChanged();
    m.authenticationFailed("replayed-seq");
    const r = m.registry;
    expect(await valueOf(r, "wendy_joins_started_total")).toBe(2);
    expect(await valueOf(r, "wendy_joins_failed_total")).toBe(1);
    expect(await valueOf(r, "wendy_joins_completed_total")).toBe(1);
    expect(await valueOf(r, "wendy_join_duration_seconds", {}, "wendy_join_duration_seconds_sum")).toBe(1.5);
    const changes = "wendy_membership_changes_total";
    expect(await valueOf(r, changes, { change: "failed" })).toBe(2);
    expect(await valueOf(r, changes, { change: "left" })).toBe(1);
    expect(await valueOf(r, changes, { change: "joined" })).toBe(2);
    // Only the failure with a known last sign of life is timed.
    const detection = "wendy_failure_detection_seconds";
    expect(await valueOf(r, detection, {}, `${detection}_count`)).toBe(1);
    expect(await valueOf(r, detection, { le: 3 }, `${detection}_bucket`)).toBe(0);
    expect(await valueOf(r, detection, { le: 4 }, `${detection}_bucket`)).toBe(1);
    expect(await valueOf(r, "wendy_leaf_set_changes_total")).toBe(1);
    expect(await valueOf(r, "wendy_authentication_failures_total", { reason: "replayed_seq" })).toBe(1);
  });

  it("counts peer RPCs per side, method and code, and times outgoing ones", async () => {
    const m = newMetrics();
    m.peerRpcCompleted("/wendy.v1.PeerService/Join", 0, 0.004);
    m.peerRpcCompleted("Join", "OK", 0.006);
    m.peerRpcServed("Route", 16);
    m.clientRpcServed("/wendy.v1.OverlayService/Send", 4);
    m.observeClientRpcDuration("/wendy.v1.OverlayService/Call", 0.03);
    m.observeClientRpcDuration("SendStream", 0.001);
    const r = m.registry;
    const rpcs = "wendy_peer_rpcs_total";
    expect(await valueOf(r, rpcs, { side: "client", method: "Join", code: "OK" })).toBe(2);
    expect(await valueOf(r, rpcs, { side: "server", method: "Route", code: "UNAUTHENTICATED" })).toBe(1);
    expect(await valueOf(r, rpcs, { side: "server", method: "Join" })).toBeUndefined();
    const latency = "wendy_peer_rpc_duration_seconds";
    expect(await valueOf(r, latency, { method: "Join" }, `${latency}_count`)).toBe(2);
    expect(await valueOf(r, latency, { method: "Join" }, `${latency}_sum`)).toBeCloseTo(0.01);
    expect(await valueOf(r, "wendy_client_rpcs_total", { method: "Send", code: "DEADLINE_EXCEEDED" })).toBe(
      1,
    );
    const client = "wendy_client_rpc_duration_seconds";
    expect(await valueOf(r, client, { method: "Call" }, `${client}_sum`)).toBeCloseTo(0.03);
    expect(await valueOf(r, client, { method: "SendStream" }, `${client}_count`)).toBe(1);
  });

  it("exposes build info with the version and node id", async () => {
    const m = newMetrics();
    expect(await valueOf(m.registry, "wendy_build_info", { version: "1.2.3", node_id: NODE_ID })).toBe(1);
    expect(await m.exposition()).toContain(`wendy_build_info{version="1.2.3",node_id="${NODE_ID}"} 1`);
  });

  it("keeps every instance in its own registry, never the global one", async () => {
    const a = newMetrics();
    const b = newMetrics();
    a.messageSent();
    expect(await valueOf(a.registry, "wendy_messages_sent_total")).toBe(1);
    expect(await valueOf(b.registry, "wendy_messages_sent_total")).toBe(0);
    expect(globalRegistry.getSingleMetric("wendy_messages_sent_total")).toBeUndefined();
  });

  it("registers process metrics only when asked", () => {
    expect(newMetrics().registry.getSingleMetric("process_cpu_seconds_total")).toBeUndefined();
    const withProcess = new WendyMetrics({ nodeId: NODE_ID, version: "1.2.3" });
    expect(withProcess.registry.getSingleMetric("process_cpu_seconds_total")).toBeDefined();
  });
});

describe("state gauges", () => {
  it("read the state provider on every scrape and at no other time", async () => {
    const m = newMetrics();
    let state: NodeStateSnapshot = {
      leafSetLeft: 3,
      leafSetRight: 4,
      routingTableEntries: 17,
      neighbourhoodSetSize: 5,
      knownPeers: 20,
      openPeerConnections: 9,
      subscribers: 2,
      ready: false,
      rerouted: 7,
      hopRetries: 6,
      hopsParked: 2,
      parkedHops: 1,
      ringMinimum: NODE_ID,
    };
    let reads = 0;
    m.setStateProvider(() => {
      reads++;
      return state;
    });
    expect(reads).toBe(0);
    const text1 = await m.exposition();
    const readsPerScrape = reads;
    expect(readsPerScrape).toBeGreaterThan(0);
    expect(text1).toContain('wendy_leaf_set_size{side="left"} 3');
    expect(text1).toContain('wendy_leaf_set_size{side="right"} 4');
    expect(text1).toContain("wendy_routing_table_entries 17");
    expect(text1).toContain("wendy_neighbourhood_set_size 5");
    expect(text1).toContain("wendy_known_peers 20");
    expect(text1).toContain("wendy_open_peer_connections 9");
    expect(text1).toContain("wendy_subscribers 2");
    expect(text1).toContain("wendy_ready 0");
    expect(text1).toContain("wendy_reroutes_total 7");
    expect(text1).toContain("wendy_hop_retries_total 6");
    expect(text1).toContain("wendy_hops_parked_total 2");
    expect(text1).toContain("wendy_parked_hops 1");
    // A node that is not ready belongs to no ring yet.
    expect(text1).not.toMatch(/^wendy_ring_minimum\{/m);

    state = { ...state, leafSetLeft: 16, routingTableEntries: 40, ready: true };
    expect(reads).toBe(readsPerScrape);
    const text2 = await m.exposition();
    expect(reads).toBe(2 * readsPerScrape);
    expect(text2).toContain('wendy_leaf_set_size{side="left"} 16');
    expect(text2).toContain("wendy_routing_table_entries 40");
    expect(text2).toContain("wendy_ready 1");
    expect(text2).toContain(`wendy_ring_minimum{ring="${NODE_ID}"} 1`);

    state = { ...state, ringMinimum: undefined, rerouted: 9 };
    const text3 = await m.exposition();
    expect(text3).not.toMatch(/^wendy_ring_minimum\{/m);
    expect(text3).toContain("wendy_reroutes_total 9");
  });

  it("report an empty, not-ready node before a provider is registered", async () => {
    const m = newMetrics();
    expect(await valueOf(m.registry, "wendy_ready")).toBe(0);
    expect(await valueOf(m.registry, "wendy_leaf_set_size", { side: "left" })).toBe(0);
  });
});

describe("label whitelisting", () => {
  it("maps unknown methods, codes and reasons to 'other'", async () => {
    const m = newMetrics();
    m.peerRpcServed("/evil.Service/DropTables", 0);
    m.peerRpcServed("Join", 999);
    m.peerRpcServed("Join", "NOT_A_CODE");
    m.clientRpcServed("Whatever", "ok");
    m.authenticationFailed("some reason a peer made up");
    m.messageDropped("made_up" as never);
    const r = m.registry;
    const rpcs = "wendy_peer_rpcs_total";
    expect(await valueOf(r, rpcs, { method: "other", code: "OK" })).toBe(1);
    expect(await valueOf(r, rpcs, { method: "Join", code: "other" })).toBe(2);
    expect(await valueOf(r, "wendy_client_rpcs_total", { method: "other", code: "OK" })).toBe(1);
    expect(await valueOf(r, "wendy_authentication_failures_total", { reason: "other" })).toBe(1);
    expect(await valueOf(r, "wendy_messages_dropped_total", { reason: "other" })).toBe(1);
  });

  it("keeps the number of series bounded whatever label values arrive", async () => {
    const m = newMetrics();
    for (let i = 0; i < 500; i++) {
      m.peerRpcServed(`Method${i}`, i);
      m.peerRpcCompleted(`/pkg.S/M${i}`, `CODE${i}`, 0.001);
      m.authenticationFailed(`reason-${i}`);
    }
    const rpcSeries = await samplesOf(m.registry, "wendy_peer_rpcs_total");
    // Codes 0..16 are real names; everything else collapses to "other": 18 server series + 1 client series.
    expect(rpcSeries.length).toBe(19);
    expect(new Set(rpcSeries.map((s) => s.labels.method))).toEqual(new Set(["other"]));
    expect((await samplesOf(m.registry, "wendy_authentication_failures_total")).length).toBe(1);
    const latencyMethods = new Set(
      (await samplesOf(m.registry, "wendy_peer_rpc_duration_seconds")).map((s) => s.labels.method),
    );
    expect(latencyMethods).toEqual(new Set(["other"]));
  });

  it("accepts custom whitelists", async () => {
    const m = new WendyMetrics({
      nodeId: NODE_ID,
      version: "1",
      processMetrics: false,
      peerMethods: ["Gossip"],
      authFailureReasons: ["bad_token"],
    });
    m.peerRpcServed("/x.Peer/Gossip", 0);
    m.peerRpcServed("Join", 0);
    m.authenticationFailed("bad_token");
    const r = m.registry;
    expect(await valueOf(r, "wendy_peer_rpcs_total", { method: "Gossip" })).toBe(1);
    expect(await valueOf(r, "wendy_peer_rpcs_total", { method: "other" })).toBe(1);
    expect(await valueOf(r, "wendy_authentication_failures_total", { reason: "bad_token" })).toBe(1);
  });
});
