// A join as the embedder sees it: one promise, kept across rounds. The routing core makes one round through
// the seeds and reports `joinFailed` when every seed failed; this retries with a growing, jittered backoff
// (each round on a fresh machine, which the Cluster makes) until the retry window is spent, then fails the
// join with JoinError. It also times the join for the metrics.
import type { RandomSource } from "../../routing/types.js";
import type { Clock } from "../clock.js";
import { JoinError, NotReadyError } from "../errors.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import type { Logger } from "./options.js";

export interface JoinRoundsOptions {
  readonly clock: Clock;
  readonly random: RandomSource;
  /** How long rounds are retried before the join fails. */
  readonly retryWindowMs: number;
  readonly metrics?: WendyMetrics;
  readonly logger?: Logger;
}

/** The first retry waits about this long; each further one twice as long, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;

export class JoinRounds {
  private startedAt = 0;
  private seedList: string[] = [];
  private attempts = 0;
  private retry: NodeJS.Timeout | undefined;
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly options: JoinRoundsOptions) {}

  /** The seeds of the join under way. */
  get seeds(): readonly string[] {
    return this.seedList;
  }

  /** A join through `seeds` begins; resolves when `succeeded`, rejects when the rounds run out. */
  start(seeds: readonly string[]): Promise<void> {
    this.startedAt = this.options.clock.now();
    this.options.metrics?.joinStarted();
    this.seedList = [...seeds];
    this.attempts = 0;
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The node is ready: the join is complete. */
  succeeded(): void {
    this.options.metrics?.joinCompleted((this.options.clock.now() - this.startedAt) / 1000);
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /**
   * Every seed failed this round. Returns true when `nextRound` will run after a backoff; false when the
   * retry window is spent and the join has failed (the caller forgets the attempt).
   */
  roundFailed(reason: string, nextRound: () => void): boolean {
    const elapsed = this.options.clock.now() - this.startedAt;
    if (elapsed >= this.options.retryWindowMs) {
      this.options.metrics?.joinFailed();
      const error = new JoinError(
        `could not join through any seed within ${Math.round(elapsed)} ms: ${reason}`,
      );
      for (const w of this.waiters.splice(0)) w.reject(error);
      return false;
    }
    const backoff =
      Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** this.attempts++) *
      (0.5 + this.options.random.next() / 2);
    this.options.logger?.info({ reason, backoffMs: Math.round(backoff) }, "join round failed; retrying");
    this.retry = setTimeout(() => {
      this.retry = undefined;
      nextRound();
    }, backoff);
    return true;
  }

  /** The node stopped: no further round, and a join still waiting fails. */
  stopped(): void {
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.retry = undefined;
    for (const w of this.waiters.splice(0))
      w.reject(new NotReadyError("node stopped before the join completed"));
  }
}
