// The client port's byte budget against clients that never read, on a real daemon: raw HTTP/2 clients open
// many Subscribe streams and then never let a byte through, one by advertising a stream window of 0 (it
// never sends WINDOW_UPDATE), one with the largest windows behind a socket it stops reading (a proxy that
// stalls). Meanwhile another client sends far more than the budget to the node, so every stalled stream is
// offered a copy of each delivery. What the node holds for them stays within WENDY_CLIENT_MAX_QUEUED_BYTES,
// its memory stays bounded, streams are cut off with RESOURCE_EXHAUSTED (counted), and it keeps answering
// other clients.
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { createServer, connect, type Server as NetServer, type Socket } from "node:net";
import { afterAll, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { OverlayServiceService, SubscribeRequest } from "../../src/gen/wendy/v1/overlay.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { httpGet } from "../daemon/probes.js";
import { testSecret } from "../helpers/secrets.js";
import { frame } from "./lib/raw-grpc.js";

const MIB = 1024 * 1024;
const BUDGET = 8 * MIB;
const PAYLOAD = 64 * 1024;
const STREAMS_PER_CLIENT = 100;
const SENDS = 400;
const PURPOSE = 16;
const MAX_WINDOW = 2 ** 31 - 1;

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) c();
});

/** A TCP relay to `port` that, once stalled, stops reading what the node sends: its socket backs up. */
async function stallingProxy(port: number): Promise<{ port: number; stall: () => void }> {
  const upstreams: Socket[] = [];
  let stalled = false;
  const server: NetServer = createServer((client) => {
    const upstream = connect({ host: "127.0.0.1", port });
    upstreams.push(upstream);
    client.pipe(upstream);
    upstream.on("data", (chunk: Buffer) => {
      if (!stalled) client.write(chunk);
    });
    for (const s of [client, upstream]) s.on("error", () => undefined);
    if (stalled) upstream.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    for (const u of upstreams) u.destroy();
    server.close();
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no proxy port");
  return {
    port: address.port,
    stall: () => {
      stalled = true;
      for (const u of upstreams) u.pause();
    },
  };
}

async function session(port: number, settings: http2.Settings, window?: number): Promise<ClientHttp2Session> {
  const s = http2.connect(`http://127.0.0.1:${port}`, { settings });
  s.on("error", () => undefined);
  cleanups.push(() => s.destroy());
  await new Promise<void>((resolve, reject) => {
    s.once("remoteSettings", () => resolve());
    s.once("error", reject);
  });
  if (window !== undefined) s.setLocalWindowSize(window);
  return s;
}

/** One Subscribe to PURPOSE that is never read; resolves once the node says it is live (its headers). */
function subscribe(s: ClientHttp2Session): Promise<ClientHttp2Stream> {
  const stream = s.request({
    ":method": "POST",
    ":path": OverlayServiceService.subscribe.path,
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.pause();
  stream.end(frame(Buffer.from(SubscribeRequest.encode({ purposes: [PURPOSE] }).finish())));
  return new Promise((resolve, reject) => {
    stream.once("response", () => resolve(stream));
    stream.once("close", () => reject(new Error(`subscribe closed: ${stream.rstCode}`)));
  });
}

/** The value of the unlabelled (or first matching) sample `name{labels}` in a Prometheus text page. */
function sample(page: string, name: string, labels = ""): number {
  for (const line of page.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (labels === "" ? !rest.startsWith(" ") : !(rest.startsWith("{") && rest.includes(labels))) continue;
    return Number(rest.slice(rest.lastIndexOf(" ") + 1));
  }
  return 0;
}

it("stalled subscribers cannot take the node past its client-port budget, and it keeps serving others", async () => {
  const daemon = new DaemonProcess({
    name: "nonreading",
    env: {
      WENDY_NODE_NAME: "nonreading",
      WENDY_BIND_HOST: "127.0.0.1",
      WENDY_PORT: "0",
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_SECRET: testSecret("nonreading"),
      WENDY_MAX_PAYLOAD_BYTES: String(MIB),
      WENDY_CLIENT_MAX_QUEUED_BYTES: String(BUDGET),
    },
  });
  cleanups.push(() => daemon.signal("SIGKILL"));
  const started = await daemon.waitForLine((l) => l.msg === LOG_STARTED, 40_000, "started");
  await daemon.waitForLine((l) => l.msg === LOG_READY, 40_000, "ready");
  const clientPort = Number(started.clientPort);
  const metrics = async (): Promise<string> => (await httpGet(`${String(started.metricsUrl)}/metrics`)).body;

  // A client whose streams have a window of 0, and one whose socket will stop being read.
  const zeroWindow = await session(clientPort, { initialWindowSize: 0 });
  const proxy = await stallingProxy(clientPort);
  const wideOpen = await session(proxy.port, { initialWindowSize: MAX_WINDOW }, MAX_WINDOW);
  for (const s of [zeroWindow, wideOpen]) for (let i = 0; i < STREAMS_PER_CLIENT; i++) await subscribe(s);
  proxy.stall();
  expect(sample(await metrics(), "wendy_subscribers")).toBe(2 * STREAMS_PER_CLIENT);
  const rssBefore = sample(await metrics(), "process_resident_memory_bytes");

  // Far more than the budget is offered to the stalled streams: SENDS x PAYLOAD to each of them.
  const sender = new WendyClient(`127.0.0.1:${clientPort}`);
  cleanups.push(() => sender.close());
  let peakQueued = 0;
  let peakRss = 0;
  for (let i = 0; i < SENDS; i++) {
    await sender.send(`key-${i}`, PURPOSE, Buffer.alloc(PAYLOAD, i));
    if (i % 50 === 49) {
      const page = await metrics();
      peakQueued = Math.max(peakQueued, sample(page, "wendy_client_queued_bytes"));
      peakRss = Math.max(peakRss, sample(page, "process_resident_memory_bytes"));
    }
  }
  const page = await metrics();
  peakQueued = Math.max(peakQueued, sample(page, "wendy_client_queued_bytes"));
  peakRss = Math.max(peakRss, sample(page, "process_resident_memory_bytes"));
  const offered = SENDS * PAYLOAD * 2 * STREAMS_PER_CLIENT;
  console.log(
    `offered ${offered / MIB} MiB to stalled streams; held at most ${(peakQueued / MIB).toFixed(1)} MiB ` +
      `(budget ${BUDGET / MIB} MiB); RSS ${(rssBefore / MIB).toFixed(0)} -> ${(peakRss / MIB).toFixed(0)} MiB; ` +
      `subscribers left ${sample(page, "wendy_subscribers")}`,
  );

  expect(peakQueued).toBeGreaterThan(0);
  expect(peakQueued).toBeLessThanOrEqual(BUDGET);
  // Streams were cut off for it, and the cut-offs are counted by their code.
  expect(sample(page, "wendy_subscribers")).toBeLessThan(2 * STREAMS_PER_CLIENT);
  expect(
    sample(page, "wendy_client_rpcs_total", 'method="Subscribe",code="RESOURCE_EXHAUSTED"'),
  ).toBeGreaterThan(0);
  // Memory: a bounded growth, far below what was offered.
  expect(peakRss - rssBefore).toBeLessThan(BUDGET + 96 * MIB);
  // Others are still served: a status and a send answered.
  const other = new WendyClient(`127.0.0.1:${clientPort}`);
  cleanups.push(() => other.close());
  await expect(other.status()).resolves.toBeDefined();
  await expect(other.send("after", PURPOSE, "still serving")).resolves.toBeDefined();
}, 180_000);
