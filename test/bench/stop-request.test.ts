// bench/sim/stop-request.ts, and the churn benchmark stopped by a signal: a long run ended early keeps what it
// measured (its row is written), one stopped before measuring writes nothing.
import { spawn, spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { StopRequest } from "../../bench/sim/stop-request.js";

const REPO = resolve(import.meta.dirname, "../..");

describe("StopRequest", () => {
  it("the first signal asks for a stop seen at the next checkpoint, a second one aborts", async () => {
    const source = new EventEmitter();
    const requests: string[] = [];
    const aborts: string[] = [];
    const stop = new StopRequest({
      source,
      onRequest: (signal) => requests.push(signal),
      onAbort: (signal) => aborts.push(signal),
    });
    expect(await stop.checkpoint()).toBe(false);
    source.emit("SIGTERM");
    expect(requests).toEqual(["SIGTERM"]);
    expect(stop.requested).toBe("SIGTERM");
    expect(await stop.checkpoint()).toBe(true);
    expect(aborts).toEqual([]);
    source.emit("SIGINT");
    expect(aborts).toEqual(["SIGINT"]);
    expect(requests).toEqual(["SIGTERM"]);
  });

  it("dispose gives the signals back: none is heard after it", async () => {
    const source = new EventEmitter();
    const heard: string[] = [];
    const stop = new StopRequest({ source, onRequest: (s) => heard.push(s), onAbort: (s) => heard.push(s) });
    expect(source.listenerCount("SIGINT")).toBe(1);
    stop.dispose();
    expect(source.listenerCount("SIGINT")).toBe(0);
    expect(source.listenerCount("SIGTERM")).toBe(0);
    source.emit("SIGINT");
    expect(heard).toEqual([]);
    expect(await stop.checkpoint()).toBe(false);
  });
});

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

/** Runs a toy churn benchmark into `out` and sends SIGINT once a log line matches `when`. */
function churnInterrupted(out: string, args: readonly string[], when: RegExp): Promise<Ended> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "bench/sim/churn.ts", "--nodes", "30", "--traffic", "5", "--out", out, ...args],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    let sent = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!sent && when.test(output)) {
        sent = true;
        child.kill("SIGINT");
      }
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("error", fail);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, output });
    });
  });
}

describe("the churn benchmark stopped by SIGINT", () => {
  const dirs: string[] = [];
  const outDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "wendy-churn-stop-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("while measuring: exits 0 and writes its row with the virtual minutes measured so far", async () => {
    const out = outDir();
    const ended = await churnInterrupted(
      out,
      ["--median-minutes", "5", "--warmup-minutes", "1", "--minutes", "100000", "--window-minutes", "1"],
      /measured t=3 min/,
    );
    expect(ended.output).toContain("SIGINT: measuring stops here");
    expect(ended.code).toBe(0);
    const runs = (
      JSON.parse(readFileSync(join(out, "sim-churn.json"), "utf8")) as {
        runs: { nodes: number; measuredMinutes: number; totals: { sent: number } }[];
      }
    ).runs;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.nodes).toBe(30);
    expect(runs[0]!.measuredMinutes).toBeGreaterThanOrEqual(3);
    expect(runs[0]!.measuredMinutes).toBeLessThan(100000);
    expect(runs[0]!.totals.sent).toBeGreaterThan(0);
    expect(readFileSync(join(out, "sim-latest.md"), "utf8")).toContain("## Churn");
  }, 90_000);

  it("creates an --out directory that does not exist yet, and writes its row there", () => {
    const out = join(outDir(), "not", "yet");
    const ended = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "bench/sim/churn.ts",
        "--nodes",
        "30",
        "--traffic",
        "5",
        "--out",
        out,
        "--median-minutes",
        "5",
        "--warmup-minutes",
        "1",
        "--minutes",
        "1",
      ],
      { cwd: REPO, encoding: "utf8", timeout: 80_000 },
    );
    expect(ended.status).toBe(0);
    expect(existsSync(join(out, "sim-churn.json"))).toBe(true);
  }, 90_000);

  it("during the warm-up: exits 1 and writes nothing", async () => {
    const out = outDir();
    const ended = await churnInterrupted(
      out,
      ["--median-minutes", "5", "--warmup-minutes", "100000", "--minutes", "1"],
      /warm-up t=2 min/,
    );
    expect(ended.output).toContain("stopped during the warm-up: nothing measured, no row written");
    expect(ended.code).toBe(1);
    expect(existsSync(join(out, "sim-churn.json"))).toBe(false);
  }, 90_000);
});
