// A daemon killed with SIGKILL (no goodbye) is found by the others and dropped from every leaf set, with the
// default protocol settings; and it is found from its broken connections, not from the silence of its
// heartbeats: with a failure timeout of a minute the others still drop it long before that minute is up.
// Behaviour, not speed: the bounds are generous (the benchmark times it).
import { afterEach, describe, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { testSecret } from "../helpers/secrets.js";

const NODES = 5;
const READY_TIMEOUT_MS = 60_000;
const POLL_MS = 100;

interface Daemon {
  readonly name: string;
  readonly process: DaemonProcess;
  readonly client: WendyClient;
}

const running: Daemon[] = [];

afterEach(async () => {
  for (const d of running) d.client.close();
  for (const d of running) d.process.signal("SIGKILL");
  await Promise.all(running.map((d) => d.process.exited));
  running.length = 0;
});

/** Starts NODES daemons joining through the first; resolves once every one is ready. */
async function startCluster(label: string, env: Record<string, string>): Promise<Daemon[]> {
  const ports = await freePorts(NODES);
  const seed = `127.0.0.1:${ports[0]}`;
  const daemons: Daemon[] = [];
  for (const [index, port] of ports.entries()) {
    const name = `${label}-${index}`;
    const process = new DaemonProcess({
      name,
      env: {
        WENDY_NODE_NAME: name,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(port),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: seed,
        WENDY_SECRET: testSecret("crash-detection"),
        ...env,
      },
    });
    const started = await process.waitForLine((l) => l.msg === LOG_STARTED, READY_TIMEOUT_MS, "started");
    const daemon = { name, process, client: new WendyClient(`127.0.0.1:${String(started.clientPort)}`) };
    running.push(daemon);
    daemons.push(daemon);
    // One join at a time, as a StatefulSet starts its pods.
    await process.waitForLine((l) => l.msg === LOG_READY, READY_TIMEOUT_MS, "ready");
  }
  return daemons;
}

async function leafSetIds(daemon: Daemon): Promise<string[]> {
  const status = await daemon.client.status();
  return [...status.leafSetLeft, ...status.leafSetRight].map((n) => n.id.hex);
}

/** Milliseconds from now until no daemon in `survivors` lists `gone` in its leaf set; throws after `timeoutMs`. */
async function untilNobodyLists(
  survivors: readonly Daemon[],
  gone: string,
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    const lists = await Promise.all(survivors.map(leafSetIds));
    if (lists.every((ids) => !ids.includes(gone))) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`some survivor still lists ${gone} after ${timeoutMs} ms`);
}

async function killAndWatch(daemons: Daemon[], timeoutMs: number): Promise<void> {
  const victim = daemons[2]!;
  const survivors = daemons.filter((d) => d !== victim);
  const gone = NodeId.fromString(victim.name).hex;
  // Every survivor lists it before the kill: each of them has something to repair.
  for (const s of survivors) expect(await leafSetIds(s)).toContain(gone);
  victim.process.signal("SIGKILL");
  await victim.process.exited;
  await untilNobodyLists(survivors, gone, timeoutMs);
}

describe("a daemon killed with SIGKILL", () => {
  it("is dropped from every survivor's leaf set (default protocol settings)", async () => {
    const daemons = await startCluster("crash-default", {});
    await killAndWatch(daemons, 30_000);
  }, 180_000);

  it("is dropped from every leaf set within 20 s even with a failure timeout of 60 s: found from its broken connections", async () => {
    const daemons = await startCluster("crash-connections", {
      WENDY_HEARTBEAT_INTERVAL_MS: "20000",
      WENDY_FAILURE_TIMEOUT_MS: "60000",
    });
    await killAndWatch(daemons, 20_000);
  }, 180_000);
});
