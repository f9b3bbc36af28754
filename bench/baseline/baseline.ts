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

export interface PingStream {
  /** Writes `payload` and resolves with the ms until it came back. */
  roundTrip(payload: Buffer): Promise<number>;
  close(): void;
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

  /**
   * A bidi stream on which each message written comes back: `roundTrip` resolves with the latency of one
   * (answers come in the order written); `close` ends the stream.
   */
  openPing(): PingStream {
    const call = this.client.makeBidiStreamRequest("/bench.Echo/Ping", identity, identity);
    const waiting: { readonly started: number; readonly resolve: (ms: number) => void }[] = [];
    let failure: Error | undefined;
    call.on("data", () => {
      const next = waiting.shift();
      next?.resolve(performance.now() - next.started);
    });
    call.on("error", (error: Error) => (failure = error));
    return {
      roundTrip: (payload) =>
        failure !== undefined
          ? Promise.reject(failure)
          : new Promise<number>((resolve) => {
              waiting.push({ started: performance.now(), resolve });
              call.write(payload);
            }),
      close: () => call.cancel(),
    };
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

/**
 * The echo with `inFlight` outstanding: unary calls, or (`shape` "stream") round trips of `payloadBytes` on
 * one long-lived bidi stream, what one leg of the daemon path costs at the least (every leg is a message on
 * such a stream), a round trip counting as a call.
 */
export async function measureEcho(
  server: EchoServerProcess,
  client: EchoClient,
  payloadBytes: number,
  inFlight: number,
  settings: BenchSettings,
  shape: "unary" | "stream" = "unary",
): Promise<UnaryRun> {
  const payload = Buffer.alloc(payloadBytes, 1);
  if (shape === "unary")
    return measureLoad(server, () => client.echo(payload), inFlight, settings, "unary echo");
  const stream = client.openPing();
  try {
    return await measureLoad(server, () => stream.roundTrip(payload), inFlight, settings, "stream echo");
  } finally {
    stream.close();
  }
}

/** `operation` run with `inFlight` outstanding through a window, with the server's and this process's CPU. */
async function measureLoad(
  server: EchoServerProcess,
  operation: () => Promise<number>,
  inFlight: number,
  settings: BenchSettings,
  what: string,
): Promise<UnaryRun> {
  let cpuAtStart = 0;
  let cpuUsed = 0;
  const load = await runLoad(operation, {
    inFlight,
    warmupMs: settings.warmupMs,
    measureMs: settings.measureMs,
    onWindow: (edge) => {
      if (edge === "start") cpuAtStart = cpuSeconds(server.pid);
      else cpuUsed = cpuSeconds(server.pid) - cpuAtStart;
    },
  });
  if (load.completed === 0) throw new Error(`baseline ${what} completed none`);
  return {
    callsPerSecond: load.perSecond,
    latency: summarizeLatencies(load.latenciesMs),
    serverCpuSecondsPerCall: cpuUsed / load.completed,
    clientCpuSecondsPerCall: load.generatorCpuSeconds / load.completed,
    latenciesMs: load.latenciesMs,
  };
}
