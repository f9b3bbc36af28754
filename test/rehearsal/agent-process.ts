// The test's side of an agent (agent.ts): starts it inside a namespace and turns its IPC replies into
// promises. Every agent is stopped by close(), or at the latest when the test process exits.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { AgentReply, AgentRequest } from "./agent-protocol.js";

const AGENT = fileURLToPath(new URL("./agent.ts", import.meta.url));
const START_LIMIT_MS = 30_000;
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

type Body<R> = R extends AgentRequest ? Omit<R, "seq"> : never;

export class Agent {
  private seq = 0;
  private readonly waiting = new Map<number, (reply: AgentReply) => void>();

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (reply: AgentReply) => {
      this.waiting.get(reply.seq)?.(reply);
      this.waiting.delete(reply.seq);
    });
    child.on("exit", () => {
      live.delete(child);
      for (const resolve of this.waiting.values())
        resolve({ seq: -1, ok: false, error: `agent ${name} exited` });
      this.waiting.clear();
    });
  }

  /** Starts an agent under `wrap` (e.g. `ip netns exec <ns>`, which execs in place) and waits for it. */
  static async start(name: string, wrap: readonly string[]): Promise<Agent> {
    const [program, ...args] = [...wrap, process.execPath, "--import", "tsx", AGENT];
    const child = spawn(program!, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    live.add(child);
    const agent = new Agent(name, child);
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), START_LIMIT_MS);
      agent.waiting.set(0, (reply) => {
        clearTimeout(timer);
        resolve(reply.ok);
      });
    });
    if (!started) {
      agent.close();
      throw new Error(`agent ${name} did not start within ${START_LIMIT_MS} ms`);
    }
    return agent;
  }

  request(body: Body<AgentRequest>): Promise<AgentReply> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      if (!this.child.connected) {
        resolve({ seq, ok: false, error: `agent ${this.name} is not running` });
        return;
      }
      this.waiting.set(seq, resolve);
      this.child.send({ ...body, seq });
    });
  }

  /** A grpc.health.v1 Check: the status name (e.g. "SERVING") or "error: ...". */
  async grpcHealth(address: string, service: string): Promise<string> {
    const reply = await this.request({ op: "grpcHealth", address, service });
    return reply.ok && "text" in reply ? reply.text : `error: ${reply.ok ? "bad reply" : reply.error}`;
  }

  /** An HTTP GET: status and body, or status 0 and the error when the request failed. */
  async httpGet(url: string): Promise<{ status: number; body: string }> {
    const reply = await this.request({ op: "http", url });
    if (reply.ok && "text" in reply) return { status: reply.status ?? 0, body: reply.text };
    return { status: 0, body: reply.ok ? "bad reply" : reply.error };
  }

  async tcpConnects(host: string, port: number): Promise<boolean> {
    const reply = await this.request({ op: "tcp", host, port });
    return reply.ok && "text" in reply && reply.text === "true";
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}
