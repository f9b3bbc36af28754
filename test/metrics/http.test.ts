import { afterEach, describe, expect, it } from "vitest";
import { request } from "node:http";
import { startHealthServer, type HealthCheck, type HealthServer } from "../../src/server/metrics/http.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";

const PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

/** Mutable health the tests flip between requests. */
class FakeHealth {
  live: HealthCheck = { ok: true };
  ready: HealthCheck = { ok: false, reason: "joining: waiting for leaf-set confirmation" };
  liveness(): HealthCheck {
    return this.live;
  }
  readiness(): HealthCheck {
    return this.ready;
  }
}

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** One request over a fresh connection (agent: false), so close() is never held up by keep-alive. */
function call(server: HealthServer, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: server.host, port: server.port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(health = new FakeHealth(), metrics = new WendyMetrics(OPTIONS)): Promise<HealthServer> {
  server = await startHealthServer({ host: "127.0.0.1", port: 0, metrics, health });
  return server;
}

const OPTIONS = { nodeId: "ab".repeat(16), version: "0.1.0", processMetrics: false };

describe("health server", () => {
  it("listens on the free port it was given by the OS and reports it", async () => {
    const s = await start();
    expect(s.port).toBeGreaterThan(0);
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
  });

  it("serves the text exposition on GET /metrics with the Prometheus content type", async () => {
    const metrics = new WendyMetrics(OPTIONS);
    metrics.messageSent();
    const s = await start(new FakeHealth(), metrics);
    const a = await call(s, "GET", "/metrics");
    expect(a.status).toBe(200);
    expect(a.headers["content-type"]).toBe(PROMETHEUS_TEXT);
    expect(a.body).toContain("wendy_messages_sent_total 1");
    expect((await call(s, "GET", "/metrics?debug=1")).status).toBe(200);
  });

  it("answers /healthz 200 while alive and 500 with the reason when the node reports itself broken", async () => {
    const health = new FakeHealth();
    const s = await start(health);
    const ok = await call(s, "GET", "/healthz");
    expect(ok.status).toBe(200);
    expect(ok.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(ok.body).toBe("ok\n");
    health.live = { ok: false, reason: "routing state machine crashed" };
    const broken = await call(s, "GET", "/healthz");
    expect(broken.status).toBe(500);
    expect(broken.body).toBe("routing state machine crashed\n");
  });

  it("answers /readyz 503 with a one-line reason until joined, then 200", async () => {
    const health = new FakeHealth();
    health.ready = { ok: false, reason: "not joined:\nno seed answered" };
    const s = await start(health);
    const notReady = await call(s, "GET", "/readyz");
    expect(notReady.status).toBe(503);
    expect(notReady.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(notReady.body).toBe("not joined: no seed answered\n");
    health.ready = { ok: true };
    const ready = await call(s, "GET", "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toBe("ok\n");
  });

  it("treats a health check that throws as failing", async () => {
    const health = new FakeHealth();
    health.readiness = () => {
      throw new Error("leaf set lock poisoned");
    };
    const s = await start(health);
    const a = await call(s, "GET", "/readyz");
    expect(a.status).toBe(503);
    expect(a.body).toBe("health check threw: leaf set lock poisoned\n");
  });

  it("answers 500 on /metrics when collection fails, and keeps serving", async () => {
    const metrics = new WendyMetrics(OPTIONS);
    metrics.setStateProvider(() => {
      throw new Error("state unavailable");
    });
    const s = await start(new FakeHealth(), metrics);
    const a = await call(s, "GET", "/metrics");
    expect(a.status).toBe(500);
    expect(a.body).toContain("state unavailable");
    expect((await call(s, "GET", "/healthz")).status).toBe(200);
  });

  it("supports HEAD: same status and headers, no body", async () => {
    const s = await start();
    const get = await call(s, "GET", "/readyz");
    const head = await call(s, "HEAD", "/readyz");
    expect(head.status).toBe(503);
    expect(head.headers["content-type"]).toBe(get.headers["content-type"]);
    expect(head.headers["content-length"]).toBe(String(Buffer.byteLength(get.body)));
    expect(head.body).toBe("");
    const metricsHead = await call(s, "HEAD", "/metrics");
    expect(metricsHead.status).toBe(200);
    expect(metricsHead.headers["content-type"]).toBe(PROMETHEUS_TEXT);
    expect(metricsHead.body).toBe("");
  });

  it("answers 404 for unknown paths and 405 for other methods", async () => {
    const s = await start();
    expect((await call(s, "GET", "/")).status).toBe(404);
    expect((await call(s, "GET", "/metrics/extra")).status).toBe(404);
    expect((await call(s, "GET", "/constructor")).status).toBe(404);
    const post = await call(s, "POST", "/metrics");
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe("GET, HEAD");
  });

  it("closes cleanly, also with a keep-alive connection open, and twice", async () => {
    const s = await start();
    const keepAlive = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: s.host,
        port: s.port,
        path: "/healthz",
        headers: { Connection: "keep-alive" },
      });
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(keepAlive).toBe(200);
    await s.close();
    await s.close();
    await expect(call(s, "GET", "/healthz")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("fails to start with the listen error when the port is taken", async () => {
    const first = await start();
    await expect(
      startHealthServer({
        host: "127.0.0.1",
        port: first.port,
        metrics: new WendyMetrics(OPTIONS),
        health: new FakeHealth(),
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
