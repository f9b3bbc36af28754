// Summaries of measured samples: mean, percentiles and (for small integers such as hop counts) a histogram.

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { count: 0, mean: NaN, min: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return {
    count: sorted.length,
    mean: sum / sorted.length,
    min: sorted[0] as number,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted[sorted.length - 1] as number,
  };
}

/** Fraction of samples at each integer value, e.g. {"2": 0.31, "3": 0.6}. */
export function histogram(samples: readonly number[]): Record<string, number> {
  const counts = new Map<number, number>();
  for (const v of samples) counts.set(v, (counts.get(v) ?? 0) + 1);
  const out: Record<string, number> = {};
  for (const k of [...counts.keys()].sort((a, b) => a - b)) {
    out[String(k)] = (counts.get(k) as number) / samples.length;
  }
  return out;
}
