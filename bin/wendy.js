#!/usr/bin/env node
// The `wendy` program. It runs the build of `npm run build` (what the container image and an installed package
// hold) unless this is a source checkout whose src/ changed after that build, or was never built: then it runs
// the TypeScript sources through tsx (installed by `npm ci`), so it never runs a stale build. Of the build it
// runs the bundle, dist/wendy.mjs (an idle daemon's memory and start-up, scripts/bundle.ts says why; it
// imports its chunks from dist/wendy-chunks/), when it was made from the current compile, else the compiled dist/src/cli.js. A build is preferred
// because tsx in the process costs the daemon about 50 MiB of resident memory (an idle daemon of 26ed892: 117
// MiB through tsx, 66 MiB compiled) and its start-up time.
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { URL, fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const sourceDir = join(root, "src");
const source = join(sourceDir, "cli.ts");
const compiled = join(root, "dist", "src", "cli.js");
const bundled = join(root, "dist", "wendy.mjs");
// What `npm run build` compiles besides src/ (tsconfig.build.json leaves the simulator out).
const BUILD_CONFIGS = ["tsconfig.json", "tsconfig.build.json"];
const NOT_BUILT = new Set([join(sourceDir, "sim")]);

function tsxInstalled() {
  try {
    createRequire(import.meta.url).resolve("tsx/esm/api");
    return true;
  } catch {
    return false;
  }
}

/** The newest modification time under `dir`, directories included (a deleted file changes its directory's). */
function newestUnder(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (NOT_BUILT.has(path)) continue;
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** The build holds every change to the sources (and to the compiler settings) made before it ran. */
function buildIsCurrent() {
  if (!existsSync(compiled)) return false;
  const configs = BUILD_CONFIGS.map((name) => join(root, name)).filter((path) => existsSync(path));
  const newestInput = Math.max(newestUnder(sourceDir), ...configs.map((path) => statSync(path).mtimeMs));
  return statSync(compiled).mtimeMs >= newestInput;
}

let entry;
if (existsSync(source) && tsxInstalled() && !buildIsCurrent()) {
  const { register } = await import("tsx/esm/api");
  register();
  entry = source;
} else if (
  existsSync(bundled) &&
  (!existsSync(compiled) || statSync(bundled).mtimeMs >= statSync(compiled).mtimeMs)
) {
  entry = bundled;
} else if (existsSync(compiled)) {
  entry = compiled;
} else {
  process.stderr.write("wendy: no build found: run `npm ci` (source checkout) or `npm run build`\n");
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
