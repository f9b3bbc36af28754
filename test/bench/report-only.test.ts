// `bench/run.ts --report-only`: the last run's figures re-rendered with the simulation results that are on
// disk now, without measuring anything.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BenchResult } from "../../bench/lib/result.js";

const ROOT = join(import.meta.dirname, "../..");
const RESULTS = join(ROOT, "bench/results");
/** The newest committed run (bench/results/<date>.json). */
const LAST_RUN = readdirSync(RESULTS)
  .filter((f) => /^\d{4}-\d{2}-\d{2}\.json$/.test(f))
  .sort()
  .at(-1)!;

describe("bench/run.ts --report-only", () => {
  const out = mkdtempSync(join(tmpdir(), "wendy-report-only-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("keeps the last run's measurements and takes the simulation section from the current sim results", () => {
    const committed = JSON.parse(readFileSync(join(RESULTS, LAST_RUN), "utf8")) as BenchResult;
    copyFileSync(join(RESULTS, LAST_RUN), join(out, LAST_RUN));
    // A simulator result that no run has seen yet: one complete 123-node overlay.
    writeFileSync(
      join(out, "sim-latest.json"),
      JSON.stringify({
        results: [
          {
            nodes: 123,
            proximityAware: true,
            complete: true,
            routes: { hops: { mean: 1.75, p99: 3 }, stretch: { mean: 1.25 } },
            state: { total: { mean: 42 } },
            maintenancePerNodePerSecond: 0.5,
          },
          // Measured on the paper's plane: sim-latest.md shows it, this report does not.
          {
            nodes: 456,
            proximityAware: true,
            topology: "plane",
            complete: true,
            routes: { hops: { mean: 1.5, p99: 2 }, stretch: { mean: 1.2 } },
            state: { total: { mean: 40 } },
            maintenancePerNodePerSecond: 0.5,
          },
        ],
      }),
    );
    execFileSync(
      process.execPath,
      ["--import", "tsx", join(ROOT, "bench/run.ts"), "--report-only", "--out", out],
      {
        cwd: ROOT,
        stdio: "pipe",
      },
    );
    const rerendered = JSON.parse(readFileSync(join(out, LAST_RUN), "utf8")) as BenchResult;
    expect(rerendered.targets).toEqual(committed.targets);
    expect(rerendered.routed).toEqual(committed.routed);
    expect(rerendered.sim?.rows).toHaveLength(1);
    const markdown = readFileSync(join(out, "latest.md"), "utf8");
    expect(markdown).toContain("| 123 | yes | 1.75 | 3 |");
    expect(markdown).not.toContain("| 456 |");
    expect(readFileSync(join(out, "latest.svg"), "utf8")).toMatch(/^<svg/);
  });

  it("splits the idle RSS into the Node.js executable's pages and anonymous memory when the run measured them", () => {
    const split = mkdtempSync(join(tmpdir(), "wendy-report-split-"));
    try {
      const run = JSON.parse(readFileSync(join(RESULTS, LAST_RUN), "utf8")) as BenchResult;
      const MIB = 2 ** 20;
      const clusters = run.clusters.map((c) =>
        c.nodes === 8
          ? { ...c, idleRssBytes: 64 * MIB, idleExecutableBytes: 39.5 * MIB, idleAnonymousBytes: 18.25 * MIB }
          : c,
      );
      writeFileSync(join(split, LAST_RUN), JSON.stringify({ ...run, clusters }));
      execFileSync(
        process.execPath,
        ["--import", "tsx", join(ROOT, "bench/run.ts"), "--report-only", "--out", split],
        { cwd: ROOT, stdio: "pipe" },
      );
      const markdown = readFileSync(join(split, "latest.md"), "utf8");
      expect(markdown).toContain("| 8 | 64.0 (39.5 / 18.3) |");
      expect(markdown).toMatch(/\*\*Idle memory\*\*.*anonymous memory .*: here 39\.5 MiB and 18\.3 MiB\./);
    } finally {
      rmSync(split, { recursive: true, force: true });
    }
  });
});
