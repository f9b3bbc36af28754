// The package as a user gets it: `npm pack` (which builds dist/), the tarball installed into an empty project
// with production dependencies only, the README's embedding example type-checked against the installed
// declarations and run, the declared entry points resolved, and the installed `wendy` program run.
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { LOG_READY } from "../../src/server/daemon/daemon.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { askReflection, listServices } from "../helpers/reflection.js";
import { REPO_ROOT } from "../helpers/node-processes.js";
import { testSecret } from "../helpers/secrets.js";

const execFileAsync = promisify(execFile);
const TSC = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
/** Kept between runs (outside the checkout and ~/.npm) so that installing the tarball's dependencies is fast. */
const NPM_CACHE = join(tmpdir(), "wendy-packed-test-npm-cache");
const SECRET = testSecret("packed");

interface PackedFile {
  readonly path: string;
  readonly size: number;
}
interface PackResult {
  readonly filename: string;
  readonly size: number;
  readonly files: readonly PackedFile[];
}

let work: string;
let project: string;
let packed: PackResult;

/** The environment for npm and the installed program: no settings inherited from a parent npm or a test. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(npm_|WENDY_|NODE_OPTIONS$|VITEST)/i.test(k)),
  );
  return { ...env, npm_config_update_notifier: "false", npm_config_fund: "false", ...extra };
}

async function run(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = cleanEnv(),
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(command, [...args], { cwd, env, timeout: 180_000, maxBuffer: 64 << 20 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`,
      { cause: error },
    );
  }
}

/** The ```ts block of the README's embedding section, exactly as written there. */
function readmeEmbeddingExample(): string {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const section = readme.split(/^## /m).find((s) => s.startsWith("Embedding Wendy in a TypeScript service"));
  const code = section?.match(/```ts\n([\s\S]*?)```/)?.[1];
  if (code === undefined) throw new Error("README.md has no ```ts block under its embedding section");
  return code;
}

/** The installed package's `wendy` program, as npm linked it. */
function installedWendy(): string {
  return join(project, "node_modules", ".bin", "wendy");
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "wendy-packed-"));
  // `npm pack` runs prepack, which cleans and builds dist/ in the checkout.
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], REPO_ROOT);
  // Lifecycle scripts may print before the JSON array.
  const results = JSON.parse(stdout.slice(stdout.indexOf("\n[") + 1)) as PackResult[];
  packed = results[0] as PackResult;

  project = join(work, "project");
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "wendy-user", version: "1.0.0", private: true, type: "module" }),
  );
  await run(
    "npm",
    [
      "install",
      "--omit=dev",
      "--no-audit",
      "--prefer-offline",
      "--cache",
      NPM_CACHE,
      join(work, packed.filename),
    ],
    project,
  );
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("holds only dist/src (JavaScript, declarations, source maps), the bundled program, bin, proto, README, LICENSE and package.json", () => {
    const paths = packed.files.map((f) => f.path);
    const allowed =
      /^(dist\/src\/.+\.(js|d\.ts|js\.map)|dist\/wendy\.mjs(\.map)?|dist\/wendy-chunks\/[\w-]+\.mjs(\.map)?|bin\/wendy\.js|proto\/.+\.proto|README\.md|LICENSE|package\.json)$/;
    expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
    for (const needed of [
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/index.js.map",
      "dist/src/cli.js",
      "dist/wendy.mjs",
      "dist/wendy.mjs.map",
      "bin/wendy.js",
      "proto/wendy/v1/overlay.proto",
      "proto/wendy/v1/peer.proto",
      "proto/grpc/health/v1/health.proto",
      "LICENSE",
      "README.md",
    ]) {
      expect(paths).toContain(needed);
    }
  });

  it("contains every file package.json's exports, main, types and bin name", () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      main: string;
      types: string;
      bin: Record<string, string>;
      exports: Record<string, string | Record<string, string>>;
    };
    const targets = [
      manifest.main,
      manifest.types,
      ...Object.values(manifest.bin),
      ...Object.values(manifest.exports).flatMap((t) => (typeof t === "string" ? [t] : Object.values(t))),
    ].map((t) => t.replace(/^\.\//, ""));
    const paths = new Set(packed.files.map((f) => f.path));
    expect(targets.filter((t) => !paths.has(t))).toEqual([]);
    expect(Object.keys(manifest.exports)).toEqual(expect.arrayContaining([".", "./client", "./routing"]));
  });

  it("imports, in its compiled JavaScript, no package but Node's built-ins and its production dependencies", () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const installed = join(project, "node_modules", "wendy");
    const imported = new Set<string>();
    // dist/ only: bin/wendy.js loads tsx solely in a source checkout, where src/ exists.
    for (const file of packed.files.filter((f) => f.path.startsWith("dist/") && /\.m?js$/.test(f.path))) {
      const code = readFileSync(join(installed, file.path), "utf8");
      // Static imports and require() calls, and the modules loaded on first use through createRequire.
      const lazy = [...code.matchAll(/createRequire\(import\.meta\.url\)\("([^"]+)"\)/g)].map(
        (m) => m[1] as string,
      );
      const names = [...ts.preProcessFile(code, true, true).importedFiles.map((f) => f.fileName), ...lazy];
      for (const fileName of names) {
        if (fileName.startsWith(".")) continue;
        const parts = fileName.split("/");
        imported.add(fileName.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string));
      }
    }
    const foreign = [...imported].filter(
      (name) =>
        !name.startsWith("node:") && !builtinModules.includes(name) && !(name in manifest.dependencies),
    );
    expect(foreign).toEqual([]);
    expect(imported).toContain("@grpc/proto-loader");
    expect(imported).toContain("pino-pretty");
  });

  it("installs its bundled program no older than its compiled one, so that bin/wendy.js runs the bundle", () => {
    const installed = join(project, "node_modules", "wendy", "dist");
    const bundled = statSync(join(installed, "wendy.mjs")).mtimeMs;
    expect(bundled).toBeGreaterThanOrEqual(statSync(join(installed, "src", "cli.js")).mtimeMs);
  });

  it("loads, importing its program as `wendy start` does, neither the client library nor the demo, nor the demo's readline", async () => {
    const dist = join(project, "node_modules", "wendy", "dist");
    // What the entry imports at once, and each chunk so imported in turn (not what it imports on demand).
    const staticImports = (file: string): string[] =>
      [
        ...readFileSync(file, "utf8").matchAll(/(?:^|[;}\n])import\s*(?:[\w${},\s*]+?from\s*)?"(\.[^"]+)"/g),
      ].map((m) => join(file, "..", m[1] as string));
    const loaded = new Set<string>();
    const pending = [join(dist, "wendy.mjs")];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (loaded.has(file)) continue;
      loaded.add(file);
      pending.push(...staticImports(file));
    }
    const chunks = [...loaded].map((f) => f.slice(dist.length + 1));
    expect(chunks.filter((f) => /^wendy-chunks\/(wendy-client|demo)-/.test(f))).toEqual([]);
    const onDemand = packed.files.filter((f) =>
      /^dist\/wendy-chunks\/(wendy-client|demo)-\w+\.mjs$/.test(f.path),
    );
    expect(onDemand).toHaveLength(2);
    const { stdout } = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `await import(${JSON.stringify(join(dist, "wendy.mjs"))});` +
          `console.log(JSON.stringify(process.moduleLoadList.filter((m) => m === "NativeModule readline")));`,
      ],
      project,
    );
    expect(JSON.parse(stdout)).toEqual([]);
  });

  it("installs with production dependencies only", () => {
    const modules = join(project, "node_modules");
    expect(existsSync(join(modules, "wendy", "dist", "src", "index.js"))).toBe(true);
    for (const devOnly of ["typescript", "tsx", "vitest", "ts-proto", "@bufbuild/buf"]) {
      expect(existsSync(join(modules, devOnly)), devOnly).toBe(false);
    }
  });
});

