// The Overlay service mounted in-process on one node, for what the daemon relies on: the metrics it
// records, the handle's counts, reflection on the client port, and close() ending streams.
import { Client, credentials, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../src/server/cluster.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import {
  addOverlayService,
  overlayServerOptions,
  type OverlayServiceHandle,
} from "../../src/server/overlay/index.js";
import { OverlayServiceClient } from "../../src/gen/wendy/v1/overlay.js";
import { FailedPreconditionError, InvalidArgumentError, WendyClient } from "../../src/client/index.js";
import { waitFor } from "../helpers/wait.js";
import { startInProcessOverlay, type InProcessOverlay } from "../helpers/in-process-overlay.js";

let cluster: Cluster;
let handle: OverlayServiceHandle;
let address: string;
let client: WendyClient;
let metrics: WendyMetrics;
let overlay: InProcessOverlay | undefined;

beforeAll(async () => {
  metrics = new WendyMetrics({ nodeId: "0".repeat(32), version: "test", processMetrics: false });
  overlay = await startInProcessOverlay("in-process", { metrics, limits: { deliveryGraceMs: 200 } });
  ({ cluster, handle, address, client } = overlay);
});

afterAll(async () => {
  await overlay?.stop();
});

async function metricLine(name: string): Promise<string[]> {
  return (await metrics.registry.metrics()).split("\n").filter((l) => l.startsWith(name));
}

describe("the Overlay service in-process", () => {
  it("records every client RPC by method and status code", async () => {
    await expect(client.send("k", 2, "x")).rejects.toBeInstanceOf(InvalidArgumentError);
    await client.status();
    const lines = await metricLine("wendy_client_rpcs_total");
    expect(lines).toContain('wendy_client_rpcs_total{method="Send",code="INVALID_ARGUMENT"} 1');
    expect(lines).toContain('wendy_client_rpcs_total{method="Status",code="OK"} 1');
  });

  it("counts deliveries no subscriber took within the grace in the metric, the handle and Status", async () => {
    await expect(client.send("nobody-listens", 16, "x", { waitForAck: true })).rejects.toBeInstanceOf(
      FailedPreconditionError,
    );
    expect(await metricLine("wendy_undelivered_no_subscriber_total")).toContain(
      "wendy_undelivered_no_subscriber_total 1",
    );
    expect(handle.undeliveredCount).toBe(1n);
    expect((await client.status()).undeliveredNoSubscriber).toBe(1n);
  });

  it("serves reflection for the overlay service on the client port", async () => {
    const raw = new Client(address, credentials.createInsecure());
    try {
      const names = await new Promise<string[]>((resolve, reject) => {
        const call = raw.makeBidiStreamRequest(
          "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
          (request: Buffer) => request,
          (response: Buffer) => response,
        );
        call.on("data", (response: Buffer) => {
          // The service names appear verbatim in the serialized ListServiceResponse.
          resolve(["wendy.v1.OverlayService", "grpc.health.v1.Health"].filter((n) => response.includes(n)));
          call.end();
        });
        call.on("error", reject);
        // ServerReflectionRequest { list_services = 7: "" }
        call.write(Buffer.from([0x3a, 0x00]));
      });
      expect(names).toEqual(["wendy.v1.OverlayService", "grpc.health.v1.Health"]);
    } finally {
      raw.close();
    }
  });

  // Last: a second service on the same cluster takes over the call purposes (one service per cluster).
  it("ends open subscriptions on close()", async () => {
    const second = new Server(overlayServerOptions());
    const secondHandle = addOverlayService(second, { cluster, healthAndReflection: false });
    const port = await new Promise<number>((resolve, reject) =>
      second.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const raw = new OverlayServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const stream = raw.subscribe({ purposes: [16] });
      const ended = new Promise<status>((resolve) => {
        stream.on("data", () => undefined);
        stream.on("error", (e: ServiceError) => resolve(e.code));
        stream.on("end", () => resolve(status.OK));
      });
      await waitFor("the subscription", () => (secondHandle.subscriberCount === 1 ? true : undefined));
      secondHandle.close();
      expect(await ended).toBe(status.OK);
      expect(secondHandle.subscriberCount).toBe(0);
    } finally {
      raw.close();
      second.forceShutdown();
    }
  });
});
