// The `wendy` program's surface: its commands, a flag for every variable, and errors that name the flag.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli.js";
import { wendyBin } from "../../src/server/daemon/demo/daemon-process.js";
import { VARIABLES, flagName } from "../../src/server/daemon/variables.js";
import { wendyVersion } from "../../src/server/daemon/version.js";

describe("wendy", () => {
  const program = buildProgram();
  const command = (name: string) => program.commands.find((c) => c.name() === name)!;

  it("has start, demo and the client commands, each with help", () => {
    const names = program.commands.map((c) => c.name());
    for (const name of ["start", "demo", "send", "subscribe", "call", "lookup", "status"]) {
      expect(names).toContain(name);
      expect(command(name).helpInformation()).toContain(`Usage: wendy ${name}`);
    }
  });

  it("start has a flag for every WENDY_* variable of the contract, naming the variable", () => {
    const help = command("start").helpInformation();
    for (const spec of VARIABLES) {
      expect(help).toContain(`--${flagName(spec.env)}`);
      expect(help).toContain(spec.env);
    }
    expect(help).toContain("--config");
  });

  it("--version prints Wendy's version and the Node.js version it runs on", () => {
    const run = spawnSync(process.execPath, [wendyBin(), "--version"], { encoding: "utf8", timeout: 30_000 });
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(`${wendyVersion()} (Node.js ${process.version})`);
    expect(wendyVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("refuses a bad demo flag with exit 2, naming it", () => {
    const run = spawnSync(process.execPath, [wendyBin(), "demo", "--nodes", "2"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain("--nodes");
  });
});
