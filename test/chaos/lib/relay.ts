// A delaying TCP relay: every chunk it forwards waits a random 50-200 ms (by default) before it goes on,
// in order, so a link gets delay and jitter without tc netem (not available in these kernels).
// Buffers are bounded (a slow side pauses the fast one) and so is the relay's lifetime.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { assertInsideSubnet, type TestNetwork } from "./netns.js";

export interface RelayOptions {
  /** Where to listen ("host", port 0 picks one). */
  readonly listenHost: string;
  readonly listenPort?: number;
  /** Where every accepted connection is relayed to. */
  readonly targetHost: string;
  readonly targetPort: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Bytes queued per direction before the sending side is paused. Default 4 MiB. */
  readonly maxBufferedBytes?: number;
  /** Connections relayed at once; more are refused. Default 256. */
  readonly maxConnections?: number;
  /** The relay closes everything after this long. Default 10 minutes. */
  readonly lifetimeMs?: number;
  /** Randomness for the delays (tests inject a fixed one). */
  readonly random?: () => number;
}

/** One direction of a relayed connection: delays each chunk, keeps their order, bounds what it holds. */
class DelayedPipe {
  private queued = 0;
  private lastDue = 0;
  /** Actions in the order they were scheduled, each with its due time; one timer waits for the first. */
  private readonly due: { readonly at: number; readonly action: () => void }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delay: () => number,
    private readonly maxBuffered: number,
  ) {
    from.on("data", (chunk: Buffer) => this.push(chunk));
    from.on("end", () => this.after(() => to.end()));
  }

  private push(chunk: Buffer): void {
    this.queued += chunk.length;
    if (this.queued > this.maxBuffered) this.from.pause();
    this.after(() => {
      this.queued -= chunk.length;
      if (!this.to.destroyed) this.to.write(chunk);
      if (this.queued <= this.maxBuffered / 2 && this.from.isPaused()) this.from.resume();
    });
  }

  /**
   * Runs `action` after a random delay, never before anything scheduled earlier (TCP keeps order). One
   * queue and one timer, not a timer per action: timers armed in one turn of the event loop count from
   * the same cached loop time, so per-action timers with durations from a finer clock could fire out of
   * order.
   */
  private after(action: () => void): void {
    const due = Math.max(performance.now() + this.delay(), this.lastDue);
    this.lastDue = due;
    this.due.push({ at: due, action });
    if (this.timer === undefined) this.arm();
  }

  private arm(): void {
    const first = this.due[0];
    if (first === undefined || this.closed) return;
    this.timer = setTimeout(() => this.run(), Math.max(0, first.at - performance.now()));
  }

  private run(): void {
    this.timer = undefined;
    const now = performance.now();
    while (this.due.length > 0 && (this.due[0]?.at ?? Infinity) <= now && !this.closed) {
      this.due.shift()?.action();
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.due.length = 0;
  }
}

