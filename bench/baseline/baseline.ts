// The same-run baseline: plain @grpc/grpc-js between two processes (this one and echo-server.ts), unary
// echo with the routed benchmark's payloads and concurrency, and a server-streaming rate.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { Client, credentials, type ClientReadableStream } from "@grpc/grpc-js";
import { runLoad, sleep } from "../lib/load.js";
import { cpuSeconds } from "../lib/proc.js";
import { summarizeLatencies, type LatencySummary } from "../lib/stats.js";
import type { BenchSettings } from "../lib/settings.js";

const identity = (b: Buffer): Buffer => b;
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface UnaryRun {
  readonly callsPerSecond: number;
  readonly latency: LatencySummary;
  /** Server process CPU seconds per call. */
  readonly serverCpuSecondsPerCall: number;
  /** This process's (the client's) CPU seconds per call. */
  readonly clientCpuSecondsPerCall: number;
  readonly latenciesMs: number[];
}

export interface StreamRun {
  readonly messagesPerSecond: number;
}

export class EchoServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoServerProcess> {
    const script = fileURLToPath(new URL("./echo-server.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on("line", (line) => {
        const match = /^port (\d+)$/.exec(line);
        if (match !== null) resolve(Number(match[1]));
      });
      child.once("exit", (code) => reject(new Error(`echo server exited (${code}) before listening`)));
    });
    return new EchoServerProcess(child, port);
  }

  get pid(): number {
    return this.child.pid!;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}

export class EchoClient {
  private readonly client: Client;

  constructor(port: number) {
    this.client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    });
  }

  /** One unary echo; resolves with its latency in ms. */
  echo(payload: Buffer): Promise<number> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest("/bench.Echo/Echo", identity, identity, payload, (error, reply) => {
        if (error) reject(error);
        else if (reply?.length !== payload.length) reject(new Error("echo returned a different payload"));
        else resolve(performance.now() - started);
      });
    });
  }

  /** Messages per second the server streams to this process, counted over `measureMs` after a warm-up. */
  async streamRate(payloadBytes: number, warmupMs: number, measureMs: number): Promise<StreamRun> {
    const request = Buffer.alloc(4);
    request.writeUInt32BE(payloadBytes, 0);
    const call: ClientReadableStream<Buffer> = this.client.makeServerStreamRequest(
      "/bench.Echo/Stream",
      identity,
      identity,
      request,
    );
    let received = 0;
    call.on("data", () => received++);
    call.on("error", () => undefined); // cancelling below ends the stream with CANCELLED
    await sleep(warmupMs);
    const before = received;
    const started = performance.now();
    await sleep(measureMs);
    const count = received - before;
    const seconds = (performance.now() - started) / 1000;
    call.cancel();
    return { messagesPerSecond: count / seconds };
  }

  close(): void {
    this.client.close();
  }
}

export async function measureUnary(
  server: EchoServerProcess,
  client: EchoClient,
  payloadBytes: number,
  inFlight: number,
  settings: BenchSettings,
): Promise<UnaryRun> {
  const payload = Buffer.alloc(payloadBytes, 1);
  let cpuAtStart = 0;
  let cpuUsed = 0;
  const load = await runLoad(() => client.echo(payload), {
    inFlight,
    warmupMs: settings.warmupMs,
    measureMs: settings.measureMs,
    onWindow: (edge) => {
      if (edge === "start") cpuAtStart = cpuSeconds(server.pid);
      else cpuUsed = cpuSeconds(server.pid) - cpuAtStart;
    },
  });
  if (load.completed === 0) throw new Error("baseline unary echo completed no call");
  return {
    callsPerSecond: load.perSecond,
    latency: summarizeLatencies(load.latenciesMs),
    serverCpuSecondsPerCall: cpuUsed / load.completed,
    clientCpuSecondsPerCall: load.generatorCpuSeconds / load.completed,
    latenciesMs: load.latenciesMs,
  };
}
