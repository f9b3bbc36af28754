// Daemons as separate OS processes on 127.0.0.1, configured only through WENDY_* variables the way the Helm
// chart does it (same seed list for everyone, stable names): joining, probes, logs, graceful leave, signals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnauthenticatedError, WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess, type LogLine } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { LOG_NODE_LEFT } from "../../src/server/daemon/event-log.js";
import { wendyVersion } from "../../src/server/daemon/version.js";
import { eventually, grpcHealth, httpGet, ServingStatus, watchHealth } from "./probes.js";
import { testSecret } from "../helpers/secrets.js";

interface Started {
  readonly process: DaemonProcess;
  readonly id: string;
  readonly peer: string;
  readonly client: string;
  readonly metrics: string;
}

const NAMES = ["wendy-0", "wendy-1", "wendy-2", "wendy-3"];
const TOKEN = "client-t0ken";
const nodes = new Map<string, Started>();
let peerPorts: number[] = [];
let seeds = "";

async function start(index: number, extraEnv: Record<string, string> = {}): Promise<Started> {
  const name = NAMES[index]!;
  const process = new DaemonProcess({
    name,
    env: {
      WENDY_NODE_NAME: name,
      WENDY_BIND_HOST: "127.0.0.1",
      WENDY_PORT: String(peerPorts[index]),
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_JOIN: seeds,
      WENDY_SECRET: testSecret("processes"),
      WENDY_HEARTBEAT_INTERVAL_MS: "300",
      WENDY_FAILURE_TIMEOUT_MS: "60000",
      WENDY_SHUTDOWN_GRACE_MS: "60000",
      ...extraEnv,
    },
  });
  const line = await process.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
  const started = {
    process,
    id: NodeId.fromString(name).hex,
    peer: `127.0.0.1:${String(line.peerPort)}`,
    client: `127.0.0.1:${String(line.clientPort)}`,
    metrics: String(line.metricsUrl),
  };
  nodes.set(name, started);
  return started;
}

function node(name: string): Started {
  const n = nodes.get(name);
  if (n === undefined) throw new Error(`${name} not started`);
  return n;
}

async function metricValue(n: Started, metric: string): Promise<number> {
  const { body } = await httpGet(`${n.metrics}/metrics`);
  const line = body.split("\n").find((l) => l.startsWith(metric + " ") || l.startsWith(metric + "{"));
  return line === undefined ? NaN : Number(line.split(" ").pop());
}

beforeAll(async () => {
  peerPorts = await freePorts(NAMES.length);
  // As the chart: the first three pods are the seeds of every pod.
  seeds = peerPorts
    .slice(0, 3)
    .map((p) => `127.0.0.1:${p}`)
    .join(" , ");
});

afterAll(async () => {
  for (const n of nodes.values()) n.process.signal("SIGKILL");
  await Promise.all([...nodes.values()].map((n) => n.process.exited));
});

