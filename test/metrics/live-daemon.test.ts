// A realistic run on real daemons (joins, traffic on every client method, a forward veto, a peer with the
// cluster's credentials, a frozen node, a killed one, a graceful leave), then the scrapes are held to what operators
// rely on: every registered metric was fed, every histogram has samples, no proto RPC is labelled "other".
import { credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { HealthService } from "../../src/gen/grpc/health/v1/health.js";
import { OverlayServiceService } from "../../src/gen/wendy/v1/overlay.js";
import { PeerServiceClient, PeerServiceService, type HeartbeatRequest } from "../../src/gen/wendy/v1/peer.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { methodNamesOf, OTHER } from "../../src/server/metrics/labels.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import { waitFor } from "../helpers/wait.js";
import { dashboardQueries, metricNamesIn, templatingMetrics } from "./dashboard.js";
import {
  familyOf,
  scrape,
  startDaemon,
  stopAll,
  waitReady,
  type Daemon,
  type Exposition,
} from "./daemons.js";

const PURPOSE = 20;
const VETOED_PURPOSE = 21;
const NOBODY_LISTENS = 22;

/**
 * Metrics this run cannot feed, each with the reason. Kept short on purpose: anything else not fed by the
 * run fails the test.
 */
const NOT_REACHED: ReadonlyMap<string, string> = new Map([
  [
    "wendy_joins_failed_total",
    "a join fails only after its whole retry window (60 s) without a serving seed; the daemon's join loop " +
      "keeps trying instead, and the cluster's unit tests cover the counter",
  ],
  [
    "wendy_certificate_reloads_refused_total",
    "fed only with per-node identities when a renewed certificate names another node or none; this run has " +
      "no identities, and test/security/identity-renewal-refused.test.ts feeds and checks it",
  ],
]);

const daemons = new Map<string, Daemon>();
const clients: WendyClient[] = [];
const scrapes = new Map<string, Exposition>();
/** Messages whose path the debug log must show: their ID and the node that delivered them. */
const traced = new Map<string, { id: string; deliveredBy: string }>();

function client(d: Daemon, options: ConstructorParameters<typeof WendyClient>[1] = {}): WendyClient {
  const c = new WendyClient(d.client, options);
  clients.push(c);
  return c;
}

function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  return e.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The node's own ID as a key (a string key would be hashed), so the node itself owns it. */
function keyOf(node: Daemon): NodeId {
  return NodeId.fromHex(node.id);
}

/** A subscriber on `node` for PURPOSE that answers every call; resolves once the node counts it. */
async function answerCalls(node: Daemon): Promise<{ close(): void }> {
  const answerer = client(node);
  const deliveries = answerer.subscribe([PURPOSE]);
  void (async () => {
    for await (const delivery of deliveries) {
      if (delivery.callId !== undefined) await answerer.reply(delivery.callId, "pong");
    }
  })().catch(() => undefined);
  await waitFor(`${node.name}'s subscriber`, async () =>
    (await answerer.status()).subscriberCount > 0 ? true : undefined,
  );
  return deliveries;
}

async function run(): Promise<void> {
  const ports = await freePorts(4);
  const seed = `127.0.0.1:${ports[0]}`;
  const env = { WENDY_FAILURE_TIMEOUT_MS: "60000", WENDY_LOG_LEVEL: "debug" };
  const start = async (name: string, port: number, extra: Record<string, string> = {}): Promise<Daemon> => {
    const d = await startDaemon(name, port, [seed], { ...env, ...extra });
    daemons.set(name, d);
    return d;
  };
  const a = await start("metrics-a", ports[0]!);
  await waitReady(a);
  const [b, c, d] = await Promise.all([
    // b also carries a misspelt variable, as operators do: a warning line.
    start("metrics-b", ports[1]!, { WENDY_LEAFSET_SIZE: "8" }),
    start("metrics-c", ports[2]!),
    start("metrics-d", ports[3]!),
  ]);
  await Promise.all([b, c, d].map(waitReady));

  // A subscriber on every node answers calls; traffic from b: unary Send and SendStream with acks, a Call,
  // the queries, and a send that no subscriber listens for.
  const unaryClient = client(b, { sendStream: false });
  const streamClient = client(b);
  const subscriptions = await Promise.all([a, b, c, d].map((node) => answerCalls(node)));
  for (const target of [a, b, c, d]) {
    await unaryClient.send(keyOf(target), PURPOSE, "unary", { waitForAck: true });
    await streamClient.send(keyOf(target), PURPOSE, "streamed", { waitForAck: true });
  }
  const answer = await unaryClient.call(keyOf(c), PURPOSE, "ping", { timeoutMs: 10_000 });
  expect(new TextDecoder().decode(answer.payload)).toBe("pong");
  await unaryClient.lookup(keyOf(d));
  await unaryClient.replicas(keyOf(d), 2);
  await unaryClient.status();
  await unaryClient.send(keyOf(b), NOBODY_LISTENS, "nobody");
  await waitFor("b counts a message nobody listened for", async () =>
    value(await scrape(b), "wendy_undelivered_no_subscriber_total") > 0 ? true : undefined,
  );

  // An application on b vetoes forwards of one purpose: the message is dropped there, counted "vetoed".
  const vetoer = client(b);
  const events = vetoer.watchEvents({ interceptPurposes: [VETOED_PURPOSE] });
  void (async () => {
    for await (const event of events) {
      if (event.type === "forwardRequest") await vetoer.decideForward(event.forwardId, "veto");
    }
  })().catch(() => undefined);
  await waitFor("b's forward veto", async () => {
    await unaryClient.send(keyOf(c), VETOED_PURPOSE, "vetoed");
    const scraped = await scrape(b);
    return value(scraped, "wendy_messages_dropped_total", { reason: "vetoed" }) > 0 ? true : undefined;
  });

  // Someone without the cluster's credentials calls a's peer port: refused, counted by reason.
  const stranger = new PeerServiceClient(a.peer, credentials.createInsecure());
  await new Promise<void>((resolve) =>
    stranger.heartbeat({} as HeartbeatRequest, new Metadata(), () => resolve()),
  );
  stranger.close();
  await waitFor("a's authentication failure", async () =>
    value(await scrape(a), "wendy_authentication_failures_total", { reason: "missing_metadata" }) > 0
      ? true
      : undefined,
  );

  // a freezes while b sends to it: b retries the hop, parks it until a answers the probe, then sends it
  // again; the copies reach a once it thaws, and it delivers one.
  a.process.signal("SIGSTOP");
  const toFrozen = unaryClient.send(keyOf(a), PURPOSE, "to a frozen node", {
    waitForAck: true,
    timeoutMs: 30_000,
  });
  await waitFor("b's hop to a parked", async () =>
    value(await scrape(b), "wendy_hops_parked_total") > 0 ? true : undefined,
  );
  a.process.signal("SIGCONT");
  const frozen = await toFrozen;
  traced.set("frozen", { id: frozen.messageId, deliveredBy: frozen.deliveredBy!.id.hex });

  // d freezes for good and is killed: b's hops to it are routed around once its probe goes unanswered.
  d.process.signal("SIGSTOP");
  const toDead = await unaryClient.send(keyOf(d), PURPOSE, "to a dead node", {
    waitForAck: true,
    timeoutMs: 30_000,
  });
  traced.set("dead", { id: toDead.messageId, deliveredBy: toDead.deliveredBy!.id.hex });
  d.process.signal("SIGKILL");
  await waitFor("d found dead by b", async () =>
    value(await scrape(b), "wendy_membership_changes_total", { change: "failed" }) > 0 ? true : undefined,
  );

  // c leaves gracefully.
  for (const subscription of subscriptions) subscription.close();
  events.close();
  c.process.signal("SIGTERM");
  await c.process.exited;
  await waitFor("c's leave seen by b", async () =>
    value(await scrape(b), "wendy_membership_changes_total", { change: "left" }) > 0 ? true : undefined,
  );
  for (const live of [a, b]) scrapes.set(live.name, await scrape(live));
}

beforeAll(run, 240_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await stopAll(daemons.values());
});