/** The entry points as a user imports them; prints what resolved, and what a deep import gives. */
const ENTRY_POINTS = `import { WendyClient, type Delivery } from "wendy/client";
import { PastryNode, LeafSet, NodeId } from "wendy/routing";
import { Cluster } from "wendy";
const kinds: string[] = [typeof WendyClient, typeof PastryNode, typeof LeafSet, typeof Cluster];
const onDelivery = (d: Delivery): string => d.messageId;
const key: string = NodeId.fromString("k").hex;
const deep = await import("wendy/dist/src/server/cluster.js" as string).then(
  () => "resolved",
  (e: { code?: string }) => e.code,
);
console.log(JSON.stringify({ kinds, key, deep, handler: typeof onDelivery }));
`;

let compiling: Promise<unknown> | undefined;

/** Type-checks (against the installed package's declarations) and compiles both programs, once. */
function compileOnce(): Promise<unknown> {
  compiling ??= (async () => {
    writeFileSync(join(project, "example.ts"), readmeEmbeddingExample());
    writeFileSync(join(project, "entry-points.ts"), ENTRY_POINTS);
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          // The user's own @types/node (a dev dependency of theirs, not of wendy).
          typeRoots: [join(REPO_ROOT, "node_modules", "@types")],
          types: ["node"],
          outDir: "out",
        },
        files: ["example.ts", "entry-points.ts"],
      }),
    );
    return run(process.execPath, [TSC, "-p", "tsconfig.json"], project);
  })();
  return compiling;
}

