// A single-node Redis (Debian's redis-server) on 127.0.0.1 for the key-value benchmark's comparison: started
// by the benchmark with persistence off, and a minimal RESP client (SET and GET, pipelined on one socket,
// answers in request order).
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { sleep } from "./load.js";

export const REDIS_SERVER = "/usr/bin/redis-server";

export class RedisProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<RedisProcess> {
    const [port] = await freePorts(1);
    const child = spawn(
      REDIS_SERVER,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
      ],
      { stdio: "ignore" },
    );
    const redis = new RedisProcess(child, port!);
    // Bounded: up to 10 s for the port to accept.
    for (let i = 0; i < 100; i++) {
      try {
        const c = await RespClient.connect(port!);
        c.close();
        return redis;
      } catch {
        await sleep(100);
      }
    }
    child.kill("SIGKILL");
    throw new Error("redis-server did not start listening within 10 s");
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await exited;
  }
}

export class RespClient {
  private readonly waiting: { resolve: (v: Buffer | null) => void; reject: (e: Error) => void }[] = [];
  private buffer = Buffer.alloc(0);

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
    socket.on("error", (error) => {
      for (const w of this.waiting.splice(0)) w.reject(error);
    });
  }

  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new RespClient(socket)));
      socket.once("error", reject);
    });
  }

  set(key: string, value: Buffer): Promise<Buffer | null> {
    return this.command([Buffer.from("SET"), Buffer.from(key), value]);
  }

  get(key: string): Promise<Buffer | null> {
    return this.command([Buffer.from("GET"), Buffer.from(key)]);
  }

  close(): void {
    this.socket.destroy();
  }

  private command(parts: readonly Buffer[]): Promise<Buffer | null> {
    const head = Buffer.from(`*${parts.length}\r\n`);
    const body = parts.flatMap((p) => [Buffer.from(`$${p.length}\r\n`), p, Buffer.from("\r\n")]);
    this.socket.write(Buffer.concat([head, ...body]));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Parses the complete replies at the head of the buffer: simple strings, errors, bulk strings. */
  private drain(): void {
    for (;;) {
      const end = this.buffer.indexOf("\r\n");
      if (end < 0) return;
      const kind = String.fromCharCode(this.buffer[0]!);
      const line = this.buffer.subarray(1, end).toString();
      let reply: Buffer | null;
      let consumed: number;
      if (kind === "$") {
        const length = Number(line);
        if (length < 0) {
          reply = null;
          consumed = end + 2;
        } else {
          if (this.buffer.length < end + 2 + length + 2) return;
          reply = Buffer.from(this.buffer.subarray(end + 2, end + 2 + length));
          consumed = end + 2 + length + 2;
        }
      } else {
        reply = Buffer.from(line);
        consumed = end + 2;
      }
      this.buffer = this.buffer.subarray(consumed);
      const waiter = this.waiting.shift();
      if (kind === "-") waiter?.reject(new Error(`redis: ${line}`));
      else waiter?.resolve(reply);
    }
  }
}