export class DelayingRelay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly pipes = new Set<DelayedPipe>();
  private lifetime: NodeJS.Timeout | undefined;
  /** Connections accepted so far (for tests and reports). */
  accepted = 0;

  constructor(private readonly options: RelayOptions) {
    const min = options.minDelayMs ?? 50;
    const max = options.maxDelayMs ?? 200;
    if (!(min >= 0 && max >= min)) throw new RangeError(`bad delay range ${min}..${max}`);
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    const o = this.options;
    const min = o.minDelayMs ?? 50;
    const max = o.maxDelayMs ?? 200;
    const random = o.random ?? Math.random;
    const delay = (): number => min + random() * (max - min);
    const server = createServer((inbound) => {
      if (this.sockets.size / 2 >= (o.maxConnections ?? 256)) {
        inbound.destroy();
        return;
      }
      this.accepted++;
      const outbound = connect(o.targetPort, o.targetHost);
      const maxBuffered = o.maxBufferedBytes ?? 4 * 1024 * 1024;
      const pipes = [
        new DelayedPipe(inbound, outbound, delay, maxBuffered),
        new DelayedPipe(outbound, inbound, delay, maxBuffered),
      ];
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on("error", () => undefined);
        // A reset or close on one side closes the other: the relay never holds a half-dead connection.
        s.on("close", () => {
          this.sockets.delete(s);
          for (const p of pipes) {
            p.close();
            this.pipes.delete(p);
          }
          inbound.destroy();
          outbound.destroy();
        });
      }
      for (const p of pipes) this.pipes.add(p);
    });
    this.server = server;
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.listenPort ?? 0, o.listenHost, () => {
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : 0);
      });
    });
    this.lifetime = setTimeout(() => void this.close(), o.lifetimeMs ?? 600_000);
    this.lifetime.unref();
    return port;
  }

  async close(): Promise<void> {
    if (this.lifetime !== undefined) clearTimeout(this.lifetime);
    for (const p of this.pipes) p.close();
    this.pipes.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const RELAY_PROCESS = fileURLToPath(new URL("./relay-process.ts", import.meta.url));

/** A relay running as its own process in a test network's switch namespace. */
export class RelayProcess {
  private constructor(
    readonly child: ChildProcess,
    /** "host:port" the relay listens on (inside the switch namespace). */
    readonly address: string,
  ) {}

  static async start(
    net: TestNetwork,
    target: string,
    options: { minDelayMs?: number; maxDelayMs?: number; lifetimeMs?: number } = {},
  ): Promise<RelayProcess> {
    assertInsideSubnet(target);
    const [targetHost, targetPort] = target.split(":");
    const child = spawn(
      "ip",
      ["netns", "exec", net.switchNs, process.execPath, "--import", "tsx", RELAY_PROCESS],
      {
        env: {
          ...process.env,
          WENDY_RELAY: JSON.stringify({
            listenHost: net.switchAddress,
            targetHost,
            targetPort: Number(targetPort),
            minDelayMs: options.minDelayMs ?? 50,
            maxDelayMs: options.maxDelayMs ?? 200,
            lifetimeMs: options.lifetimeMs ?? 600_000,
          }),
        },
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("relay did not start within 30 s")), 30_000);
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening (\d+)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`relay exited early (${code})`));
      });
    });
    return new RelayProcess(child, `${net.switchAddress}:${port}`);
  }

  /** Stops the relay process (it also stops by itself when its lifetime ends or stdin closes). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGKILL");
    await exited;
  }
}

const NAT_TABLE = "ip wendy_delay";

/**
 * Puts delay and jitter on the link from node `from` to the node listening at `target` ("host:port"):
 * a relay in the switch namespace, and a DNAT rule in `from`'s namespace that sends its connections to
 * `target` through the relay. Other nodes still reach `target` directly.
 */
export async function delayLink(
  net: TestNetwork,
  from: number,
  target: string,
  options: { minDelayMs?: number; maxDelayMs?: number; lifetimeMs?: number } = {},
): Promise<RelayProcess> {
  assertInsideSubnet(target);
  const relay = await RelayProcess.start(net, target, options);
  const [host, port] = target.split(":");
  const [relayHost, relayPort] = relay.address.split(":");
  await net.nft(
    net.node(from).ns,
    [
      `add table ${NAT_TABLE}`,
      `add chain ${NAT_TABLE} output { type nat hook output priority -100; policy accept; }`,
      `add rule ${NAT_TABLE} output ip daddr ${host} tcp dport ${port} dnat to ${relayHost}:${relayPort}`,
    ].join("\n"),
  );
  return relay;
}

/** Removes the delay rules from node `from`'s namespace (connections made later go direct again). */
export async function removeDelays(net: TestNetwork, from: number): Promise<void> {
  await net.nft(net.node(from).ns, `add table ${NAT_TABLE}\ndelete table ${NAT_TABLE}`);
}
