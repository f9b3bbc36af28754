// The daemon's log: JSON lines on stdout (one object per line, the node ID on every line), or a readable
// coloured format when stdout is a terminal (pino-pretty, in-process so no worker thread is involved; loaded
// only then, so that a daemon logging JSON does not hold it).
import { createRequire } from "node:module";
import { destination, pino, type Logger } from "pino";
import type PinoPretty from "pino-pretty";
import type { LogLevel } from "./config.js";

export type { Logger };

export interface LoggerOptions {
  readonly nodeId: string;
  readonly level: LogLevel;
  /** Human-readable output instead of JSON lines; defaults to whether stdout is a TTY. */
  readonly pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { nodeId: options.nodeId };
  const human = options.pretty ?? process.stdout.isTTY === true;
  if (human) {
    const pretty = createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
    return pino(
      { level: options.level, base },
      pretty({
        colorize: true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,nodeId",
        messageFormat: "[{nodeId}] {msg}",
        singleLine: true,
        sync: true,
      }),
    );
  }
  // Synchronous writes: a line logged just before exit is not lost.
  return pino({ level: options.level, base }, destination({ dest: 1, sync: true }));
}
