// The simulation report names the routing core behind every row: rows of one results file can come from
// runs at different commits (runs of the same day are merged).
import { describe, expect, it } from "vitest";
import type { IncompleteBuild } from "../../bench/sim/benchmark.js";
import { coresMeasured } from "../../bench/sim/report.js";
import { incompleteRow } from "./sim-rows.js";

const row = (nodes: number, proximityAware: boolean, commit: string, dirty = false): IncompleteBuild =>
  incompleteRow(nodes, proximityAware, { core: { commit, dirty } });

describe("sim report: routing core measured", () => {
  it("names the one commit when every row measured it", () => {
    expect(coresMeasured([row(1000, true, "abc1234"), row(1000, false, "abc1234")])).toBe("abc1234");
  });

  it("names each commit with the rows it produced, and flags uncommitted edits", () => {
    expect(
      coresMeasured([
        row(1000, true, "4753c59"),
        row(100_000, false, "e1baaaa"),
        row(100_000, true, "4753c59"),
        row(10_000, false, "e1baaaa", true),
      ]),
    ).toBe(
      "4753c59 (1,000 proximity, 100,000 proximity); e1baaaa (100,000 plain); " +
        "e1baaaa (with uncommitted edits) (10,000 plain)",
    );
  });
});
