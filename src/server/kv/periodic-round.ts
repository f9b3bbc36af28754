// A background job of the key-value node (re-replication, anti-entropy, tombstone removal): a round every
// interval while the node is joined, never two rounds at once (a slow round makes the next tick a no-op
// rather than piling up calls to peers), and a timer that never keeps the process alive. A job with nothing
// to do can sleep: no wake-ups until wake() (work arrived) or the sleep's end, whichever comes first.
export class PeriodicRound<T> {
  private busy = false;
  private started = false;
  private sleeping = false;
  private timer: NodeJS.Timeout | undefined;

  /** `skipped` is what a round returns when it does not run (one is running, or the node has not joined). */
  constructor(
    private readonly intervalMs: number,
    private readonly ready: () => boolean,
    private readonly body: () => Promise<T>,
    private readonly skipped: T,
  ) {}

  start(): void {
    this.started = true;
    if (!this.sleeping) this.tickEvery();
  }

  stop(): void {
    this.started = false;
    this.sleeping = false;
    this.clear();
  }

  /** No rounds for `ms` (unless wake() comes first); rounds every interval again after it. */
  sleep(ms: number): void {
    if (!this.started) return;
    this.clear();
    this.sleeping = true;
    this.timer = setTimeout(() => this.wake(), ms);
    this.timer.unref?.();
  }

  /** Ends a sleep: the next round comes an interval from now. No effect while not sleeping. */
  wake(): void {
    if (!this.sleeping) return;
    this.sleeping = false;
    this.clear();
    if (this.started) this.tickEvery();
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

  private tickEvery(): void {
    this.timer ??= setInterval(() => void this.run(), this.intervalMs);
    this.timer.unref?.();
  }

  private clear(): void {
    // clearInterval and clearTimeout clear either kind of timer in Node.js.
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
