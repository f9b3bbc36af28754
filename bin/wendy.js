#!/usr/bin/env node
// The `wendy` program. In a source checkout (src/ present and tsx installed, e.g. after `npm ci`) it runs
// the TypeScript sources through tsx, so it never runs a stale build; elsewhere (the container image, an
// installed package) it runs the compiled dist/ from `npm run build`.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { URL, fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const source = `${root}src/cli.ts`;
const compiled = `${root}dist/src/cli.js`;

function tsxInstalled() {
  try {
    createRequire(import.meta.url).resolve("tsx/esm/api");
    return true;
  } catch {
    return false;
  }
}

let entry;
if (existsSync(source) && tsxInstalled()) {
  const { register } = await import("tsx/esm/api");
  register();
  entry = source;
} else if (existsSync(compiled)) {
  entry = compiled;
} else {
  process.stderr.write("wendy: no build found: run `npm ci` (source checkout) or `npm run build`\n");
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
