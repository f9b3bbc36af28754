// Where the wendy package lives and its version, found from src/ and from the compiled dist/ alike, and the
// Node.js version it runs on (behaviour differs between release lines, e.g. TLS server names on Node 26).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

interface PackageJson {
  readonly name?: unknown;
  readonly version?: unknown;
}

function findPackage(): { root: string; json: PackageJson } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) {
      const json = JSON.parse(readFileSync(candidate, "utf8")) as PackageJson;
      if (json.name === "wendy") return { root: dir, json };
    }
    dir = dirname(dir);
  }
  return undefined;
}

/** The directory holding wendy's package.json (and bin/wendy.js). */
export function packageRoot(): string {
  const found = findPackage();
  if (found === undefined) throw new Error("cannot find the wendy package.json above " + import.meta.url);
  return found.root;
}

export function wendyVersion(): string {
  const version = findPackage()?.json.version;
  return typeof version === "string" ? version : "unknown";
}

/** What `wendy --version` prints: Wendy's version and the Node.js that runs it, e.g. "0.1.0 (Node.js v26.12.1)". */
export function versionLine(): string {
  return `${wendyVersion()} (Node.js ${process.version})`;
}
