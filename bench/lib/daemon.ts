// One daemon child process for the benchmark: `node <entry> start` with WENDY_* variables, its JSON log
// lines watched for the start-up line, its exit awaited. The entry is bin/wendy.js (its build or tsx)
// or the compiled build, which is why this does not reuse the demo's DaemonProcess.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { DAEMON_NODE_FLAGS } from "../../src/server/daemon/node-flags.js";
import { MemoryCgroup } from "./memory-cgroup.js";

export interface LogLine {
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** What a daemon run under a memory limit did inside it (read once it exited). */
export interface LimitedMemory {
  readonly peakChargedBytes: number;
  readonly oomKills: number;
}

export class BenchDaemon {
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly cgroup: MemoryCgroup | undefined;
  private limited: LimitedMemory | undefined;
  private readonly lines: LogLine[] = [];
  private readonly waiters = new Set<(line: LogLine) => void>();
  private done = false;

  constructor(
    readonly name: string,
    entry: string,
    env: Readonly<Record<string, string>>,
    logFile: string,
    /** Run the daemon in a memory cgroup of its own with this limit, as a pod's container (Linux, root). */
    memoryLimitBytes?: number,
  ) {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("WENDY_")),
    );
    this.cgroup =
      memoryLimitBytes === undefined
        ? undefined
        : MemoryCgroup.create(`wendy-bench-${String(process.pid)}-${name}`, memoryLimitBytes);
    // As the container image starts it (src/server/daemon/node-flags.ts).
    const args = [...DAEMON_NODE_FLAGS, entry, "start"];
    const command = this.cgroup?.wrap(process.execPath, args) ?? { command: process.execPath, args };
    this.child = spawn(command.command, command.args, {
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log = createWriteStream(logFile);
    this.child.stderr!.pipe(log, { end: false });
    createInterface({ input: this.child.stdout! }).on("line", (text) => {
      log.write(text + "\n");
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      this.lines.push(line);
      for (const w of this.waiters) w(line);
    });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", () => {
        this.done = true;
        if (this.cgroup !== undefined) {
          this.limited = { peakChargedBytes: this.cgroup.peakBytes(), oomKills: this.cgroup.oomKills() };
          this.cgroup.remove();
        }
        log.end();
        for (const w of this.waiters) w({});
        resolve();
      }),
    );
  }

  /** Under a memory limit, what the daemon's cgroup saw; undefined without a limit or before it exited. */
  get limitedMemory(): LimitedMemory | undefined {
    return this.limited;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The JSON log lines read so far, oldest first. */
  get logLines(): readonly LogLine[] {
    return this.lines;
  }

  get running(): boolean {
    return !this.done;
  }

  /** The first log line (past or future) whose msg is `msg`; rejects on exit or timeout. */
  waitForMessage(msg: string, timeoutMs: number): Promise<LogLine> {
    const seen = this.lines.find((l) => l.msg === msg);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`${this.name}: no "${msg}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const finish = (outcome: LogLine | Error): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const waiter = (line: LogLine): void => {
        if (line.msg === msg) finish(line);
        else if (this.done) finish(new Error(`${this.name} exited before "${msg}" (log: see its log file)`));
      };
      this.waiters.add(waiter);
      if (this.done) waiter({});
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.done) this.child.kill(signal);
  }
}