describe("wendy start as separate processes", () => {
  it("a node whose seeds are not serving stays not ready, yet alive, and keeps trying", async () => {
    const b = await start(1);
    await b.process.waitForLine(
      (l) => l.msg?.startsWith("no seed is serving yet") === true,
      30_000,
      "a round",
    );
    expect(await grpcHealth(b.peer, "wendy.v1.PeerService")).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(b.peer, "")).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(b.client, "")).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(b.client, "wendy.v1.OverlayService")).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(b.peer, "liveness")).toBe(ServingStatus.SERVING);
    expect((await httpGet(`${b.metrics}/readyz`)).status).toBe(503);
    expect((await httpGet(`${b.metrics}/healthz`)).status).toBe(200);
    // wendy-1 is not the first seed: it must never found a ring of its own.
    expect(b.process.lines.some((l) => l.msg === LOG_READY)).toBe(false);
  });

  it("the first seed founds the ring, the others join it, and every probe turns ready", async () => {
    const a = await start(0, { WENDY_CLIENT_TOKEN: TOKEN });
    // wendy-3 also logs at debug level and carries a misspelt variable, as operators do.
    await Promise.all([start(2), start(3, { WENDY_LOG_LEVEL: "debug", WENDY_LEAFSET_SIZE: "8" })]);
    for (const name of NAMES) {
      const ready = await node(name).process.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
      expect(ready.outcome).toBe(name === "wendy-0" ? "founded" : "joined");
    }
    expect(a.process.lines.some((l) => l.msg?.includes("founds the ring") === true)).toBe(true);
    for (const name of NAMES) {
      const n = node(name);
      expect((await httpGet(`${n.metrics}/readyz`)).status).toBe(200);
      for (const address of [n.peer, n.client]) {
        expect(await grpcHealth(address, "")).toBe(ServingStatus.SERVING);
        expect(await grpcHealth(address, "wendy.v1.PeerService")).toBe(ServingStatus.SERVING);
        expect(await grpcHealth(address, "liveness")).toBe(ServingStatus.SERVING);
      }
      expect(await grpcHealth(n.client, "wendy.v1.OverlayService")).toBe(ServingStatus.SERVING);
    }
  });

  it("mounts the Overlay service on the client port, with the bearer token when one is configured", async () => {
    const withToken = new WendyClient(node("wendy-0").client, { token: TOKEN });
    const without = new WendyClient(node("wendy-0").client);
    try {
      const status = await withToken.status();
      expect(status.ready).toBe(true);
      expect(status.peerCount).toBe(3);
      await expect(without.status()).rejects.toBeInstanceOf(UnauthenticatedError);
    } finally {
      withToken.close();
      without.close();
    }
  });

  it("logs JSON lines only, each carrying the node's ID, at the configured level; the start line names the Wendy and Node.js versions", () => {
    for (const name of NAMES) {
      const n = node(name);
      expect(n.process.nonJson).toEqual([]);
      expect(n.process.lines.length).toBeGreaterThan(2);
      for (const line of n.process.lines) expect(line.nodeId).toBe(n.id);
    }
    const debugNode = node("wendy-3").process.lines;
    expect(debugNode.some((l) => l.level === 20 && l.msg === "leaf set changed")).toBe(true);
    expect(debugNode.find((l) => l.variable === "WENDY_LEAFSET_SIZE")).toMatchObject({ level: 40 });
    expect(node("wendy-2").process.lines.some((l) => l.level === 20)).toBe(false);
    const started = node("wendy-2").process.lines.find((l) => l.msg === LOG_STARTED)!;
    expect(started).toMatchObject({
      nodeName: "wendy-2",
      version: wendyVersion(),
      nodeVersion: process.version,
      region: "default",
      localAddress: node("wendy-2").peer,
    });
  });

  it("SIGTERM: NOT_SERVING at once, a leave the others act on without failure detection, exit 0", async () => {
    const leaving = node("wendy-2");
    const others = ["wendy-0", "wendy-1", "wendy-3"].map(node);
    const leafSetIds = async (n: Started): Promise<string[]> => {
      const client = new WendyClient(n.client, { token: TOKEN });
      try {
        const s = await client.status();
        return [...s.leafSetLeft, ...s.leafSetRight].map((info) => info.id.hex);
      } finally {
        client.close();
      }
    };
    const watch = watchHealth(leaving.peer, "wendy.v1.PeerService");
    await watch.next(ServingStatus.SERVING);
    for (const other of others) expect(await leafSetIds(other)).toContain(leaving.id);
    leaving.process.signal("SIGTERM");
    await watch.next(ServingStatus.NOT_SERVING);
    expect(await leaving.process.exited).toEqual({ code: 0, signal: null });
    for (const other of others) {
      // The failure timeout is 60 s, so only the leave notice can explain this within the test's time.
      await other.process.waitForLine(
        (l: LogLine) => l.msg === LOG_NODE_LEFT && l.peer === leaving.id,
        20_000,
        "wendy-2 left",
      );
      await eventually("the graceful leave is counted", async () => {
        return (await metricValue(other, `wendy_membership_changes_total{change="left"}`)) >= 1;
      });
      expect(await leafSetIds(other)).not.toContain(leaving.id);
    }
  });

  it("a second signal during the graceful stop exits at once", async () => {
    const n = node("wendy-3");
    // Both signals become pending while the process is stopped, so the second arrives mid-shutdown.
    process.kill(n.process.pid!, "SIGSTOP");
    process.kill(n.process.pid!, "SIGINT");
    process.kill(n.process.pid!, "SIGTERM");
    process.kill(n.process.pid!, "SIGCONT");
    const exit = await n.process.exited;
    expect([130, 143]).toContain(exit.code);
    expect(n.process.lines.some((l) => l.msg === "second signal: exiting at once")).toBe(true);
  });
});
