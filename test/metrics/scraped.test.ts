import { describe, expect, it } from "vitest";
import { Counter, Histogram, Registry } from "prom-client";
import { LabelledCounter, PlainCounter } from "../../src/server/metrics/scraped-counter.js";
import { ScrapedHistogram } from "../../src/server/metrics/scraped-histogram.js";
import { samplesOf, valueOf } from "./scrape.js";

const BUCKETS = [0, 0.5, 1, 2.5, 10];

/** What a sample says (prom-client adds fields such as exemplar: null that carry nothing here). */
function samples(
  list: readonly { labels: object; value: number; metricName?: string }[],
): { labels: object; value: number; metricName?: string }[] {
  return list.map(({ labels, value, metricName }) => ({ labels, value, metricName }));
}

describe("counters counted in plain numbers", () => {
  it("expose the same text as prom-client's Counter given the same increments", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const plain = new PlainCounter({ name: "t_plain_total", help: "Plain.", registry: ours });
    const plainRef = new Counter({ name: "t_plain_total", help: "Plain.", registers: [theirs] });
    const labelled = new LabelledCounter<"side" | "code">({
      name: "t_labelled_total",
      help: "Labelled.",
      labelNames: ["side", "code"],
      registry: ours,
    });
    const labelledRef = new Counter<"side" | "code">({
      name: "t_labelled_total",
      help: "Labelled.",
      labelNames: ["side", "code"],
      registers: [theirs],
    });
    labelled.inc({ side: "server", code: "OK" }, 0);
    labelledRef.inc({ side: "server", code: "OK" }, 0);
    for (const [side, code] of [
      ["client", "OK"],
      ["server", "UNAVAILABLE"],
      ["client", "OK"],
      ["client", "UNAVAILABLE"],
    ] as const) {
      plain.inc();
      plainRef.inc();
      labelled.inc({ side, code });
      labelledRef.inc({ side, code });
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await valueOf(ours, "t_labelled_total", { side: "client", code: "OK" })).toBe(2);
    expect(await valueOf(ours, "t_labelled_total", { side: "server", code: "OK" })).toBe(0);
  });

  it("report increments made after a scrape at the next scrape", async () => {
    const registry = new Registry();
    const plain = new PlainCounter({ name: "t_plain_total", help: "Plain.", registry });
    plain.inc();
    expect(await valueOf(registry, "t_plain_total")).toBe(1);
    plain.inc();
    plain.inc();
    expect(await valueOf(registry, "t_plain_total")).toBe(3);
  });
});

describe("histograms counted in plain arrays", () => {
  it("expose the same text and samples as prom-client's Histogram given the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const plain = new ScrapedHistogram({ name: "t_plain", help: "Plain.", buckets: BUCKETS, registry: ours });
    const plainRef = new Histogram({
      name: "t_plain",
      help: "Plain.",
      buckets: BUCKETS,
      registers: [theirs],
    });
    const byMethod = new ScrapedHistogram<"method">({
      name: "t_by_method_seconds",
      help: "By method.",
      buckets: BUCKETS,
      labelNames: ["method"],
      registry: ours,
    });
    const byMethodRef = new Histogram<"method">({
      name: "t_by_method_seconds",
      help: "By method.",
      buckets: BUCKETS,
      labelNames: ["method"],
      registers: [theirs],
    });
    // The unlabelled series named once, as WendyMetrics does at construction: exported at 0 from then on.
    const series = plain.at({});
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // On a bound, between bounds, below the first, above the last, negative.
    for (const value of [0, 0.5, 0.7, 2.5, 11, 1000, -3, 1]) {
      series.observe(value);
      plainRef.observe(value);
      const method = value > 1 ? "Join" : "Route";
      byMethod.observe({ method }, value / 10);
      byMethodRef.observe({ method }, value / 10);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    for (const name of ["t_plain", "t_by_method_seconds"])
      expect(samples(await samplesOf(ours, name))).toEqual(samples(await samplesOf(theirs, name)));
    expect(await valueOf(ours, "t_plain", { le: 1 }, "t_plain_bucket")).toBe(5);
    expect(await valueOf(ours, "t_plain", { le: "+Inf" }, "t_plain_bucket")).toBe(8);
  });

  it("refuse a value that is not a finite number, as prom-client does", () => {
    const histogram = new ScrapedHistogram({
      name: "t_plain",
      help: "Plain.",
      buckets: BUCKETS,
      registry: new Registry(),
    });
    expect(() => histogram.observe({}, Number.NaN)).toThrow(TypeError);
    expect(() => histogram.observe({}, Number.POSITIVE_INFINITY)).toThrow(TypeError);
  });
});
