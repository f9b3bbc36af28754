// Builds the daemon's program (what the container image and an installed package run: the compiled
// JavaScript, bundled by the commit's scripts/bundle.ts where it has one) from a committed
// snapshot (`git archive`), into a temporary directory. The shared checkout holds other people's
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
  /** Whether `entry` runs the bundled program (else the compiled files, one module each). */
  readonly bundled: boolean;
  readonly commit: string;
  /** The compiled package root module (src/index.ts as JavaScript): the library API, for embedded runs. */
  readonly library: string;
}

/**
 * Compiles src/ reachable from the daemon's CLI at `revision` (default HEAD), and bundles it as the commit's
 * `npm run build` does. `bundle: false` keeps one module per file: the profiles attribute time by file.
 */
export function buildCompiledDaemon(revision = "HEAD", options: { bundle?: boolean } = {}): CompiledDaemon {
  const out = mkdtempSync(join(tmpdir(), "wendy-bench-build-"));
  const commit = git(["rev-parse", "--short", revision]).trim();
  const bundles = (options.bundle ?? true) && hasFile(commit, BUNDLER);
  const archive = execFileSync(
    "git",
    [
      "-C",
      ROOT,
      "archive",
      "--format=tar",
      commit,
      "src",
      "proto",
      "package.json",
      ...(bundles ? [BUNDLER] : []),
    ],
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
      files: [join(out, "src", ...program) + ".ts", join(out, "src", "index.ts")],
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
  let run = cli;
  if (bundles) {
    execFileSync(process.execPath, ["--import", "tsx", join(out, BUNDLER), "--dist", join(out, "dist")], {
      cwd: out,
      stdio: "pipe",
    });
    run = join(out, "dist", "wendy.mjs");
  }
  const entry = join(out, "wendy.mjs");
  writeFileSync(entry, `const { main } = await import(${JSON.stringify(run)});\nawait main(process.argv);\n`);
  return { entry, bundled: bundles, commit, library: join(out, "dist", "src", "index.js") };
}

/** The program's bundler, in commits that ship a bundle. */
const BUNDLER = "scripts/bundle.ts";

function hasFile(commit: string, path: string): boolean {
  try {
    execFileSync("git", ["-C", ROOT, "cat-file", "-e", `${commit}:${path}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function git(args: readonly string[]): string {
  return execFileSync("git", ["-C", ROOT, ...args], { encoding: "utf8" });
}
