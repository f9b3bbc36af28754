// The embedded floor: N clusters of the library API (src/index.ts) in this one Node.js process, routing
// Sends to keys owned by other clusters, each timed until the owner's onDeliver has it. Started by
// bench/scenarios/embedded.ts with the library module to load (the compiled build of the commit measured,
// or the sources); reads one JSON window request per stdin line and answers one JSON line per window.
// The process's CPU per message covers everything (routing, peer streams, the load and the applications):
// it is the figure the daemon path's CPU per message is held against.
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { runLoad } from "../lib/load.js";
import { summarizeLatencies } from "../lib/stats.js";
import type { EmbeddedWindow, EmbeddedWindowResult } from "./protocol.js";

type Library = typeof import("../../src/index.js");
type Cluster = InstanceType<Library["Cluster"]>;
type NodeId = import("../../src/index.js").NodeId;

const PURPOSE = 4242;
const KEYS_PER_ENTRY = 64;
const LOST_AFTER_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;

interface Pending {
  readonly started: number;
  readonly owner: Cluster;
  readonly resolve: (latencyMs: number) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

async function main(): Promise<void> {
  const [libraryPath, nodesText, leafSetText] = process.argv.slice(2);
  if (libraryPath === undefined)
    throw new Error("usage: embedded-process <library module> <nodes> [leaf set]");
  const lib = (await import(pathToFileURL(libraryPath).href)) as Library;
  const nodes = Number(nodesText ?? 8);
  const leafSetSize = leafSetText === undefined ? undefined : Number(leafSetText);
  // A cheap key derivation: the cost measured is routing, not the one-off scrypt of each start.
  const credentials = new lib.PassphraseCredentials(randomBytes(32).toString("hex"), { N: 1024, r: 8, p: 1 });
  const clusters: Cluster[] = [];
  const pending = new Map<number, Pending>();
  let hopsSum = 0;
  let hopsCount = 0;
  let misdelivered = 0;
  for (let i = 0; i < nodes; i++) {
    const id = lib.NodeId.fromString(`embedded-${i}`);
    const cluster = new lib.Cluster(new lib.Node({ id, localAddress: "127.0.0.1", port: 0 }), credentials, {
      bindHost: "127.0.0.1",
      ...(leafSetSize === undefined ? {} : { leafSetSize }),
    });
    cluster.registerApplication({
      onDeliver: (message) => {
        if (message.payload.byteLength < 4) return;
        const view = new DataView(message.payload.buffer, message.payload.byteOffset, 4);
        const p = pending.get(view.getUint32(0));
        if (p === undefined) return;
        pending.delete(view.getUint32(0));
        clearTimeout(p.timer);
        hopsSum += message.hops;
        hopsCount++;
        if (p.owner !== cluster) {
          misdelivered++;
          p.reject(new Error("delivered by a node that does not own the key"));
          return;
        }
        p.resolve(performance.now() - p.started);
      },
    });
    await cluster.listen();
    if (i > 0) await cluster.join([clusters[0]!.info().localAddress]);
    clusters.push(cluster);
  }
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (clusters.some((c) => !c.ready || c.knownPeers().length < Math.min(nodes - 1, 1))) {
    if (performance.now() > deadline) throw new Error("embedded clusters not ready in time");
    await new Promise((r) => setTimeout(r, 20));
  }
  // Joins settle (leaf sets and tables pushed) before keys are chosen against the full membership.
  await new Promise((r) => setTimeout(r, 2000));
  const keys = new Map<Cluster, NodeId[]>();
  for (const entry of clusters) {
    const list: NodeId[] = [];
    for (let a = 0; list.length < KEYS_PER_ENTRY && a < KEYS_PER_ENTRY * 100; a++) {
      const key = lib.NodeId.fromBytes(randomBytes(16));
      if (ownerOf(key) !== entry) list.push(key);
    }
    keys.set(entry, list);
  }
  function ownerOf(key: NodeId): Cluster {
    return lib.closestTo(
      key,
      clusters.map((c) => ({ id: c.info().id, c })),
    )!.c;
  }

  let sequence = 0;
  const sendOnce = (op: number, payloadBytes: number): Promise<number> => {
    const entry = clusters[op % clusters.length]!;
    const list = keys.get(entry)!;
    const key = list[Math.floor(Math.random() * list.length)]!;
    const seq = sequence++ >>> 0;
    const payload = Buffer.alloc(Math.max(4, payloadBytes), 5);
    payload.writeUInt32BE(seq, 0);
    const started = performance.now();
    const delivered = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(seq);
        reject(new Error(`message ${seq} not delivered within ${LOST_AFTER_MS} ms`));
      }, LOST_AFTER_MS);
      pending.set(seq, { started, owner: ownerOf(key), resolve, reject, timer });
    });
    entry.send(entry.newMessage(PURPOSE, key, payload)).catch((error: unknown) => {
      const p = pending.get(seq);
      if (p === undefined) return;
      pending.delete(seq);
      clearTimeout(p.timer);
      p.reject(error instanceof Error ? error : new Error(String(error)));
    });
    return delivered;
  };

  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const request = JSON.parse(line) as EmbeddedWindow;
    let op = 0;
    let cpuAtStart = process.cpuUsage();
    let cpuUsed = 0;
    const misdeliveredBefore = misdelivered;
    const load = await runLoad(() => sendOnce(op++, request.payloadBytes), {
      inFlight: request.inFlight,
      warmupMs: request.warmupMs,
      measureMs: request.measureMs,
      onWindow: (edge) => {
        if (edge === "start") {
          cpuAtStart = process.cpuUsage();
          hopsSum = 0;
          hopsCount = 0;
          return;
        }
        const used = process.cpuUsage(cpuAtStart);
        cpuUsed = (used.user + used.system) / 1e6;
      },
    });
    const result: EmbeddedWindowResult = {
      perSecond: load.perSecond,
      latency: summarizeLatencies(load.latenciesMs),
      cpuSecondsPerOp: load.completed === 0 ? Number.NaN : cpuUsed / load.completed,
      meanHops: hopsCount === 0 ? Number.NaN : hopsSum / hopsCount,
      failed: load.failed,
      misdelivered: misdelivered - misdeliveredBefore,
      rssBytes: process.memoryUsage().rss,
      latenciesMs: load.latenciesMs,
    };
    process.stdout.write(JSON.stringify(result) + "\n");
  }
  await Promise.all(clusters.map((c) => c.kill()));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `embedded failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
