// Builds the daemon's compiled JavaScript (what the container image and an installed package run) from a
// committed snapshot (`git archive`), into a temporary directory. The shared checkout holds other people's
// uncommitted edits, so the benchmark measures a commit, not whatever the tree holds at that moment; and
// compiled code carries no tsx loader, whose memory and start-up time no deployment pays.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

export interface CompiledDaemon {
  /** The script to run as `node <entry> start`. */
  readonly entry: string;
  readonly commit: string;
}

/** Compiles src/ reachable from the daemon's CLI at `revision` (default HEAD). */
export function buildCompiledDaemon(revision = "HEAD"): CompiledDaemon {
  const out = mkdtempSync(join(tmpdir(), "wendy-bench-build-"));
  const commit = git(["rev-parse", "--short", revision]).trim();
  const archive = execFileSync(
    "git",
    ["-C", ROOT, "archive", "--format=tar", commit, "src", "proto", "package.json"],
    {
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  execFileSync("tar", ["-x", "-C", out], { input: archive });
  symlinkSync(join(ROOT, "node_modules"), join(out, "node_modules"));
  // The program's entry point: src/cli.ts, or src/server/daemon/cli.ts in commits before it moved there.
  const program = existsSync(join(out, "src", "cli.ts")) ? ["cli"] : ["server", "daemon", "cli"];
  const tsconfig = join(out, "tsconfig.bench.json");
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(ROOT, "tsconfig.json"),
      compilerOptions: { outDir: join(out, "dist"), rootDir: out, declaration: false, sourceMap: false },
      include: [],
      files: [join(out, "src", ...program) + ".ts"],
    }),
  );
  const cli = join(out, "dist", "src", ...program) + ".js";
  try {
    execFileSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", tsconfig], {
      stdio: "pipe",
    });
  } catch (error) {
    // Type errors still emit JavaScript; only a missing output is fatal.
    if (!existsSync(cli)) throw error;
  }
  const entry = join(out, "wendy.mjs");
  writeFileSync(entry, `const { main } = await import(${JSON.stringify(cli)});\nawait main(process.argv);\n`);
  return { entry, commit };
}

function git(args: readonly string[]): string {
  return execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" });
}
