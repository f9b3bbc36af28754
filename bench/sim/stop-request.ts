// Ending a long benchmark run early without losing it. A 100,000-node churn run measures for many hours; the
// first SIGINT or SIGTERM asks it to stop at its next checkpoint (the end of a virtual minute) and still
// write the row of what it measured, and a second one ends it at once. The simulator runs synchronously
// through a whole virtual minute, so a signal's handler runs only when the run yields to the event loop:
// checkpoint() does that, once per virtual minute.
import { setImmediate as nextTurn } from "node:timers/promises";

/** Where signals come from: the process, or an EventEmitter in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: () => void): unknown;
  off(signal: NodeJS.Signals, listener: () => void): unknown;
}

export interface StopRequestOptions {
  /** The first signal: the run stops at its next checkpoint. */
  readonly onRequest: (signal: NodeJS.Signals) => void;
  /** A second signal: the run should end now, writing nothing. */
  readonly onAbort: (signal: NodeJS.Signals) => void;
  readonly source?: SignalSource;
  readonly signals?: readonly NodeJS.Signals[];
}

export class StopRequest {
  private signal: NodeJS.Signals | undefined;
  private readonly listeners = new Map<NodeJS.Signals, () => void>();
  private readonly source: SignalSource;

  constructor(private readonly options: StopRequestOptions) {
    this.source = options.source ?? process;
    for (const signal of options.signals ?? ["SIGINT", "SIGTERM"]) {
      const listener = (): void => this.received(signal);
      this.listeners.set(signal, listener);
      this.source.on(signal, listener);
    }
  }

  /** The signal that asked the run to stop, if one did. */
  get requested(): NodeJS.Signals | undefined {
    return this.signal;
  }

  /** Lets a pending signal be handled, then says whether the run was asked to stop. */
  async checkpoint(): Promise<boolean> {
    await nextTurn();
    return this.signal !== undefined;
  }

  /** Gives the signals back to their default handling (once the row is written, or the run is over). */
  dispose(): void {
    for (const [signal, listener] of this.listeners) this.source.off(signal, listener);
    this.listeners.clear();
  }

  private received(signal: NodeJS.Signals): void {
    if (this.signal === undefined) {
      this.signal = signal;
      this.options.onRequest(signal);
    } else {
      this.options.onAbort(signal);
    }
  }
}
