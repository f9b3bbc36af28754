// The stream round trips of the baseline and the floor they set under the daemon path: the report's table,
// and the closing note's figures for a missed Call latency and Send throughput; runs before the round trips
// were measured render neither.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BenchResult, UnaryFigure } from "../../bench/lib/result.js";
import { renderMarkdown } from "../../bench/report.js";

const RESULTS = join(import.meta.dirname, "../../bench/results");
const RUN = "2026-12-04.json"; // a run whose Call p50 and Send throughput targets were missed
const committed = JSON.parse(readFileSync(join(RESULTS, RUN), "utf8")) as BenchResult;

const roundTrip = (inFlight: number, p50Ms: number, serverUs: number, clientUs: number): UnaryFigure => ({
  payloadBytes: 100,
  inFlight,
  callsPerSecond: 5000,
  p50Ms,
  p99Ms: p50Ms * 3,
  p999Ms: p50Ms * 5,
  serverCpuSecondsPerCall: serverUs / 1e6,
  clientCpuSecondsPerCall: clientUs / 1e6,
});

const withRoundTrips = (roundTrips: UnaryFigure[] | undefined): BenchResult => ({
  ...committed,
  baseline: { ...committed.baseline, roundTrips },
});

describe("the stream round-trip floor in the benchmark report", () => {
  it("lists the round trips and sets the Call and Send figures against the legs' floor", () => {
    expect(readdirSync(RESULTS)).toContain(RUN);
    const markdown = renderMarkdown(
      withRoundTrips([roundTrip(1, 0.2, 80, 90), roundTrip(64, 2, 30, 30)]),
      "x.svg",
    );
    expect(markdown).toContain("Round trips on one long-lived bidi stream");
    expect(markdown).toContain("| 100 B | 1 | 5,000 | 0.20 / 0.60 / 1.00 | 80 | 90 |");
    expect(markdown).toContain("| 100 B | 64 | 5,000 | 2.00 / 6.00 / 10.00 | 30 | 30 |");

    const call = markdown.split("\n").find((l) => l.startsWith("- **Call latency**"));
    const x = committed.routed.find(
      (r) => r.kind === "call" && r.nodes === 8 && r.inFlight === 1 && r.leafSetSize === undefined,
    )!;
    // Six legs = three round trips of 0.20 ms; the rest of the measured p50 is the nodes' own work.
    expect(call).toContain("take 0.60 ms (six legs: three stream round trips of 0.20 ms p50 in the baseline");
    expect(call).toContain(`the other ${(x.p50Ms - 0.6).toFixed(2)} ms are the nodes'`);

    const send = markdown.split("\n").find((l) => l.startsWith("- **Throughput**"));
    // Three round trips of 60 µs = 180 µs per message; two cores: 2 / 180 µs = 11,111 a second.
    expect(committed.machine.cpus).toBe(2);
    expect(send).toContain("a round trip costs 60 µs of CPU");
    expect(send).toContain(
      "so 180 µs per message, and 2 cores spending nothing else would carry about 11,111",
    );
  });

  it("a run without round trips renders no table and no floor", () => {
    const markdown = renderMarkdown(withRoundTrips(undefined), "x.svg");
    expect(markdown).not.toContain("Round trips on one long-lived bidi stream");
    expect(markdown).not.toContain("stream round trips of");
    expect(markdown).not.toContain("spending nothing else");
  });
});
