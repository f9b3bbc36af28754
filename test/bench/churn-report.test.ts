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
