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
 * Bound on a node's own start-up work (bind, listen, join), counted from when its code is loaded. Loading
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

export class NodeProcesses {
  private readonly children = new Set<ChildProcess>();

  /** Starts a node and resolves once it is ready (joined, when a seed is given). */
  async start(config: NodeProcessConfig): Promise<StartedNode> {
    const child = spawn(process.execPath, ["--import", "tsx", NODE_SCRIPT, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const lines = createInterface({ input: child.stdout! });
    const readyLine = new Promise<string>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onLine = (line: string): void => {
        if (timer === undefined) {
          // The {"loaded":true} line: the node's own start-up begins, and its bound with it.
          timer = setTimeout(
            () => reject(new Error(`node ${config.name} did not start in time once loaded: ${stderr}`)),
            START_TIMEOUT_MS,
          );
          return;
        }
        clearTimeout(timer);
        lines.off("line", onLine);
        resolve(line);
      };
      lines.on("line", onLine);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${config.name} exited with ${code} before it was ready: ${stderr}`));
      });
    });
    const ready = JSON.parse(await readyLine) as { id: string; peerPort: number; clientPort: number };
    return {
      name: config.name,
      ...ready,
      clientAddress: `127.0.0.1:${ready.clientPort}`,
      peerAddress: `127.0.0.1:${ready.peerPort}`,
      process: child,
      stderr: () => stderr,
    };
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