describe("a live daemon's metrics after a realistic run", () => {
  it("every wendy_* metric was fed on a or b (except the listed few the run cannot reach), and every process metric is exported", () => {
    const registered = new WendyMetrics({ nodeId: "00".repeat(16), version: "0" }).registry
      .getMetricsAsArray()
      .map((m) => m.name);
    const fed = new Set<string>();
    for (const e of scrapes.values()) {
      for (const s of e.samples) {
        const family = familyOf(s.name, e.types);
        const type = e.types.get(family);
        // A gauge is fed once it has a sample; a counter once it counted; a histogram once it observed.
        if (type === "gauge" || s.value > 0) {
          if (type !== "histogram" || s.name === `${family}_count`) fed.add(family);
        }
      }
    }
    // Wendy's own metrics must have been fed; prom-client's process metrics must be exported (a per-type
    // gauge such as nodejs_active_requests rightly has no sample while nothing of that type is active).
    const ours = registered.filter((name) => name.startsWith("wendy_"));
    expect(ours.filter((name) => !fed.has(name) && !NOT_REACHED.has(name))).toEqual([]);
    const exported = new Set([...scrapes.values()].flatMap((e) => [...e.types.keys()]));
    expect(registered.filter((name) => !exported.has(name))).toEqual([]);
    for (const name of NOT_REACHED.keys()) expect(registered).toContain(name);
  });

  it("every histogram on b, the node that sent, joined and saw a failure, has samples", () => {
    const b = scrapes.get("metrics-b")!;
    const histograms = [...b.types].filter(([, type]) => type === "histogram").map(([name]) => name);
    expect(histograms).toEqual(
      expect.arrayContaining([
        "wendy_delivered_message_hops",
        "wendy_delivery_latency_seconds",
        "wendy_peer_rpc_duration_seconds",
        "wendy_client_rpc_duration_seconds",
        "wendy_join_duration_seconds",
        "wendy_failure_detection_seconds",
      ]),
    );
    const empty = histograms.filter((name) => value(b, `${name}_count`) === 0);
    expect(empty).toEqual([]);
    for (const method of ["Send", "SendStream", "CallStream"]) {
      expect(value(b, "wendy_client_rpc_duration_seconds_count", { method })).toBeGreaterThan(0);
    }
  });

  it("labels every RPC with its proto method name: no 'other', and every peer method seen is in the proto", () => {
    const peerMethods = new Set(methodNamesOf(PeerServiceService));
    const clientMethods = new Set([...methodNamesOf(OverlayServiceService), ...methodNamesOf(HealthService)]);
    for (const e of scrapes.values()) {
      const methodSamples = e.samples.filter((s) => s.labels.method !== undefined);
      expect(methodSamples.filter((s) => s.labels.method === OTHER)).toEqual([]);
      for (const s of methodSamples) {
        const proto = s.name.startsWith("wendy_peer_") ? peerMethods : clientMethods;
        expect(proto.has(s.labels.method!)).toBe(true);
      }
    }
  });

  it("the chart's Grafana dashboard queries only series b exports", () => {
    const b = scrapes.get("metrics-b")!;
    const exported = new Set([...b.samples.map((s) => s.name), ...b.types.keys()]);
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const used = new Set([...queries.flatMap(metricNamesIn), ...templatingMetrics()]);
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it("every warning and error line of every daemon names its event and the peer it concerns", () => {
    const lines = [...daemons.values()].flatMap((d) => d.process.lines);
    const serious = lines.filter((l) => (l.level ?? 0) >= 40);
    // At least b's misspelt variable and the failure of d, as b saw it.
    expect(serious.some((l) => l.event === "unknown_variable")).toBe(true);
    expect(serious.some((l) => l.event === "peer_failed" && l.peer === daemons.get("metrics-d")!.id)).toBe(
      true,
    );
    for (const line of serious) {
      expect(typeof line.event, JSON.stringify(line)).toBe("string");
      expect(line, JSON.stringify(line)).toHaveProperty("peer");
    }
  });

  it("at debug level, the logs show a message's path hop by hop under its ID: retries, the reroute, the delivery", () => {
    const linesOf = (d: Daemon, id: string) => d.process.lines.filter((l) => l.messageId === id);
    const [a, b, d] = ["metrics-a", "metrics-b", "metrics-d"].map((n) => daemons.get(n)!);
    // To frozen a: b sent the hop to a more than once (the first send, then its retry).
    const frozen = traced.get("frozen")!;
    const hopsToA = linesOf(b!, frozen.id).filter((l) => l.event === "hop_sent" && l.peer === a!.id);
    expect(hopsToA.length).toBeGreaterThanOrEqual(2);
    // Delivered once, at a (or, had a stayed frozen past its probes, at the node that owns a's key after it).
    const deliveries = [...daemons.values()]
      .flatMap((n) => linesOf(n, frozen.id))
      .filter((l) => l.event === "delivered");
    expect(deliveries).toHaveLength(1);
    // To dead d: b's hops went to d first, then around it to the node that delivered it.
    const dead = traced.get("dead")!;
    const hops = linesOf(b!, dead.id).filter((l) => l.event === "hop_sent");
    expect(hops[0]?.peer).toBe(d!.id);
    const owner = [...daemons.values()].find((n) => n.id === dead.deliveredBy)!;
    expect(owner).toBeDefined();
    if (owner !== b) expect(hops.some((l) => l.peer === owner.id)).toBe(true);
    expect(linesOf(owner, dead.id).some((l) => l.event === "delivered")).toBe(true);
    expect(linesOf(b!, dead.id).some((l) => l.event === "acked")).toBe(true);
  });
});
