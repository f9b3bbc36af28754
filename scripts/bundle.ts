// Bundles the compiled program (dist/src/cli.js and everything it imports, dependencies included) into
// dist/wendy.mjs, which bin/wendy.js runs when it is current, and the chunks it imports, dist/wendy-chunks/.
// `npm run build` runs it after tsc:
//
//   node --import tsx scripts/bundle.ts [--dist DIR]     (DIR: the build's output, default ./dist)
//
// Why: a daemon's V8 heap keeps the source text of every module it loaded, comments and all (about 3 MiB of
// an idle daemon's 20 MiB of its own memory), and resolving and linking about 200 files is most of its start-up.
// One file without comments or indentation: an idle daemon 62.7 -> 60.6 MiB of RSS, 2 daemons ready in 0.8-1.0
// s instead of 1.8 s (bench/idle.ts, 2026-12-07). Names are kept (stack traces read as in the sources); the
// source map, dist/wendy.mjs.map, leads back to the TypeScript with `node --enable-source-maps`.
// What only some commands load (the client library for the client commands, the demo's cluster runner, each
// imported when its command runs) goes into chunks of its own, with the built-ins only they use
// (child_process, readline), so that `wendy start` does not hold them: an idle daemon 61.0-61.1 -> 60.3-60.4
// MiB of RSS, 18.4-18.5 -> 17.6-17.7 MiB of it anonymous (bench/idle.ts, 8 daemons, two pairs, 2026-12-07).
// The library (dist/src/index.js) is not bundled: applications import it with their own copies of its
// dependencies.
import { existsSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { build } from "esbuild";

/**
 * Packages left out of the bundle, loaded from node_modules when they are needed: a native addon, and those
 * only some runs use (pretty logs on a terminal; gRPC's .proto loader, for server reflection and ORCA).
 */
export const EXTERNAL_PACKAGES: readonly string[] = [
  "classic-level",
  "pino-pretty",
  "@grpc/proto-loader",
  "@grpc/reflection",
  "protobufjs",
];

/** Where the chunks go, beside wendy.mjs. */
export const CHUNKS_DIR = "wendy-chunks";

/**
 * The bundle of `dist`'s compiled program: `dist`/wendy.mjs, the chunks it imports (`dist`/wendy-chunks/), and
 * their source maps. Returns the path of wendy.mjs.
 */
export async function bundleProgram(dist: string): Promise<string> {
  const compiledDir = join(dist, "src");
  if (!existsSync(join(compiledDir, "cli.js"))) throw new Error(`no compiled program in ${compiledDir}`);
  const outfile = join(dist, "wendy.mjs");
  // Chunk names carry a hash of their contents: the last build's would stay beside this one's.
  rmSync(join(dist, CHUNKS_DIR), { recursive: true, force: true });
  await build({
    // What bin/wendy.js imports and calls, as it does dist/src/cli.js.
    entryPoints: [{ in: join(compiledDir, "cli.js"), out: "wendy" }],
    outdir: dist,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: `${CHUNKS_DIR}/[name]-[hash]`,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: "linked",
    external: [...EXTERNAL_PACKAGES],
    // CommonJS dependencies call require() for Node's built-ins; an ES module has none of its own.
    banner: {
      js: 'import { createRequire as wendyCreateRequire } from "node:module"; const require = wendyCreateRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
  return outfile;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { dist: { type: "string", default: "dist" } } });
  const outfile = await bundleProgram(resolve(values.dist));
  process.stdout.write(`bundled ${outfile}\n`);
}
