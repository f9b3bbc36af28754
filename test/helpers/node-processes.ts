// Starts test nodes (overlay-node.ts) as child processes and stops every one of them at the end.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { NodeProcessConfig } from "./overlay-node.js";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const NODE_SCRIPT = join(REPO_ROOT, "test", "helpers", "overlay-node.ts");
/**
 * Bound on a node's own start-up work (bind, listen, join), counted from when its code is loaded (or, for a
 * node loaded ahead, from when it is told to start). Loading
 * (node, tsx, the modules) takes what the machine's load makes it take; only the caller's test or hook
 * timeout bounds that, so a busy machine does not fail a start that is merely slow to load.
 */
const START_TIMEOUT_MS = 30_000;

export interface StartedNode {
  readonly name: string;
  /** Node ID, 32 hex digits. */
  readonly id: string;
  readonly peerPort: number;
  readonly clientPort: number;
  readonly clientAddress: string;
  readonly peerAddress: string;
  readonly process: ChildProcess;
  /** What the process wrote to stderr so far (for failure messages). */
  stderr(): string;
}

/** A node process whose code is loaded, waiting for the rest of its config (see NodeProcesses.load). */
export interface LoadedNode {
  readonly name: string;
  /** Sends `rest` (e.g. the seed) to the process; resolves once it is ready (joined, when a seed is given). */
  start(rest?: Pick<NodeProcessConfig, "seed">): Promise<StartedNode>;
}

export class NodeProcesses {
  private readonly children = new Set<ChildProcess>();

  /** Starts a node and resolves once it is ready (joined, when a seed is given). */
  async start(config: NodeProcessConfig): Promise<StartedNode> {
    const node = this.spawn(config);
    await node.loaded;
    return node.ready();
  }

  /**
   * Spawns a node and resolves once its code is loaded; it starts when told. Loading is most of what a node
   * costs on a busy machine (node, tsx and the modules), and several load at once as well as one by one, so
   * a test can load all its nodes together and still start (join) them one at a time.
   */
  async load(config: NodeProcessConfig): Promise<LoadedNode> {
    const node = this.spawn({ ...config, held: true });
    await node.loaded;
    return {
      name: config.name,
      start: (rest = {}) => {
        node.child.stdin?.write(JSON.stringify(rest) + "\n");
        return node.ready();
      },
    };
  }

  private spawn(config: NodeProcessConfig): {
    child: ChildProcess;
    loaded: Promise<void>;
    ready(): Promise<StartedNode>;
  } {
    const child = spawn(process.execPath, ["--import", "tsx", NODE_SCRIPT, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) =>
        reject(new Error(`node ${config.name} exited with ${code} before it was ready: ${stderr}`)),
      ),
    );
    exited.catch(() => undefined);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const nextLine = async (): Promise<string> => {
      const next = await Promise.race([lines.next(), exited]);
      if (next.done === true) return exited;
      return next.value;
    };
    // The {"loaded":true} line: the node's own start-up may begin.
    const loaded = nextLine().then(() => undefined);
    const ready = async (): Promise<StartedNode> => {
      // The node's own start-up work (bind, listen, join) is bounded from here.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`node ${config.name} did not start in time once loaded: ${stderr}`)),
          START_TIMEOUT_MS,
        );
      });
      try {
        const line = await Promise.race([nextLine(), late]);
        const started = JSON.parse(line) as { id: string; peerPort: number; clientPort: number };
        return {
          name: config.name,
          ...started,
          clientAddress: `127.0.0.1:${started.clientPort}`,
          peerAddress: `127.0.0.1:${started.peerPort}`,
          process: child,
          stderr: () => stderr,
        };
      } finally {
        clearTimeout(timer);
      }
    };
    return { child, loaded, ready };
  }

  /** Stops one node (SIGTERM: a graceful leave) and waits for its exit. */
  async stop(node: StartedNode): Promise<void> {
    const child = node.process;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Kills every node still running; for afterAll. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.children].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, "exit");
        child.kill("SIGKILL");
        await exited;
      }),
    );
  }
}
