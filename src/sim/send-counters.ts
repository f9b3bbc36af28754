// Measurement hooks on every send: messages per type (over the whole run and in a resettable window), per
// type and what prompted the send (in the window), sends that broke the addressing contract, and the
// process's peak memory.
import type { PeerMessageType } from "../routing/types.js";

/**
 * The input a machine was handling when it sent a message: a message it received (by type), a tick, a send
 * of its own that failed, a broken connection, a round-trip time measured from an acknowledgement, or a
 * command (join, leave, an application send). Maintenance cost is read per cause to see where it comes from.
 */
export type SendCause =
  `${PeerMessageType} received` | "tick" | "send failed" | "connection lost" | "round trip" | "command";

/**
 * The cause `${type} received`, one string per type made once: built anew per arrival it was a concatenated
 * string, flattened and hashed again by the counters' map look-up on every send it prompted.
 */
const RECEIVED_CAUSES = new Map<PeerMessageType, SendCause>();

export function receivedCause(type: PeerMessageType): SendCause {
  let cause = RECEIVED_CAUSES.get(type);
  if (cause === undefined) {
    cause = `${type} received`;
    RECEIVED_CAUSES.set(type, cause);
  }
  return cause;
}

/** Messages sent in a window, by what prompted them and then by type. */
export type CountsByCause = Partial<Record<SendCause, Partial<Record<PeerMessageType, number>>>>;

export class SendCounters {
  /** Messages sent per type since the window was last reset (a measurement window). */
  private windowCounts = new Map<PeerMessageType, number>();
  private windowByCause = new Map<SendCause, Map<PeerMessageType, number>>();
  private windowStartedAt = 0;
  private readonly totalCounts = new Map<PeerMessageType, number>();
  /** Sends whose address is not the one the contract asks for (local in the same region, else global). */
  private addressChoiceErrors = 0;
  private unknownAddressSends = 0;

  sent(type: PeerMessageType, cause: SendCause): void {
    this.windowCounts.set(type, (this.windowCounts.get(type) ?? 0) + 1);
    this.totalCounts.set(type, (this.totalCounts.get(type) ?? 0) + 1);
    let byType = this.windowByCause.get(cause);
    if (byType === undefined) {
      byType = new Map();
      this.windowByCause.set(cause, byType);
    }
    byType.set(type, (byType.get(type) ?? 0) + 1);
  }

  wrongAddressChoice(): void {
    this.addressChoiceErrors++;
  }

  unknownAddress(): void {
    this.unknownAddressSends++;
  }

  resetWindow(now: number): void {
    this.windowCounts = new Map();
    this.windowByCause = new Map();
    this.windowStartedAt = now;
  }

  window(now: number): {
    readonly counts: Partial<Record<PeerMessageType, number>>;
    readonly byCause: CountsByCause;
    readonly windowMs: number;
  } {
    const byCause: CountsByCause = {};
    for (const [cause, byType] of this.windowByCause) byCause[cause] = Object.fromEntries(byType);
    return {
      counts: Object.fromEntries(this.windowCounts),
      byCause,
      windowMs: now - this.windowStartedAt,
    };
  }

  totals(): Partial<Record<PeerMessageType, number>> {
    return Object.fromEntries(this.totalCounts);
  }

  addressingErrors(): { readonly wrongChoice: number; readonly unknownAddress: number } {
    return { wrongChoice: this.addressChoiceErrors, unknownAddress: this.unknownAddressSends };
  }
}

/** Peak resident set and heap, sampled when asked (the simulator samples every few thousand events). */
export class PeakMemory {
  private rss = 0;
  private heapUsed = 0;

  sample(): void {
    const m = process.memoryUsage();
    if (m.rss > this.rss) this.rss = m.rss;
    if (m.heapUsed > this.heapUsed) this.heapUsed = m.heapUsed;
  }

  peak(): { readonly rssBytes: number; readonly heapUsedBytes: number } {
    return { rssBytes: this.rss, heapUsedBytes: this.heapUsed };
  }
}
