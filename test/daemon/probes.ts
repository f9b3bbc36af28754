// Probing a daemon from outside, as the kubelet and other nodes do: grpc.health.v1 and the HTTP endpoints.
import { credentials, Metadata } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthClient,
} from "../../src/gen/grpc/health/v1/health.js";

export { ServingStatus };

/** The status a Check returns, or the error's message when the call fails. */
export function grpcHealth(address: string, service: string): Promise<ServingStatus | string> {
  const client = new HealthClient(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.check({ service }, new Metadata(), { deadline: Date.now() + 5000 }, (error, response) => {
      client.close();
      resolve(error ? error.message : response.status);
    });
  });
}

/** Opens a Watch; `statuses` fills as updates arrive, `ended` resolves when the stream ends. */
export function watchHealth(
  address: string,
  service: string,
): { statuses: ServingStatus[]; ended: Promise<void>; next: (s: ServingStatus) => Promise<void> } {
  const client = new HealthClient(address, credentials.createInsecure());
  const statuses: ServingStatus[] = [];
  const waiting: { status: ServingStatus; resolve: () => void }[] = [];
  const stream = client.watch({ service });
  stream.on("data", (response: { status: ServingStatus }) => {
    statuses.push(response.status);
    for (const w of waiting.splice(0)) {
      if (w.status === response.status) w.resolve();
      else waiting.push(w);
    }
  });
  const ended = new Promise<void>((resolve) => {
    const done = (): void => {
      client.close();
      resolve();
    };
    stream.on("end", done);
    stream.on("error", done);
  });
  const next = (status: ServingStatus): Promise<void> =>
    statuses.includes(status)
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiting.push({ status, resolve }));
  return { statuses, ended, next };
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

/** Polls `check` until it returns true; bounded by `attempts` (fails the test when they run out). */
export async function eventually(what: string, check: () => Promise<boolean>, attempts = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`never happened: ${what}`);
}
