// The embedded floor (issue #19): clusters of the library API in one child process (embedded-process.ts),
// routing Sends to keys owned by other clusters. Each window is asked for over the child's stdin and
// answered as one JSON line; its figures take the shape of a routed TrafficRun so the report can set
// them beside the daemon rows.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface, type Interface } from "node:readline";
import type { BenchSettings } from "../lib/settings.js";
import type { EmbeddedWindow, EmbeddedWindowResult } from "../embedded/protocol.js";
import type { TrafficRun } from "./traffic.js";

const READY_TIMEOUT_MS = 120_000;
/** The library's sources, for runs that measure the working tree instead of a compiled commit. */
export const SOURCE_LIBRARY = fileURLToPath(new URL("../../src/index.ts", import.meta.url));

export class EmbeddedClusters {
  private readonly waiters: ((line: string) => void)[] = [];
  private stderr = "";

  private constructor(
    private readonly child: ChildProcess,
    private readonly lines: Interface,
  ) {
    lines.on("line", (line) => this.waiters.shift()?.(line));
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    child.once("exit", () => {
      for (const w of this.waiters.splice(0)) w("");
    });
  }

  /** Starts `nodes` clusters of `library` (a module path) in a child process; resolves once they route. */
  static async start(library: string, nodes: number, leafSetSize?: number): Promise<EmbeddedClusters> {
    const script = fileURLToPath(new URL("../embedded/embedded-process.ts", import.meta.url));
    const args = ["--import", "tsx", script, library, String(nodes)];
    if (leafSetSize !== undefined) args.push(String(leafSetSize));
    const child = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "pipe"] });
    const embedded = new EmbeddedClusters(child, createInterface({ input: child.stdout! }));
    const timer = setTimeout(() => child.kill("SIGKILL"), READY_TIMEOUT_MS);
    try {
      const first = await embedded.nextLine();
      if (!first.includes('"ready"')) throw new Error(`embedded clusters did not start: ${embedded.stderr}`);
    } finally {
      clearTimeout(timer);
    }
    return embedded;
  }

  get pid(): number {
    return this.child.pid!;
  }

  async measureSend(payloadBytes: number, inFlight: number, settings: BenchSettings): Promise<TrafficRun> {
    const request: EmbeddedWindow = {
      inFlight,
      payloadBytes,
      warmupMs: settings.warmupMs,
      measureMs: settings.measureMs,
    };
    const answer = this.nextLine();
    this.child.stdin!.write(JSON.stringify(request) + "\n");
    const line = await answer;
    if (line === "") throw new Error(`embedded clusters exited: ${this.stderr}`);
    const r = JSON.parse(line) as EmbeddedWindowResult;
    return {
      perSecond: r.perSecond,
      latency: r.latency,
      cpuSecondsPerOp: r.cpuSecondsPerOp,
      // The load and the applications run in the same process: their CPU is in cpuSecondsPerOp.
      clientCpuSecondsPerOp: 0,
      meanHops: r.meanHops,
      failed: r.failed,
      misdelivered: r.misdelivered,
      maxRssBytes: r.rssBytes,
      latenciesMs: r.latenciesMs,
    };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  private nextLine(): Promise<string> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
