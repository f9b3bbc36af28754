// A local cluster of real `wendy start` processes on 127.0.0.1 for the benchmark: every node joins through
// the first one (WENDY_JOIN), default protocol settings, a WendyClient on each node's client port.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeId } from "../../src/routing/id.js";
import { WendyClient } from "../../src/client/index.js";
import { LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { wendyBin } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { BenchDaemon } from "./daemon.js";
import type { ClusterLimitedMemory } from "./result.js";
import { httpGet } from "./http.js";
import { sleep } from "./load.js";
import { randomBytes } from "node:crypto";

const START_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 10;
const STOP_TIMEOUT_MS = 15_000;
// A fresh random key per run: the daemon refuses secrets a dictionary could hold.
const SECRET = randomBytes(32).toString("hex");

export interface BenchNode {
  readonly name: string;
  readonly id: NodeId;
  readonly process: BenchDaemon;
  readonly peerAddress: string;
  readonly client: WendyClient;
  readonly metricsUrl: string;
  readonly pid: number;
}

/** Times of one node's start: process spawn to its "started" log line, and to /readyz answering 200. */
export interface StartTiming {
  readonly bootMs: number;
  readonly readyMs: number;
}

/** How a daemon is run: bin/wendy.js (the working tree: its build if current, else tsx) or a compiled commit. */
export interface DaemonRuntime {
  readonly name: "source" | "compiled";
  /** The script run as `node <entry> start`. */
  readonly entry: string;
}

export const SOURCE_RUNTIME: DaemonRuntime = { name: "source", entry: wendyBin() };

const everyProcess = new Set<BenchDaemon>();
// A harness that dies mid-run must not leave daemons behind.
process.once("exit", () => {
  for (const p of everyProcess) p.signal("SIGKILL");
});

export interface BenchClusterOptions {
  /** Each daemon gets a key-value data directory of its own (WENDY_KV_DATA_DIR), removed by stop(). */
  readonly kvDataDirs?: boolean;
  /** Each daemon runs in a memory cgroup of its own with this limit (see memory-cgroup.ts). */
  readonly memoryLimitBytes?: number;
  /**
   * Each daemon serves its client services on a Unix socket too (WENDY_CLIENT_SOCKET), and the harness's
   * clients use it instead of the TCP client port: applications beside their node, as a sidecar would be.
   */
  readonly clientSocket?: boolean;
}

export class BenchCluster {
  readonly nodes: BenchNode[] = [];
  private readonly logDir = mkdtempSync(join(tmpdir(), "wendy-bench-"));
  private readonly kvDataRoot: string | undefined;
  private readonly memoryLimitBytes: number | undefined;
  private readonly clientSocket: boolean;
  /** Every daemon this cluster started, including those killed or gone since. */
  private readonly everyDaemon: BenchDaemon[] = [];
  private seedAddress = "";
  private started = 0;
  /** performance.now() when the membership last changed (a node ready, killed or gone). */
  changedAt = performance.now();

  /** `extraEnv` goes to every daemon (e.g. NODE_OPTIONS for profiling). */
  constructor(
    private readonly label: string,
    private readonly runtime: DaemonRuntime = SOURCE_RUNTIME,
    private readonly extraEnv: Readonly<Record<string, string>> = {},
    options: BenchClusterOptions = {},
  ) {
    if (options.kvDataDirs === true) this.kvDataRoot = mkdtempSync(join(tmpdir(), "wendy-bench-kv-data-"));
    this.memoryLimitBytes = options.memoryLimitBytes;
    this.clientSocket = options.clientSocket === true;
  }

  /** Starts `count` nodes, `batch` at a time (the first alone: it founds the ring). */
  async grow(count: number, batch: number): Promise<void> {
    // All ports are picked while held open at once, so that nodes started together never share one.
    const ports = await freePorts(count);
    if (this.nodes.length === 0 && ports.length > 0) await this.startNode(ports.shift());
    while (ports.length > 0) {
      const batchPorts = ports.splice(0, batch);
      await Promise.all(batchPorts.map((port) => this.startNode(port)));
    }
  }

  /** Starts one node that joins the ring; resolves once its /readyz answers 200. */
  async startNode(peerPort?: number): Promise<{ node: BenchNode; timing: StartTiming }> {
    const index = this.started++;
    const name = `bench-${this.label}-${index}`;
    const port = peerPort ?? (await freePorts(1))[0]!;
    const peerAddress = `127.0.0.1:${port}`;
    if (this.seedAddress === "") this.seedAddress = peerAddress;
    const socket = this.clientSocket ? join(this.logDir, `${index}.sock`) : undefined;
    const spawned = performance.now();
    const process = new BenchDaemon(
      name,
      this.runtime.entry,
      {
        WENDY_NODE_NAME: name,
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_PORT: String(port),
        WENDY_CLIENT_PORT: "0",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_METRICS_PORT: "0",
        WENDY_JOIN: this.seedAddress,
        WENDY_SECRET: SECRET,
        WENDY_SHUTDOWN_GRACE_MS: "3000",
        ...(this.kvDataRoot === undefined ? {} : { WENDY_KV_DATA_DIR: join(this.kvDataRoot, name) }),
        ...(socket === undefined ? {} : { WENDY_CLIENT_SOCKET: socket }),
        ...this.extraEnv,
      },
      join(this.logDir, `${name}.log`),
      this.memoryLimitBytes,
    );
    everyProcess.add(process);
    this.everyDaemon.push(process);
    const startLine = await process.waitForMessage(LOG_STARTED, START_TIMEOUT_MS);
    const booted = performance.now();
    const metricsUrl = `http://127.0.0.1:${String(startLine.metricsPort)}`;
    await waitReady(metricsUrl, process);
    const ready = performance.now();
    const node: BenchNode = {
      name,
      id: NodeId.fromString(name),
      process,
      peerAddress,
      client: new WendyClient(
        socket === undefined ? `127.0.0.1:${String(startLine.clientPort)}` : `unix://${socket}`,
      ),
      metricsUrl,
      pid: process.pid,
    };
    this.nodes.push(node);
    this.changedAt = performance.now();
    return { node, timing: { bootMs: booted - spawned, readyMs: ready - spawned } };
  }

  /** SIGKILL: no goodbye. Removes the node from `nodes`. */
  async kill(node: BenchNode): Promise<void> {
    node.process.signal("SIGKILL");
    await node.process.exited;
    this.forget(node);
  }

  /** SIGTERM: a graceful leave. Removes the node from `nodes`. */
  async leave(node: BenchNode): Promise<void> {
    node.process.signal("SIGTERM");
    await stopWithin(node.process, STOP_TIMEOUT_MS);
    this.forget(node);
  }

  async stop(): Promise<void> {
    const all = [...this.nodes];
    for (const n of all) n.client.close();
    for (const n of all) n.process.signal("SIGTERM");
    await Promise.all(all.map((n) => stopWithin(n.process, STOP_TIMEOUT_MS)));
    for (const n of all) everyProcess.delete(n.process);
    this.nodes.length = 0;
    if (this.kvDataRoot !== undefined) rmSync(this.kvDataRoot, { recursive: true, force: true });
  }

  /** Under a memory limit and once stop() returned: what every daemon of the cluster did inside it. */
  limitedMemory(): ClusterLimitedMemory | undefined {
    if (this.memoryLimitBytes === undefined) return undefined;
    const seen = this.everyDaemon.flatMap((d) => (d.limitedMemory === undefined ? [] : [d.limitedMemory]));
    return {
      limitBytes: this.memoryLimitBytes,
      daemons: seen.length,
      peakChargedBytes: Math.max(0, ...seen.map((m) => m.peakChargedBytes)),
      oomKills: seen.reduce((sum, m) => sum + m.oomKills, 0),
    };
  }

  private forget(node: BenchNode): void {
    this.changedAt = performance.now();
    node.client.close();
    everyProcess.delete(node.process);
    const at = this.nodes.indexOf(node);
    if (at >= 0) this.nodes.splice(at, 1);
  }
}

async function waitReady(metricsUrl: string, process: BenchDaemon): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (!process.running) throw new Error(`${process.name} exited before it was ready`);
    const reply = await httpGet(`${metricsUrl}/readyz`).catch(() => undefined);
    if (reply?.status === 200) return;
    await sleep(READY_POLL_MS);
  }
  throw new Error(`${process.name}: /readyz not 200 within ${START_TIMEOUT_MS} ms`);
}

async function stopWithin(process: BenchDaemon, timeoutMs: number): Promise<void> {
  const timer = setTimeout(() => process.signal("SIGKILL"), timeoutMs);
  await process.exited;
  clearTimeout(timer);
}
