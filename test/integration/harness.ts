// Starts Wendy nodes as separate OS processes on 127.0.0.x and talks to them over IPC, so integration tests
// exercise the real runtime: real sockets, real gRPC, real authentication, real process death.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { NodeId, closestTo, isCloser } from "../../src/routing/id.js";
import type { Command, NodeState, PeerEvent, Reply, WireNode } from "./fixtures/protocol.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/peer-process.ts", import.meta.url));

export interface PeerOptions {
  readonly name: string;
  readonly host: string;
  readonly seeds?: readonly string[];
  readonly secret?: string;
  readonly region?: string;
  readonly globalHost?: string;
  readonly bind?: string;
  readonly env?: Readonly<Record<string, string>>;
  /**
   * A command prefix the node process runs under, e.g. ["ip", "netns", "exec", "ns1"] for a network
   * namespace. The prefix must exec the program in place (same pid), so signals reach the node itself.
   */
  readonly wrap?: readonly string[];
}

export interface Delivery {
  readonly at: string;
  readonly id: string;
  readonly key: string;
  readonly purpose: number;
  readonly payload: string;
  readonly hops: number;
  readonly origin: string;
  /** Order among all events the test saw. */
  readonly order: number;
}

type SendReply = Extract<Reply, { ok: true }>;
type CommandBody = Command extends infer C ? (C extends Command ? Omit<C, "seq"> : never) : never;

/** Raised when a node answers a command with an error; carries the gRPC status code if any. */
export class PeerCommandError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

export class PeerProcess {
  readonly child: ChildProcess;
  info: WireNode | undefined;
  readyOrder: number | undefined;
  exited = false;
  readonly listening: Promise<WireNode>;
  readonly ready: Promise<WireNode>;
  private seq = 0;
  private readonly waiting = new Map<number, (reply: Reply) => void>();

  constructor(
    readonly options: PeerOptions,
    private readonly world: World,
  ) {
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      WENDY_TEST_NAME: options.name,
      WENDY_TEST_HOST: options.host,
      WENDY_TEST_SEEDS: (options.seeds ?? []).join(","),
      WENDY_TEST_SECRET: options.secret ?? "",
      WENDY_TEST_REGION: options.region ?? "",
      WENDY_TEST_GLOBAL_HOST: options.globalHost ?? "",
      WENDY_TEST_BIND: options.bind ?? options.host,
      ...options.env,
    };
    const wrap = options.wrap ?? [];
    this.child =
      wrap.length === 0
        ? fork(FIXTURE, [], {
            execArgv: ["--import", "tsx"],
            env,
            stdio: ["ignore", "inherit", "inherit", "ipc"],
          })
        : spawn(wrap[0]!, [...wrap.slice(1), process.execPath, "--import", "tsx", FIXTURE], {
            env,
            stdio: ["ignore", "inherit", "inherit", "ipc"],
          });
    let onListening: (n: WireNode) => void = () => undefined;
    let onReady: (n: WireNode) => void = () => undefined;
    let onFail: (e: Error) => void = () => undefined;
    this.listening = new Promise((resolve) => (onListening = resolve));
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    // A node that never becomes ready must not leave an unhandled rejection behind.
    this.ready.catch(() => undefined);
    this.child.on("message", (m: PeerEvent | Reply) => {
      if ("seq" in m) {
        this.waiting.get(m.seq)?.(m);
        this.waiting.delete(m.seq);
        return;
      }
      const order = world.nextOrder();
      switch (m.ev) {
        case "listening":
          this.info = m.node;
          onListening(m.node);
          return;
        case "ready":
          this.readyOrder = order;
          onReady(m.node);
          return;
        case "joinFailed":
          onFail(new Error(`${options.name} failed to join: ${m.message}`));
          return;
        case "deliver":
          world.deliveries.push({ ...m, at: this.id, order });
          return;
        case "nodeExit":
        case "error":
          world.events.push({ node: options.name, event: m });
          return;
      }
    });
    this.child.on("exit", () => {
      this.exited = true;
      onFail(new Error(`${options.name} exited`));
      for (const resolve of this.waiting.values())
        resolve({ seq: -1, ok: false, error: "process exited", code: undefined });
      this.waiting.clear();
    });
  }

  get id(): string {
    if (this.info === undefined) throw new Error(`${this.options.name} is not listening yet`);
    return this.info.id;
  }

  /** "host:port" other nodes use to reach this one. */
  get address(): string {
    if (this.info === undefined) throw new Error(`${this.options.name} is not listening yet`);
    return this.info.localAddress;
  }

  private request(command: CommandBody): Promise<SendReply> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new PeerCommandError(`${this.options.name} has exited`, undefined));
      this.waiting.set(seq, (reply) =>
        reply.ok ? resolve(reply) : reject(new PeerCommandError(reply.error, reply.code)),
      );
      // The IPC channel closes a little before "exit" fires: a send in between fails through this callback
      // (without one, Node raises it as an uncaught error) and rejects like a send to an exited process.
      this.child.send({ ...command, seq } as Command, (error) => {
        if (error === null) return;
        this.waiting.delete(seq);
        reject(new PeerCommandError(`${this.options.name}: ${error.message}`, undefined));
      });
    });
  }

  async send(key: string, purpose: number, payload: string, waitForAck = true): Promise<SendReply> {
    return this.request({ cmd: "send", key, purpose, payload, waitForAck });
  }

  async state(): Promise<NodeState> {
    const reply = await this.request({ cmd: "state" });
    if (reply.state === undefined) throw new Error("no state in reply");
    return reply.state;
  }

  /** Graceful stop (leave), then the process exits. */
  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) =>
      this.exited ? resolve() : this.child.once("exit", () => resolve()),
    );
    await this.request({ cmd: "stop" }).catch(() => undefined);
    await exited;
  }

  /** Abrupt death: SIGKILL, no goodbye. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGKILL");
    await exited;
  }
}

/** Everything the test observed across its node processes. */
export class World {
  readonly peers: PeerProcess[] = [];
  readonly deliveries: Delivery[] = [];
  readonly events: { node: string; event: PeerEvent }[] = [];
  private order = 0;

