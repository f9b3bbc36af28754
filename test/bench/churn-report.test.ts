// The churn section of sim-latest.md lists control messages by what prompted them, for the rows that counted
// them; rows measured before causes were counted render as they did.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderChurnSection, type ChurnRun } from "../../bench/sim/churn-results.js";

const recorded = (
  JSON.parse(readFileSync(new URL("../../bench/results/sim-churn.json", import.meta.url), "utf8")) as {
    runs: ChurnRun[];
  }
).runs;

const base = recorded[0]!;

function withCauses(run: ChurnRun): ChurnRun {
  return {
    ...run,
    totals: {
      ...run.totals,
      controlByCause: [
        { cause: "tick", type: "heartbeat", perNodePerSecond: 0.247 },
        { cause: "probe received", type: "probeReply", perNodePerSecond: 0.152 },
        { cause: "row received", type: "probe", perNodePerSecond: 0.0441 },
        { cause: "leave received", type: "rowRequest", perNodePerSecond: 0.003 },
        { cause: "send failed", type: "leafSet", perNodePerSecond: 0.002 },
      ],
    },
  };
}

describe("churn report: control by cause", () => {
  it("lists each cause and kind at or above the floor, most first, and sums the rest as other", () => {
    const section = renderChurnSection([withCauses(base)]);
    expect(section).toContain("Control messages by what prompted them");
    expect(section).toContain(
      `${base.label}: heartbeat on tick 0.247, probeReply on probe received 0.152, probe on row received 0.044, other 0.005`,
    );
  });

  it("leaves the list out when no row counted causes", () => {
    const { controlByCause: _dropped, ...totals } = base.totals;
    const section = renderChurnSection([{ ...base, totals }]);
    expect(section).not.toContain("what prompted them");
    expect(section).toContain("Control messages per node per second by kind");
  });
});

describe("churn report: leaf-set scan", () => {
  const pair = (pairs: number, over10s: number, over15s: number, maxMs: number) => ({
    pairs,
    over10s,
    over15s,
    maxMs,
    worst: { holder: "6890c6", node: "6aae54", fromMs: 1_106_600 },
  });

  it("renders a row per scanned run: pairs, over 10 s, over 15 s and the longest, per kind and for holes", () => {
    const scanned: ChurnRun = {
      ...base,
      leafSetScan: {
        samples: 1200,
        ghosts: {
          host: pair(42_718, 3, 1, 20_600),
          process: pair(18_025, 0, 0, 1_900),
          left: pair(4461, 1, 1, 21_100),
        },
        holes: pair(119_065, 235, 27, 21_000),
        openGhosts: 0,
        openHoles: 347,
      },
    };
    const section = renderChurnSection([base, scanned]);
    expect(section).toContain("Leaf sets scanned once per virtual second");
    expect(section).toContain(
      "| 42718 / 3 / 1 / 20.6 s | 18025 / 0 / 0 / 1.9 s | 4461 / 1 / 1 / 21.1 s | 119065 / 235 / 27 / 21.0 s |",
    );
    expect(section.match(/\| 42718 \/ 3/g)).toHaveLength(1);
  });

  it("leaves the table out when no row was scanned", () => {
    expect(renderChurnSection([base])).not.toContain("Leaf sets scanned");
  });
});
