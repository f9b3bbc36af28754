// Counters counted in plain numbers and handed to prom-client only when scraped. prom-client's own inc() hashes
// and validates the label object on every call, which showed as a few per cent of a routed message's CPU; here
// a message costs an addition (and, with labels, one Map lookup), and the collect() callback of a prom-client
// Counter copies every series in at scrape time, so names, labels, HELP and TYPE lines stay prom-client's.
import { Counter, type Registry } from "./prom-client.js";

/** Label values by label name. */
export type LabelSet<L extends string> = Readonly<Record<L, string>>;

export interface ScrapedCounterOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
  readonly labelNames: readonly L[];
}

/** A counter without labels: one number. */
export class PlainCounter {
  private value = 0;

  constructor(options: Omit<ScrapedCounterOptions<never>, "labelNames">) {
    const read = (): number => this.value;
    new Counter({
      name: options.name,
      help: options.help,
      registers: [options.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  inc(): void {
    this.value++;
  }
}

interface Series<L extends string> {
  readonly labels: LabelSet<L>;
  value: number;
}

/**
 * A counter with labels: one number per label set, kept in the order the sets were first counted (the order
 * prom-client exported them in). Label values must already be bounded (whitelisted) by the caller.
 */
export class LabelledCounter<L extends string> {
  private readonly series = new Map<string, Series<L>>();
  private readonly labelNames: readonly L[];

  constructor(options: ScrapedCounterOptions<L>) {
    this.labelNames = options.labelNames;
    const series = this.series;
    new Counter<L>({
      name: options.name,
      help: options.help,
      labelNames: [...options.labelNames],
      registers: [options.registry],
      collect() {
        this.reset();
        for (const s of series.values()) this.inc(s.labels, s.value);
      },
    });
  }

  /** Adds `by` (default 1; 0 exports the series at 0 from now on) to the series of `labels`. */
  inc(labels: LabelSet<L>, by = 1): void {
    let key = "";
    for (const name of this.labelNames) key += labels[name] + "\u0000";
    const found = this.series.get(key);
    if (found !== undefined) {
      found.value += by;
      return;
    }
    this.series.set(key, { labels: { ...labels }, value: by });
  }
}
