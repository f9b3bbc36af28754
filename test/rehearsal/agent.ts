// A helper process the rehearsal runs inside a network namespace, since the test process itself cannot enter
// one: in the switch namespace it plays the kubelet and Prometheus (probes, scrapes of pod addresses), in a
// pod's namespace it plays a co-located service using the client API on 127.0.0.1. Commands arrive over IPC.
import { connect } from "node:net";
import { credentials, Metadata } from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../src/gen/grpc/health/v1/health.js";
import { WendyClient } from "../../src/client/index.js";
import type { AgentReply, AgentRequest } from "./agent-protocol.js";

const CALL_DEADLINE_MS = 5000;
const clients = new Map<string, WendyClient>();

function grpcHealth(address: string, service: string): Promise<string> {
  const client = new HealthClient(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.check(
      { service },
      new Metadata(),
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (error, response) => {
        client.close();
        resolve(error ? `error: ${error.message}` : HealthCheckResponse_ServingStatus[response.status]);
      },
    );
  });
}

function tcpConnects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: CALL_DEADLINE_MS });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

async function handle(request: AgentRequest): Promise<AgentReply> {
  switch (request.op) {
    case "grpcHealth":
      return { seq: request.seq, ok: true, text: await grpcHealth(request.address, request.service) };
    case "http": {
      const response = await fetch(request.url, { signal: AbortSignal.timeout(CALL_DEADLINE_MS) });
      return { seq: request.seq, ok: true, status: response.status, text: await response.text() };
    }
    case "tcp":
      return { seq: request.seq, ok: true, text: String(await tcpConnects(request.host, request.port)) };
    case "send": {
      let client = clients.get(request.clientAddress);
      if (client === undefined) {
        client = new WendyClient(request.clientAddress);
        clients.set(request.clientAddress, client);
      }
      const result = await client.send(request.key, request.purpose, request.payload, {
        waitForAck: true,
        deadlineMs: request.deadlineMs,
      });
      return {
        seq: request.seq,
        ok: true,
        deliveredBy: result.deliveredBy?.id.hex ?? "",
        incarnation: result.deliveredBy?.incarnation ?? -1,
        hops: result.hops ?? -1,
      };
    }
  }
}

process.on("message", (request: AgentRequest) => {
  handle(request).then(
    (reply) => process.send?.(reply),
    (error: Error) =>
      process.send?.({ seq: request.seq, ok: false, error: `${error.name}: ${error.message}` }),
  );
});
// The test closes the channel when it is done (or dies): leave with it.
process.on("disconnect", () => {
  for (const c of clients.values()) c.close();
  process.exit(0);
});
process.send?.({ seq: 0, ok: true, text: "ready" });