  nextOrder(): number {
    return ++this.order;
  }

  start(options: PeerOptions): PeerProcess {
    const peer = new PeerProcess(options, this);
    this.peers.push(peer);
    return peer;
  }

  live(): PeerProcess[] {
    return this.peers.filter((p) => !p.exited);
  }

  /** The numerically closest of `among` (default: live ready nodes) to `key`, by the overlay's own rule. */
  owner(
    key: string,
    among: readonly PeerProcess[] = this.live().filter((p) => p.readyOrder !== undefined),
  ): string {
    const best = closestTo(
      NodeId.fromHex(key),
      among.map((p) => ({ id: NodeId.fromHex(p.id) })),
    );
    if (best === undefined) throw new Error("no nodes");
    return best.id.hex;
  }

  /** True when some node in `among` is strictly closer to `key` than `at`. */
  someoneCloser(key: string, at: string, among: readonly PeerProcess[]): boolean {
    const k = NodeId.fromHex(key);
    const a = NodeId.fromHex(at);
    return among.some((p) => p.id !== at && isCloser(k, NodeId.fromHex(p.id), a));
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.kill()));
  }
}

/** Random 32-hex-digit keys from a seeded generator, so a failing run can be repeated. */
export function keys(count: number, seed: number): string[] {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join(""),
  );
}

/** Polls `check` until it returns true or `limitMs` passes; returns the last result. Bounded by design. */
export async function eventually(
  check: () => Promise<boolean>,
  limitMs: number,
  stepMs = 250,
): Promise<boolean> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Starts nodes `concurrency` at a time (each batch waits until its nodes are ready). */
export async function startInBatches(
  world: World,
  options: readonly PeerOptions[],
  concurrency: number,
): Promise<PeerProcess[]> {
  const started: PeerProcess[] = [];
  for (let i = 0; i < options.length; i += concurrency) {
    const batch = options.slice(i, i + concurrency).map((o) => world.start(o));
    await Promise.all(batch.map((p) => p.ready));
    started.push(...batch);
  }
  return started;
}

/**
 * The leaf set node `id` should hold among `ids` with `half` members per side: the `half` nearest
 * clockwise and the `half` nearest counter-clockwise (everyone else when the ring is small).
 */
export function expectedLeafSet(id: string, ids: readonly string[], half: number): Set<string> {
  const sorted = [...ids].sort();
  const at = sorted.indexOf(id);
  const others = sorted.length - 1;
  const members = new Set<string>();
  for (let step = 1; step <= Math.min(half, others); step++) {
    members.add(sorted[(at + step) % sorted.length]!);
    members.add(sorted[(at - step + sorted.length) % sorted.length]!);
  }
  return members;
}
