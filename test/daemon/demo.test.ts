// `wendy demo` end to end: real child daemons, routing checked, a crash healed, everything stopped.
import { spawnSync } from "node:child_process";
import { expect, it } from "vitest";
import { wendyBin } from "../../src/server/daemon/demo/daemon-process.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

it("runs to completion with exit 0 and leaves no daemon behind", () => {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WENDY_")));
  const run = spawnSync(process.execPath, [wendyBin(), "demo", "--nodes", "4", "--messages", "4"], {
    env: inherited,
    encoding: "utf8",
    timeout: 90_000,
  });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  const out = run.stdout;
  expect(out.match(/ ok$/gm)).toHaveLength(8);
  expect(out).not.toContain("WRONG");
  expect(out).toContain("leaf sets healed");
  expect(out).toContain("exit codes: ");
  expect(out).toContain("Demo finished");
  const pids = [...out.matchAll(/ pid (\d+) /g)].map((m) => Number(m[1]));
  expect(pids).toHaveLength(4);
  expect(pids.filter(alive)).toEqual([]);
});
