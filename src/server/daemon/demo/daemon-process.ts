// One `wendy start` child process: started with WENDY_* variables like the Helm chart does, its JSON log
// lines parsed (and kept in a file), its exit awaited. Used by `wendy demo` and by the daemon tests.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { packageRoot } from "../version.js";
import { DAEMON_NODE_FLAGS } from "../node-flags.js";

export interface LogLine {
  readonly msg?: string;
  readonly nodeId?: string;
  readonly level?: number;
  readonly [field: string]: unknown;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface DaemonProcessOptions {
  readonly name: string;
  /** WENDY_* variables (the parent's environment is inherited, without its WENDY_* variables). */
  readonly env: Readonly<Record<string, string>>;
  /** Extra command-line arguments after `start`. */
  readonly args?: readonly string[];
  /** File to copy the child's stdout and stderr to. */
  readonly logFile?: string;
}

/** bin/wendy.js of this package. */
export function wendyBin(): string {
  return join(packageRoot(), "bin", "wendy.js");
}

export class DaemonProcess {
  readonly name: string;
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  /** Stdout lines that were not JSON objects (there should be none: logs are JSON lines). */
  readonly nonJson: string[] = [];
  readonly exited: Promise<ExitStatus>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  private readonly log: WriteStream | undefined;
  private exitStatus: ExitStatus | undefined;

  constructor(options: DaemonProcessOptions) {
    this.name = options.name;
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("WENDY_")),
    );
    this.child = spawn(
      process.execPath,
      [...DAEMON_NODE_FLAGS, wendyBin(), "start", ...(options.args ?? [])],
      {
        env: { ...inherited, ...options.env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.log = options.logFile === undefined ? undefined : createWriteStream(options.logFile);
    const stdout = createInterface({ input: this.child.stdout! });
    stdout.on("line", (text) => this.onLine(text));
    const stdoutClosed = closed(stdout);
    const stderr = createInterface({ input: this.child.stderr! });
    const stderrClosed = closed(stderr);
    stderr.on("line", (text) => {
      this.stderr.push(text);
      this.log?.write(`[stderr] ${text}\n`);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    }).then(async (status) => {
      // Wait for the pipes to drain so that the last log lines are seen.
      await Promise.all([stdoutClosed, stderrClosed]);
      this.log?.end();
      return status as ExitStatus;
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The first log line (past or future) that matches; rejects if the process exits first or on timeout. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name}: no "${what}" within ${timeoutMs} ms${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      void this.exited.then((status) => {
        if (!this.waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(
          new Error(`${this.name} exited (${status.code ?? status.signal}) before "${what}"${this.tail()}`),
        );
      });
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  private onLine(text: string): void {
    this.log?.write(text + "\n");
    let line: LogLine;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== "object" || parsed === null) throw new TypeError("not an object");
      line = parsed as LogLine;
    } catch {
      this.nonJson.push(text);
      return;
    }
    this.lines.push(line);
    for (const w of this.waiters) {
      if (!w.match(line)) continue;
      this.waiters.delete(w);
      w.resolve(line);
    }
  }

  private tail(): string {
    const last = this.stderr.slice(-3).join(" | ");
    return last === "" ? "" : `; stderr: ${last}`;
  }
}

function closed(rl: ReturnType<typeof createInterface>): Promise<void> {
  return new Promise((resolve) => rl.once("close", () => resolve()));
}
