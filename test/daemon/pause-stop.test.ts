// A daemon frozen (SIGSTOP) under traffic long enough for its peers to route around it, then thawed and
// stopped: every operation it had in flight must settle after SIGCONT, so its graceful stop is as prompt as
// that of a node never paused, far inside the shutdown grace.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { testSecret } from "../helpers/secrets.js";

const NODES = 5;
const PAUSE_MS = 4000;
const PROMPT_EXIT_MS = 3000;
/** Far beyond PROMPT_EXIT_MS: a stop that waits on a promise that never settles runs this out. */
const SHUTDOWN_GRACE_MS = 10_000;

const daemons: DaemonProcess[] = [];
const clients: string[] = [];

beforeAll(async () => {
  const ports = await freePorts(NODES);
  const seeds = ports
    .slice(0, 2)
    .map((p) => `127.0.0.1:${p}`)
    .join(",");
  for (let i = 0; i < NODES; i++) {
    const daemon = new DaemonProcess({
      name: `pause-${i}`,
      env: {
        WENDY_NODE_NAME: `pause-${i}`,
        WENDY_SECRET: testSecret("pause-stop"),
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(ports[i]),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_JOIN: seeds,
        WENDY_LEAF_SET_SIZE: "4",
        WENDY_HEARTBEAT_INTERVAL_MS: "250",
        WENDY_FAILURE_TIMEOUT_MS: "1000",
        WENDY_SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      },
    });
    daemons.push(daemon);
    const line = await daemon.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
    clients.push(`127.0.0.1:${String(line.clientPort)}`);
  }
  await Promise.all(daemons.map((d) => d.waitForLine((l) => l.msg === LOG_READY, 30_000, "ready")));
}, 90_000);

afterAll(async () => {
  for (const d of daemons) d.signal("SIGKILL");
  await Promise.all(daemons.map((d) => d.exited));
});

/** Acknowledged sends from every node's client port to random keys until `stop` is set. */
function traffic(addresses: readonly string[]): { stop: () => Promise<number> } {
  let running = true;
  let sent = 0;
  const loops = addresses.map(async (address) => {
    const client = new WendyClient(address);
    try {
      for (let i = 0; running && i < 100_000; i++) {
        const key = `pause-key-${address}-${i}`;
        // Outcomes do not matter here (the frozen node's own client fails); the load on the overlay does.
        await client.send(key, 20, "x", { waitForAck: true, timeoutMs: 2000 }).catch(() => undefined);
        sent++;
      }
    } finally {
      client.close();
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return sent;
    },
  };
}

describe("a daemon paused under traffic", () => {
  it(`paused ${PAUSE_MS} ms under acknowledged traffic, then SIGTERM: exits 0 within ${PROMPT_EXIT_MS} ms`, async () => {
    const paused = daemons[2]!;
    const load = traffic(clients);
    await new Promise((r) => setTimeout(r, 1000));
    paused.signal("SIGSTOP");
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    paused.signal("SIGCONT");
    // Long enough for what timed out during the pause to fire and for peers to take the node back.
    await new Promise((r) => setTimeout(r, 1000));
    const started = performance.now();
    paused.signal("SIGTERM");
    const exit = await paused.exited;
    const tookMs = performance.now() - started;
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(0);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(paused.lines.some((l) => l.msg === "shutdown grace ran out: cutting off what is left")).toBe(
      false,
    );
    expect(tookMs).toBeLessThan(PROMPT_EXIT_MS);
  }, 60_000);
});
