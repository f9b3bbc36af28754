// The day's simulation results file: rows merge by key, and runs going on at the same time lose nothing.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { addResult, rowKey, type SimResultsDoc } from "../../bench/sim/results-file.js";
import { incompleteRow } from "./sim-rows.js";

const ROOT = join(import.meta.dirname, "../..");
/** Rows each of two concurrent writers adds. */
const ROWS_EACH = 150;
const HEADER = { date: "2026-01-01", machine: { cpus: 2, cpuModel: "test", node: "v20" } };
const dir = mkdtempSync(join(tmpdir(), "wendy-results-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const row = incompleteRow;

const read = (path: string): SimResultsDoc => JSON.parse(readFileSync(path, "utf8")) as SimResultsDoc;

describe("sim results file", () => {
  it("merges rows by size, mode, seeds and topology, a newer row replacing its older twin", () => {
    const path = join(dir, "merge.json");
    addResult(path, row(10_000, true), HEADER);
    addResult(path, row(1_000, false), HEADER);
    addResult(path, row(1_000, true, { topology: "plane" }), HEADER);
    let rendered: SimResultsDoc | undefined;
    addResult(path, row(1_000, true), HEADER, (doc) => (rendered = doc));
    addResult(path, row(10_000, true, { events: 2 }), HEADER);
    const doc = read(path);
    expect(doc.results.map(rowKey)).toEqual([
      "1000/true/nearest/regions",
      "1000/false/nearest/regions",
      "10000/true/nearest/regions",
      "1000/true/nearest/plane",
    ]);
    expect(doc.results.find((r) => r.nodes === 10_000)?.events).toBe(2);
    expect(rendered?.results).toHaveLength(4);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it("takes over a lock left behind by a run that died", () => {
    const path = join(dir, "stale.json");
    writeFileSync(`${path}.lock`, "");
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(`${path}.lock`, old, old);
    addResult(path, row(1_000, true), HEADER);
    expect(read(path).results).toHaveLength(1);
  });

  it("loses no row when two runs add rows at the same time", async () => {
    const path = join(dir, "concurrent.json");
    const script = join(dir, "writer.mts");
    writeFileSync(
      script,
      `import { addResult } from ${JSON.stringify(join(ROOT, "bench/sim/results-file.ts"))};\n` +
        `const [path, first, startAt] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];\n` +
        // Both writers start their loops at the same moment, whenever each process came up.
        `while (Date.now() < startAt) await new Promise((go) => setTimeout(go, 5));\n` +
        `for (let i = 0; i < ROWS; i++) {\n`.replace("ROWS", String(ROWS_EACH)) +
        `  const nodes = first + i;\n` +
        `  addResult(path, { complete: false, nodes, proximityAware: true, seedSelection: "nearest", seed: 1,\n` +
        `    core: { commit: "t", dirty: false }, createdNodes: nodes, readyNodes: nodes, buildWallMs: 1,\n` +
        `    buildVirtualMs: 1, events: 1, messagesByType: {}, peakRssMiB: 1, peakHeapUsedMiB: 1 },\n` +
        `    { date: "2026-01-01", machine: { cpus: 2, cpuModel: "t", node: "v20" } });\n` +
        `}\n`,
    );
    const startAt = String(Date.now() + 5_000);
    const run = (first: number): Promise<unknown> =>
      promisify(execFile)(process.execPath, ["--import", "tsx", script, path, String(first), startAt], {
        cwd: ROOT,
      });
    await Promise.all([run(1_000), run(2_000)]);
    const nodes = read(path).results.map((r) => r.nodes);
    expect(nodes).toHaveLength(2 * ROWS_EACH);
    expect(new Set(nodes).size).toBe(2 * ROWS_EACH);
  }, 60_000);
});
