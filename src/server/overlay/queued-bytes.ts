// One byte budget for what the client port holds for its clients: the deliveries and events queued on every
// Subscribe, Receive and WatchEvents stream, and the payloads of sends received on every SendStream and not
// yet answered. Each stream has its own bound (maxStreamBufferBytes, maxSendStreamInFlight); this one caps
// their sum, so that many slow or stalled clients together cannot take the node past its memory limit.

export class QueuedBytes {
  private used = 0;

  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError("the queued-bytes budget must be >= 1");
  }

  /** Bytes held now, all streams together. */
  get bytes(): number {
    return this.used;
  }

  /** Reserves `n` bytes; false (nothing reserved) when that would pass the budget. */
  take(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }

  /** Gives back `n` bytes taken earlier. */
  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}
