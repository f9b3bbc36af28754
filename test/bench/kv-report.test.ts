// The key-value rows of `make bench`: their targets checked against the paired echo, and the report's table
// (with Redis beside it, or a line saying it was not measured); runs from before the rows render as before.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BenchResult, KvFigure, RedisFigure } from "../../bench/lib/result.js";
import { checkTargets } from "../../bench/lib/targets.js";
import { renderMarkdown } from "../../bench/report.js";

const RESULTS = join(import.meta.dirname, "../../bench/results");
const LAST_RUN = readdirSync(RESULTS)
  .filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f))
  .sort()
  .at(-1)!;
const committed = JSON.parse(readFileSync(join(RESULTS, LAST_RUN), "utf8")) as BenchResult;

const kvRow = (operation: "get" | "put", inFlight: number, p50Ms: number, echoP50Ms: number): KvFigure => ({
  operation,
  nodes: 8,
  keys: 1000,
  valueBytes: 100,
  inFlight,
  perSecond: 1234,
  p50Ms,
  p99Ms: p50Ms * 3,
  p999Ms: p50Ms * 5,
  cpuSecondsPerOp: 0.0005,
  failed: 0,
  pairedUnaryPerSecond: 2000,
  pairedUnaryP50Ms: echoP50Ms,
  throughputVsUnary: 1234 / 2000,
  p50VsUnary: p50Ms / echoP50Ms,
});
const redis: RedisFigure[] = [
  { operation: "GET", inFlight: 1, perSecond: 20000, p50Ms: 0.04, p99Ms: 0.1, p999Ms: 0.2 },
  { operation: "SET", inFlight: 1, perSecond: 19000, p50Ms: 0.05, p99Ms: 0.1, p999Ms: 0.2 },
];

function withKv(kv: KvFigure[], redisRows: RedisFigure[] | null): BenchResult {
  // The committed run's routed rows and settings; its membership figures left out (older runs lack fields).
  const { targets: _targets, ...figures } = {
    ...committed,
    clusters: [],
    joins: [],
    failures: [],
    kv,
    redis: redisRows,
  };
  return { ...figures, targets: checkTargets(figures) };
}

describe("the key-value rows of the benchmark report", () => {
  it("check Get p50 against 3x the paired echo p50 and Put p50 against 9x, at one in flight", () => {
    const r = withKv(
      [
        kvRow("get", 1, 1.2, 0.5),
        kvRow("put", 1, 4.6, 0.5),
        kvRow("get", 64, 40, 10),
        kvRow("put", 64, 90, 10),
      ],
      redis,
    );
    const kvTargets = r.targets.filter((t) => t.name.startsWith("key-value"));
    expect(kvTargets.map((t) => [t.name.slice(0, 28), t.measured, t.target, t.met])).toEqual([
      ["key-value Get (R = 2) p50, 1", "2.40x", "<= 3.00x", true],
      ["key-value Put (W = 2) p50, 1", "9.20x", "<= 9.00x", false],
    ]);
  });

  it("render every row with its ratios, Redis beside them, and a closing line for a missed target", () => {
    const md = renderMarkdown(withKv([kvRow("get", 1, 1.2, 0.5), kvRow("put", 1, 4.6, 0.5)], redis), "x.svg");
    expect(md).toContain("## Key-value store");
    expect(md).toContain(
      "| Get (R = 2) | 8 | 1 | 1,234 | 2,000 | 0.62x | 1.20 / 3.60 / 6.00 | 0.50 | 2.40x | 500 | 0 |",
    );
    expect(md).toContain(
      "| Put (W = 2) | 8 | 1 | 1,234 | 2,000 | 0.62x | 4.60 / 13.80 / 23.00 | 0.50 | 9.20x | 500 | 0 |",
    );
    expect(md).toContain("| Redis GET | 1 | 20,000 | 0.04 / 0.10 / 0.20 |");
    expect(md).toMatch(/- \*\*Key-value Put\*\* 9\.20x the echo's p50 \(goal <= 9\.00x\)/);
  });

  it("say Redis was not measured when no redis-server was installed, and render older runs without the section", () => {
    expect(renderMarkdown(withKv([kvRow("get", 1, 1, 0.5)], null), "x.svg")).toContain(
      "Redis: not measured (no redis-server on this machine",
    );
    const { kv: _kv, redis: _redis, ...older } = withKv([], null);
    const md = renderMarkdown(older, "x.svg");
    expect(md).not.toContain("Key-value store");
    expect(older.targets.some((t) => t.name.startsWith("key-value"))).toBe(false);
  });
});
