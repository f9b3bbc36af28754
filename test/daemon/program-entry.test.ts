// bin/wendy.js chooses what to run: the build when it holds every change to src/ (its bundle, dist/wendy.mjs,
// when that was made from the current compile, else the compiled dist/src/cli.js), the sources through tsx
// otherwise. Checked on a copy of the program in a scratch package whose "sources" and "build" each print
// which one ran, with modification times set explicitly (no dependence on the clock's granularity).
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/server/daemon/version.js";

const BUILT_AT = new Date("2026-01-02T00:00:00Z");
const BEFORE = new Date("2026-01-01T00:00:00Z");
const AFTER = new Date("2026-01-03T00:00:00Z");

describe("bin/wendy.js", () => {
  let root = "";
  const at = (...parts: string[]): string => join(root, ...parts);
  const setTime = (path: string, time: Date): void => utimesSync(path, time, time);
  const run = (): string => {
    const result = spawnSync(process.execPath, [at("bin", "wendy.js"), "--which"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    return result.stdout.trim();
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), "wendy-program-entry-"));
    mkdirSync(at("bin"));
    copyFileSync(join(packageRoot(), "bin", "wendy.js"), at("bin", "wendy.js"));
    symlinkSync(join(packageRoot(), "node_modules"), at("node_modules"));
    writeFileSync(at("package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(at("tsconfig.json"), "{}");
    mkdirSync(at("src", "server"), { recursive: true });
    mkdirSync(at("src", "sim"));
    writeFileSync(
      at("src", "cli.ts"),
      'export function main(argv: readonly string[]): void { console.log(`source ${argv.at(-1) ?? ""}`); }\n',
    );
    writeFileSync(at("src", "server", "node.ts"), "export {};\n");
    writeFileSync(at("src", "sim", "demo.ts"), "export {};\n");
    mkdirSync(at("dist", "src"), { recursive: true });
    writeFileSync(
      at("dist", "src", "cli.js"),
      'export function main(argv) { console.log(`compiled ${argv.at(-1) ?? ""}`); }\n',
    );
    for (const path of [
      at("tsconfig.json"),
      at("src", "cli.ts"),
      at("src", "server", "node.ts"),
      at("src", "server"),
      at("src", "sim", "demo.ts"),
      at("src", "sim"),
      at("src"),
    ])
      setTime(path, BEFORE);
    setTime(at("dist", "src", "cli.js"), BUILT_AT);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("runs the compiled program, with its arguments, when it was built after every source changed", () => {
    expect(run()).toBe("compiled --which");
  });

  it("runs the sources through tsx when a source file changed after the build", () => {
    setTime(at("src", "server", "node.ts"), AFTER);
    expect(run()).toBe("source --which");
  });

  it("runs the sources through tsx when a source file was deleted after the build", () => {
    rmSync(at("src", "server", "node.ts"));
    setTime(at("src", "server"), AFTER);
    expect(run()).toBe("source --which");
  });

  it("runs the sources through tsx when the compiler settings changed after the build", () => {
    setTime(at("tsconfig.json"), AFTER);
    expect(run()).toBe("source --which");
  });

  it("runs the sources through tsx when there is no build", () => {
    rmSync(at("dist"), { recursive: true });
    expect(run()).toBe("source --which");
  });

  describe("with a bundle (dist/wendy.mjs)", () => {
    beforeEach(() => {
      writeFileSync(
        at("dist", "wendy.mjs"),
        'export function main(argv) { console.log(`bundled ${argv.at(-1) ?? ""}`); }\n',
      );
      setTime(at("dist", "wendy.mjs"), BUILT_AT);
    });

    it("runs the bundle, with its arguments, when it was made from the current compile", () => {
      expect(run()).toBe("bundled --which");
    });

    it("runs the compiled program when it was compiled again after the bundle was made", () => {
      setTime(at("dist", "src", "cli.js"), AFTER);
      expect(run()).toBe("compiled --which");
    });

    it("runs the sources through tsx when a source file changed after the build", () => {
      setTime(at("src", "server", "node.ts"), AFTER);
      expect(run()).toBe("source --which");
    });
  });

  it("ignores the simulator, which the build leaves out", () => {
    setTime(at("src", "sim", "demo.ts"), AFTER);
    setTime(at("src", "sim"), AFTER);
    expect(run()).toBe("compiled --which");
  });
});