describe("the installed package", () => {
  it("type-checks the README's embedding example and the entry points against its declarations", async () => {
    await compileOnce();
    expect(existsSync(join(project, "out", "example.js"))).toBe(true);
    expect(existsSync(join(project, "out", "entry-points.js"))).toBe(true);
  }, 180_000);

  it("runs the README's embedding example: two nodes join, an acknowledged send, both stop", async () => {
    await compileOnce();
    const { stdout, stderr } = await run(
      process.execPath,
      [join("out", "example.js")],
      project,
      cleanEnv({ WENDY_SECRET: SECRET }),
    );
    const ids = ["orders-1", "orders-2"].map((name) => ({ name, id: NodeId.fromString(name) }));
    const owner = closestTo(NodeId.fromString("order-42"), ids);
    expect(stderr).toBe("");
    expect(stdout).toContain(`${owner?.name} owns ${NodeId.fromString("order-42").hex}: hi`);
    expect(stdout).toMatch(new RegExp(`^delivered by ${owner?.id.hex} in [01] hops$`, "m"));
  });

  it("resolves the root, wendy/client and wendy/routing entry points and refuses a deep import", async () => {
    await compileOnce();
    const { stdout } = await run(process.execPath, [join("out", "entry-points.js")], project);
    expect(JSON.parse(stdout)).toEqual({
      kinds: ["function", "function", "function", "function"],
      key: NodeId.fromString("k").hex,
      deep: "ERR_PACKAGE_PATH_NOT_EXPORTED",
      handler: "function",
    });
  });

  it("`wendy demo` runs the installed daemons to completion with every message at its owner", async () => {
    const { stdout, stderr } = await run(
      installedWendy(),
      ["demo", "--nodes", "4", "--messages", "4"],
      project,
    );
    expect(stderr).toBe("");
    expect(stdout.match(/ ok$/gm)).toHaveLength(8);
    expect(stdout).not.toContain("WRONG");
    expect(stdout).toContain("Demo finished");
  }, 120_000);

  it("`wendy start` serves reflection from the installed .proto files on its peer and client ports", async () => {
    const [peer, client, metrics] = await freePorts(3);
    const child = spawn(installedWendy(), ["start"], {
      cwd: project,
      env: cleanEnv({
        WENDY_NODE_NAME: "packed",
        WENDY_BIND_HOST: "127.0.0.1",
        WENDY_METRICS_HOST: "127.0.0.1",
        WENDY_PORT: String(peer),
        WENDY_CLIENT_PORT: String(client),
        WENDY_METRICS_PORT: String(metrics),
        WENDY_SECRET: SECRET,
        WENDY_JOIN: `127.0.0.1:${peer}`,
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, "exit");
    try {
      const ready = new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on("line", (line) => {
          if (line.includes(LOG_READY)) resolve();
        });
        child.once("exit", (code) => reject(new Error(`wendy start exited with ${code}: ${stderr}`)));
      });
      await ready;
      expect(await listServices(`127.0.0.1:${client}`)).toContain("wendy.v1.OverlayService");
      const described = await askReflection(`127.0.0.1:${peer}`, {
        fileContainingSymbol: "wendy.v1.PeerService",
      });
      expect(described.fileDescriptorResponse?.fileDescriptorProto.length).toBeGreaterThan(0);
    } finally {
      child.kill("SIGTERM");
    }
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
  });
});
