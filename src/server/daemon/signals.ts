// SIGTERM and SIGINT: the first starts the graceful stop and exits 0 once it is done; a second one exits
// at once (an operator who presses Ctrl-C twice means it).
import { constants } from "node:os";

export interface SignalHandlingOptions {
  /** The graceful stop; the process exits 0 when it resolves. */
  readonly stop: () => Promise<void>;
  readonly log: {
    info(fields: object, message: string): void;
    warn(fields: object, message: string): void;
    error(fields: object, message: string): void;
  };
  readonly exit?: (code: number) => void;
}

const HANDLED: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/** Installs the handlers; returns a function that removes them. */
export function handleShutdownSignals(options: SignalHandlingOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      options.log.warn({ event: "second_signal", peer: null, signal }, "second signal: exiting at once");
      exit(128 + (constants.signals[signal] ?? 0));
      return;
    }
    stopping = true;
    options.log.info({ signal }, "signal received: leaving gracefully (send it again to exit at once)");
    options.stop().then(
      () => exit(0),
      (error: unknown) => {
        options.log.error({ event: "stop_failed", peer: null, err: String(error) }, "graceful stop failed");
        exit(1);
      },
    );
  };
  for (const signal of HANDLED) process.on(signal, onSignal);
  return () => {
    for (const signal of HANDLED) process.off(signal, onSignal);
  };
}
