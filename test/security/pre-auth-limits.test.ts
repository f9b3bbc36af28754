// Limits before authentication, against real daemons: half-sent large requests from a client without the
// secret cannot grow a node past its buffer budget, a Hello flood from one address leaves handshakes from
// other addresses succeeding, and stalled requests and handshakes are cut off at their deadlines.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { HealthCheckRequest, HealthCheckResponse } from "../../src/gen/grpc/health/v1/health.js";
import { LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { helloBody } from "../fuzz/lib/peer-caller.js";
import { testSecret } from "../helpers/secrets.js";
import { frame, openSession, openStream, outcomeOf, unary } from "./lib/raw-grpc.js";

const MIB = 1024 * 1024;
const processes: DaemonProcess[] = [];
afterEach(async () => {
  for (const p of processes.splice(0)) {
    p.signal("SIGKILL");
    await p.exited;
  }
});

async function startDaemon(name: string, host: string, env: Record<string, string> = {}) {
  const p = new DaemonProcess({
    name,
    env: {
      WENDY_NODE_NAME: name,
      WENDY_BIND_HOST: host,
      WENDY_PORT: "0",
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_SECRET: testSecret("pre-auth-limits"),
      ...env,
    },
  });
  processes.push(p);
  const line = await p.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
  return { process: p, address: `${host}:${String(line["peerPort"])}` };
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? NaN) * 1024;
}

async function healthServing(address: string, from = "127.0.0.1"): Promise<boolean> {
  const session = await openSession(address, from);
  try {
    const request = Buffer.from(HealthCheckRequest.encode({ service: "" }).finish());
    const reply = await unary(session, "/grpc.health.v1.Health/Check", request);
    return reply.grpcStatus === 0 && HealthCheckResponse.decode(reply.body).status === 1;
  } finally {
    session.close();
  }
}

async function helloStatus(session: http2.ClientHttp2Session): Promise<number | undefined> {
  return (await unary(session, PeerServiceService.hello.path, helloBody(randomBytes(16)))).grpcStatus;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("limits before authentication", () => {
  it("200 half-sent 4 MiB requests keep an unauthenticated node within its buffer budget, and serving", async () => {
    const { process: node, address } = await startDaemon("halfsent", "127.0.0.81");
    const pid = node.pid!;
    const baseline = rssBytes(pid);
    const connections = await Promise.all(Array.from({ length: 4 }, () => openSession(address)));
    // Each message declares 4 MiB and sends all but its last byte; no request is ever completed.
    const almostAll = Buffer.alloc(4 * MIB - 1);
    const outcomes = [];
    for (let i = 0; i < 200; i++) {
      const stream = openStream(connections[i % 4]!, PeerServiceService.route.path);
      outcomes.push(outcomeOf(stream));
      stream.write(frame(almostAll, 4 * MIB));
    }
    // Meanwhile the node answers health checks on a fresh connection.
    expect(await healthServing(address)).toBe(true);
    // Every stream ends: reset when it would pass the budget, or at the incomplete-request deadline (10 s).
    let settled = false;
    const all = Promise.all(outcomes).finally(() => (settled = true));
    let peak = baseline;
    while (!settled) {
      peak = Math.max(peak, rssBytes(pid));
      await sleep(50);
    }
    const ended = await all;
    for (const c of connections) c.destroy();
    const reset = ended.filter((o) => o.resetCode === http2.constants.NGHTTP2_ENHANCE_YOUR_CALM).length;
    expect(reset).toBe(200);
    // 200 x 4 MiB would be 800 MiB (without the budget the node passes 500 MiB within 8 s). It grew by
    // less than four times its 32 MiB budget and stayed under the chart's 256 MiB memory limit.
    expect(peak - baseline).toBeLessThan(128 * MIB);
    expect(peak).toBeLessThan(256 * MIB);
    expect(await healthServing(address)).toBe(true);
    expect(node.running).toBe(true);
  }, 90_000);

  it("a Hello flood from one address leaves other addresses' handshakes succeeding", async () => {
    // A global budget of 100 a second: one flooder alone would drain it without per-source buckets.
    const { address } = await startDaemon("flood", "127.0.0.82", {
      WENDY_MAX_HELLOS_PER_SECOND: "100",
      WENDY_MAX_HELLOS_PER_SECOND_PER_SOURCE: "20",
    });
    const flooder = await openSession(address, "127.0.0.83");
    const victim = await openSession(address, "127.0.0.84");
    try {
      const started = performance.now();
      const flood = Promise.all(Array.from({ length: 300 }, () => helloStatus(flooder)));
      const victims: (number | undefined)[] = [];
      for (let i = 0; i < 10; i++) {
        victims.push(await helloStatus(victim));
        await sleep(20);
      }
      const flooded = await flood;
      const seconds = (performance.now() - started) / 1000;
      // The flooder gets its own burst of 20 plus 20 a second, however fast it floods; the rest is refused.
      const answered = flooded.filter((s) => s === 0).length;
      expect(answered).toBeLessThanOrEqual(Math.ceil(20 * (1 + seconds)));
      expect(flooded.filter((s) => s !== 0).every((s) => s === 8)).toBe(true); // RESOURCE_EXHAUSTED
      expect(victims).toEqual(Array(10).fill(0));
    } finally {
      flooder.destroy();
      victim.destroy();
    }
  }, 60_000);

  it("a request left incomplete is reset at its deadline, and a silent connection closed at the handshake deadline", async () => {
    const { address } = await startDaemon("deadlines", "127.0.0.85", {
      WENDY_INCOMPLETE_REQUEST_TIMEOUT_MS: "500",
      WENDY_HANDSHAKE_TIMEOUT_MS: "500",
      WENDY_MAX_CONCURRENT_STREAMS: "7",
    });
    const session = await openSession(address);
    expect(session.remoteSettings.maxConcurrentStreams).toBe(7);
    const stream = openStream(session, PeerServiceService.heartbeat.path);
    const outcome = outcomeOf(stream);
    const started = Date.now();
    stream.write(frame(Buffer.alloc(10), 100));
    const ended = await outcome;
    expect(ended.resetCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    session.destroy();

    // A TCP connection that never sends the HTTP/2 preface.
    const [host, port] = address.split(":");
    const socket: Socket = connect({ host, port: Number(port) });
    socket.resume(); // read (and drop) the server's SETTINGS, or its close is never seen
    const opened = Date.now();
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    const lived = Date.now() - opened;
    expect(lived).toBeGreaterThanOrEqual(450);
    expect(lived).toBeLessThan(5000);
  }, 60_000);
});
