// Histograms counted in plain arrays and handed to prom-client only when scraped. prom-client's observe()
// builds a closure, validates and hashes the label object on every call (about 1 % of a routed message's CPU
// in bench/results/profile-latest.md); here an observation is a bucket search over a dozen bounds and three
// additions. A prom-client Histogram stays registered under the name, so HELP/TYPE lines and the registry's
// formatting are its own; only the values it reports come from these arrays.
import { Histogram, type HistogramConfiguration, type Registry } from "./prom-client.js";
import type { LabelSet } from "./scraped-counter.js";

export interface ScrapedHistogramOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly registry: Registry;
  /** Upper bounds, ascending (the +Inf bucket is implied). */
  readonly buckets: readonly number[];
  readonly labelNames?: readonly L[];
}

/** One series: how many observations fell in each bucket (not cumulative), their sum and their count. */
export class BucketCounts<L extends string> {
  /** counts[i]: observations at most bounds[i] and above bounds[i - 1]; above every bound only in `count`. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: LabelSet<L>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Counts one observation; a value that is not a finite number throws, as prom-client's observe() did. */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class ScrapedHistogram<L extends string = never> {
  private readonly series = new Map<string, BucketCounts<L>>();
  private readonly bounds: readonly number[];
  private readonly labelNames: readonly L[];

  constructor(options: ScrapedHistogramOptions<L>) {
    this.bounds = [...options.buckets];
    this.labelNames = options.labelNames ?? [];
    new HistogramExport<L>(
      {
        name: options.name,
        help: options.help,
        labelNames: [...this.labelNames],
        buckets: [...this.bounds],
        registers: [options.registry],
      },
      this.bounds,
      () => this.series.values(),
    );
  }

  /**
   * The series of `labels`, created empty (and exported from then on) if it was not yet. prom-client exports
   * an unlabelled histogram at 0 from the start: name its series ({}) at once to do the same.
   */
  at(labels: LabelSet<L>): BucketCounts<L> {
    let key = "";
    for (const name of this.labelNames) key += labels[name] + "\u0000";
    let found = this.series.get(key);
    if (found === undefined) {
      found = new BucketCounts({ ...labels }, this.bounds);
      this.series.set(key, found);
    }
    return found;
  }

  observe(labels: LabelSet<L>, value: number): void {
    this.at(labels).observe(value);
  }
}

type HistogramSnapshot<L extends string> = Awaited<ReturnType<Histogram<L>["get"]>>;
type Sample<L extends string> = HistogramSnapshot<L>["values"][number];

/**
 * The registered prom-client Histogram: its values are those of the series. The registry reads a histogram
 * through getForPromString() when it has one (prom-client 15) and get() otherwise, so both are answered here,
 * each sample carrying all its labels (le first, as prom-client orders them).
 */
class HistogramExport<L extends string> extends Histogram<L> {
  /** Never registered nor observed: the name, help, type and aggregator of a snapshot, as prom-client gives them. */
  private readonly header: Histogram<L>;

  constructor(
    config: HistogramConfiguration<L>,
    private readonly bounds: readonly number[],
    private readonly read: () => Iterable<BucketCounts<L>>,
  ) {
    super(config);
    this.header = new Histogram<L>({ ...config, registers: [] });
  }

  override async get(): Promise<HistogramSnapshot<L>> {
    const header = await this.header.get();
    const bucket = `${header.name}_bucket`;
    const values: Sample<L>[] = [];
    for (const s of this.read()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        const labels = { le: this.bounds[i]!, ...s.labels };
        values.push({ labels, value: cumulative, metricName: bucket });
      }
      const infinity = { le: "+Inf", ...s.labels };
      values.push({ labels: infinity, value: s.count, metricName: bucket });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${header.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${header.name}_count` });
    }
    return { ...header, values };
  }

  getForPromString(): Promise<HistogramSnapshot<L>> {
    return this.get();
  }
}
