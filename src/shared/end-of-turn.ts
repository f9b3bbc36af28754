// Work coalesced until the end of the current turn of the event loop. Streams (the client's sends and acks,
// the node's send results, route hops and their acknowledgements) put everything produced in one turn into
// one stream message: fewer writes and frames than one each, without the latency and wake-ups of a timer.
//
// A flush asked for "soon" runs once the current task's microtasks are done instead (a stream with nothing
// else in flight: nothing is likely to join it this turn). That matters more than it looks: a write made
// from a setImmediate callback reaches the socket only in the next turn of the loop (Node's HTTP/2 session
// sends its frames from a native immediate, which runs before the JavaScript ones), one made from a
// microtask of an I/O callback in this turn's check phase.

/** Runs `flush` once at the end of this turn of the event loop (setImmediate), however often it is asked. */
export class EndOfTurnFlush {
  private immediate: NodeJS.Immediate | undefined;
  /** The microtask asked for by schedule(true) that will run the flush; undefined when none. */
  private soon: object | undefined;

  constructor(private readonly flush: () => void) {}

  /**
   * Asks for a flush at the end of this turn, or with `soon` once the current microtasks are done; a flush
   * already asked for covers this one too (one asked for soon replaces one at the end of the turn).
   */
  schedule(soon = false): void {
    if (this.soon !== undefined) return;
    if (!soon) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.flush();
      });
      return;
    }
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    const token = {};
    this.soon = token;
    queueMicrotask(() => {
      // Cancelled (or cancelled and asked for again) meanwhile: that flush is not this one.
      if (this.soon !== token) return;
      this.soon = undefined;
      this.flush();
    });
  }

  /** Forgets the flush asked for (its owner flushed early, or closed). */
  cancel(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.soon = undefined;
  }

  /** True while a flush is asked for and has not run. */
  get scheduled(): boolean {
    return this.immediate !== undefined || this.soon !== undefined;
  }
}
