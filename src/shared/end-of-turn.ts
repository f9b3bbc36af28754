// Work coalesced until the end of the current turn of the event loop. Streams (the client's sends and acks,
// the node's send results, route hops and their acknowledgements) put everything produced in one turn into
// one stream message: fewer writes and frames than one each, without the latency and wake-ups of a timer.

/** Runs `flush` once at the end of this turn of the event loop (setImmediate), however often it is asked. */
export class EndOfTurnFlush {
  private immediate: NodeJS.Immediate | undefined;

  constructor(private readonly flush: () => void) {}

  /** Asks for a flush at the end of this turn; a flush already asked for covers this one too. */
  schedule(): void {
    this.immediate ??= setImmediate(() => {
      this.immediate = undefined;
      this.flush();
    });
  }

  /** Forgets the flush asked for (its owner flushed early, or closed). */
  cancel(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  /** True while a flush is asked for and has not run. */
  get scheduled(): boolean {
    return this.immediate !== undefined;
  }
}
