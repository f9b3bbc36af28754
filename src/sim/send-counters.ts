// Measurement hooks on every send: messages per type (over the whole run and in a resettable window), sends
// that broke the addressing contract, and the process's peak memory.
import type { PeerMessageType } from "../routing/types.js";

export class SendCounters {
  /** Messages sent per type since the window was last reset (a measurement window). */
  private windowCounts = new Map<PeerMessageType, number>();
  private windowStartedAt = 0;
  private readonly totalCounts = new Map<PeerMessageType, number>();
  /** Sends whose address is not the one the contract asks for (local in the same region, else global). */
  private addressChoiceErrors = 0;
  private unknownAddressSends = 0;

  sent(type: PeerMessageType): void {
    this.windowCounts.set(type, (this.windowCounts.get(type) ?? 0) + 1);
    this.totalCounts.set(type, (this.totalCounts.get(type) ?? 0) + 1);
  }

  wrongAddressChoice(): void {
    this.addressChoiceErrors++;
  }

  unknownAddress(): void {
    this.unknownAddressSends++;
  }

  resetWindow(now: number): void {
    this.windowCounts = new Map();
    this.windowStartedAt = now;
  }

  window(now: number): {
    readonly counts: Partial<Record<PeerMessageType, number>>;
    readonly windowMs: number;
  } {
    return { counts: Object.fromEntries(this.windowCounts), windowMs: now - this.windowStartedAt };
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
