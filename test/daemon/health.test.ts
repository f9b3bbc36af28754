// The daemon's single health truth, served over grpc.health.v1 in place of the Cluster's own service.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { DaemonHealth } from "../../src/server/daemon/health.js";
import { grpcHealth, ServingStatus, watchHealth } from "./probes.js";

let server: Server | undefined;

async function serve(health: DaemonHealth): Promise<string> {
  server = new Server();
  // As on the peer port, where the daemon asks the Cluster not to serve its own health (serveHealth: false).
  health.serveOn(server);
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return `127.0.0.1:${port}`;
}

afterEach(() => {
  server?.forceShutdown();
  server = undefined;
});

describe("DaemonHealth", () => {
  it("is alive but not ready while starting, ready once joined, not ready from the start of a shutdown", async () => {
    const health = new DaemonHealth();
    const address = await serve(health);
    const readiness = ["", "wendy.v1.PeerService", "wendy.v1.OverlayService"];
    for (const s of readiness) expect(await grpcHealth(address, s)).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(address, "liveness")).toBe(ServingStatus.SERVING);
    expect(health.readiness()).toEqual({ ok: false, reason: "not joined yet" });
    expect(health.liveness()).toEqual({ ok: true });

    health.markJoined();
    for (const s of readiness) expect(await grpcHealth(address, s)).toBe(ServingStatus.SERVING);
    expect(health.readiness()).toEqual({ ok: true });

    health.beginShutdown();
    for (const s of readiness) expect(await grpcHealth(address, s)).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(address, "liveness")).toBe(ServingStatus.SERVING);
    expect(health.readiness()).toEqual({ ok: false, reason: "shutting down" });
    // A join finishing during the shutdown does not make the node ready again.
    health.markJoined();
    expect(await grpcHealth(address, "")).toBe(ServingStatus.NOT_SERVING);
  });

  it("answers NOT_FOUND for services it does not know", async () => {
    const address = await serve(new DaemonHealth());
    expect(await grpcHealth(address, "no.such.Service")).toMatch(/NOT_FOUND|unknown service/);
  });

  it("fails liveness and readiness once broken", async () => {
    const health = new DaemonHealth();
    const address = await serve(health);
    health.markJoined();
    health.markBroken("cannot join again");
    expect(await grpcHealth(address, "liveness")).toBe(ServingStatus.NOT_SERVING);
    expect(await grpcHealth(address, "wendy.v1.PeerService")).toBe(ServingStatus.NOT_SERVING);
    expect(health.liveness()).toEqual({ ok: false, reason: "node broken: cannot join again" });
    expect(health.readiness().ok).toBe(false);
  });

  it("pushes each change to Watch streams and ends them when asked", async () => {
    const health = new DaemonHealth();
    const address = await serve(health);
    const watch = watchHealth(address, "wendy.v1.PeerService");
    await watch.next(ServingStatus.NOT_SERVING);
    health.markJoined();
    await watch.next(ServingStatus.SERVING);
    health.beginShutdown();
    health.endWatches();
    await watch.ended;
    expect(watch.statuses).toEqual([
      ServingStatus.NOT_SERVING,
      ServingStatus.SERVING,
      ServingStatus.NOT_SERVING,
    ]);
  });
});
