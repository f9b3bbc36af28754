// A background job of the key-value node (re-replication, anti-entropy, tombstone removal): a round every
// interval while the node is joined, never two rounds at once (a slow round makes the next tick a no-op
// rather than piling up calls to peers), and a timer that never keeps the process alive.
export class PeriodicRound<T> {
  private busy = false;
  private timer: NodeJS.Timeout | undefined;

  /** `skipped` is what a round returns when it does not run (one is running, or the node has not joined). */
  constructor(
    private readonly intervalMs: number,
    private readonly ready: () => boolean,
    private readonly body: () => Promise<T>,
    private readonly skipped: T,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.run(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round now (tests call it; the timer does the same). */
  async run(): Promise<T> {
    if (this.busy || !this.ready()) return this.skipped;
    this.busy = true;
    try {
      return await this.body();
    } finally {
      this.busy = false;
    }
  }
}
