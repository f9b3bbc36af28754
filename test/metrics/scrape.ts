// Test helpers: read metric values the way a scrape would (collect() callbacks run).
import type { Registry } from "prom-client";

export type Labels = Readonly<Record<string, string | number>>;

interface Sample {
  readonly value: number;
  readonly labels: Partial<Labels>;
  readonly metricName?: string;
}

/** Every sample of `name` (for histograms: the _bucket/_sum/_count samples) at one scrape. */
export async function samplesOf(registry: Registry, name: string): Promise<Sample[]> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`metric ${name} is not registered`);
  const snapshot = await metric.get();
  return snapshot.values;
}

/** The value of the one sample of `name` (or `sampleName` for histograms) whose labels include `labels`. */
export async function valueOf(
  registry: Registry,
  name: string,
  labels: Labels = {},
  sampleName: string = name,
): Promise<number | undefined> {
  const matches = (await samplesOf(registry, name)).filter(
    (s) =>
      (s.metricName ?? name) === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (matches.length > 1)
    throw new Error(`${matches.length} samples of ${sampleName} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}
