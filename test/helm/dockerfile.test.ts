// No Docker engine runs here, so the Dockerfile is checked by structure: stages, what the final image holds,
// who it runs as, how it starts, and that its ports agree with the chart and docs/configuration.md.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CHART_DIR, REPO_ROOT } from "./helm.js";
import { DAEMON_NODE_FLAGS } from "../../src/server/daemon/node-flags.js";

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logicalLines = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logicalLines) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(" ") };
    if (instruction.keyword === "FROM") {
      const [image = "", as, name] = rest;
      stages.push({ from: image, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === "ARG") {
      const [argName = "", value = ""] = instruction.args.split("=");
      args.set(argName, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** Docker's .dockerignore rule, enough for an allow-list: the last matching pattern decides. */
function ignoredByDockerignore(patterns: readonly string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).replace(/\/$/, "");
    const matches = pattern === "*" || path === pattern || path.startsWith(pattern + "/");
    if (matches) ignored = !negated;
  }
  return ignored;
}

const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
const finalStage = dockerfile.stages.at(-1) as Stage;
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const resolveImage = (image: string) =>
  image.replace(/^\$\{?(\w+)\}?$/, (_all, name: string) => dockerfile.args.get(name) ?? image);

describe("Dockerfile", () => {
  it("builds in stages from node:26-slim, the active LTS and the newest line CI tests, copying what the build reads", () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) expect(resolveImage(stage.from)).toBe("node:26-slim");
    const pinned = execFileSync(join(REPO_ROOT, "scripts", "node-lines.sh"), ["list"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((version) => Number(version.split(".")[0]));
    expect(Math.max(...pinned)).toBe(26);
    const build = dockerfile.stages.find((s) => of(s, "RUN").some((r) => r.args.includes("npm run build")));
    expect(build).toBeDefined();
    expect(build).not.toBe(finalStage);
    expect(of(build as Stage, "RUN").some((r) => /npm ci(?!.*--omit=dev)/.test(r.args))).toBe(true);
    // `npm run build` compiles src/ and then bundles the program with scripts/bundle.ts.
    const copied = of(build as Stage, "COPY").map((c) => c.args.split(/\s+/)[0]);
    expect(copied).toEqual(expect.arrayContaining(["src", "proto", "bin", "scripts/bundle.ts"]));
  });

  it("ships dist/ and production dependencies only", () => {
    const copiesFrom = of(finalStage, "COPY")
      .map((c) => c.args.match(/--from=(\S+)\s+(\S+)/))
      .filter((m): m is RegExpMatchArray => m !== null)
      .map((m) => ({ stage: dockerfile.stages.find((s) => s.name === m[1]), source: m[2] ?? "" }));
    const dist = copiesFrom.find((c) => c.source.endsWith("/dist"));
    expect(of(dist?.stage as Stage, "RUN").some((r) => r.args.includes("npm run build"))).toBe(true);
    const modules = copiesFrom.filter((c) => c.source.endsWith("/node_modules"));
    expect(modules).toHaveLength(1);
    expect(of(modules[0]?.stage as Stage, "RUN").some((r) => r.args.includes("npm ci --omit=dev"))).toBe(
      true,
    );
  });

  it("runs as a numeric non-root user", () => {
    const user = of(finalStage, "USER").at(-1)?.args ?? "";
    const [uid = "", gid = ""] = user.split(":");
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid)).toBeGreaterThan(0);
  });

  it("starts the package's bin with `start`, under the daemon's Node.js flags", () => {
    const entrypoint: unknown = JSON.parse(of(finalStage, "ENTRYPOINT").at(-1)?.args ?? "null");
    const cmd: unknown = JSON.parse(of(finalStage, "CMD").at(-1)?.args ?? "null");
    expect(entrypoint).toEqual(["node", ...DAEMON_NODE_FLAGS, "/app/bin/wendy.js"]);
    expect(cmd).toEqual(["start"]);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      bin: { wendy: string };
    };
    expect(`/app/${pkg.bin.wendy}`).toBe("/app/bin/wendy.js");
    expect(of(finalStage, "WORKDIR").at(-1)?.args).toBe("/app");
    expect(of(finalStage, "COPY").some((c) => c.args === "bin ./bin")).toBe(true);
  });

  it("exposes the ports the chart uses and docs/configuration.md gives as defaults", () => {
    const exposed = of(finalStage, "EXPOSE").flatMap((e) => e.args.split(/\s+/).map(Number));
    const values = parse(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as {
      ports: { peer: number; client: number; metrics: number };
    };
    expect(exposed).toEqual([values.ports.peer, values.ports.client, values.ports.metrics]);
    const doc = readFileSync(join(REPO_ROOT, "docs/configuration.md"), "utf8");
    const docDefault = (name: string) => doc.match(new RegExp("\\| `" + name + "` \\| `([^`]*)` \\|"))?.[1];
    expect(["WENDY_PORT", "WENDY_CLIENT_PORT", "WENDY_METRICS_PORT"].map(docDefault)).toEqual(
      exposed.map(String),
    );
  });

  it("copies only what .dockerignore lets into the build context, which keeps out local clutter", () => {
    const patterns = readFileSync(join(REPO_ROOT, ".dockerignore"), "utf8")
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== "" && !line.startsWith("#"));
    const contextSources = dockerfile.stages
      .flatMap((s) => of(s, "COPY"))
      .filter((c) => !c.args.startsWith("--from"))
      .flatMap((c) => c.args.split(/\s+/).slice(0, -1));
    expect(contextSources.length).toBeGreaterThan(3);
    for (const source of contextSources) {
      expect(ignoredByDockerignore(patterns, source), source).toBe(false);
      // bin/ holds the daemon's entry point (package.json "bin"), written alongside the daemon.
      if (source !== "bin") expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
    }
    for (const clutter of ["node_modules", "dist", ".git", "test", "deploy", "coverage", "bench/results"]) {
      expect(ignoredByDockerignore(patterns, clutter), clutter).toBe(true);
    }
  });
});
