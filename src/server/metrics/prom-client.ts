// prom-client's classes, each loaded from its own file rather than through the package's index. The index
// also loads its Pushgateway (http, https, zlib), its cluster aggregator (node:cluster, child_process, dgram)
// and its default metrics, whose CPU counter loads @opentelemetry/api (51 modules) for exemplars this daemon
// never records: 1-2 MiB of every daemon's RSS (idle A/B, 8 daemons) for code it never runs. The types are the
// package's own; the files are those of the version package-lock.json pins (the metrics tests load each).
import { createRequire } from "node:module";
import type * as prom from "prom-client";

const load = createRequire(import.meta.url);

export const Registry = load("prom-client/lib/registry") as typeof prom.Registry;
export const Counter = load("prom-client/lib/counter") as typeof prom.Counter;
export const Gauge = load("prom-client/lib/gauge") as typeof prom.Gauge;
export const Histogram = load("prom-client/lib/histogram") as typeof prom.Histogram;

export type Registry = prom.Registry;
export type Counter<T extends string = string> = prom.Counter<T>;
export type Gauge<T extends string = string> = prom.Gauge<T>;
export type Histogram<T extends string = string> = prom.Histogram<T>;
export type HistogramConfiguration<T extends string> = prom.HistogramConfiguration<T>;
