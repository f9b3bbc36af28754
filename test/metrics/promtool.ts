// Runs `promtool check metrics` on exposition text. promtool comes from Debian's `prometheus` package
// (installed by .ci/run); when it is missing the caller must fail, not skip.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface PromtoolResult {
  readonly exitCode: number;
  /** promtool's findings, one per line (it writes them to stderr). */
  readonly problems: string[];
}

export function findPromtool(): string {
  const fromEnv = process.env.PROMTOOL;
  const candidates = fromEnv
    ? [fromEnv]
    : (process.env.PATH ?? "").split(delimiter).map((d) => join(d, "promtool"));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  throw new Error(
    "promtool not found (looked in $PROMTOOL or $PATH): install it with `apt-get install prometheus` " +
      "(Debian ships promtool in that package); the metrics lint test cannot run without it",
  );
}

export function promtoolCheckMetrics(exposition: string): Promise<PromtoolResult> {
  const promtool = findPromtool();
  return new Promise((resolve, reject) => {
    const child = spawn(promtool, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        exitCode: code ?? -1,
        problems: output
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l.length > 0),
      }),
    );
    child.stdin.end(exposition);
  });
}
