// Reflection and the .proto descriptors are loaded on the first reflection call, not when a server is built:
// a daemon nobody reflects on never holds @grpc/reflection, proto-loader or protobufjs (megabytes of heap).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

/** Runs `body` in a fresh Node process (module cache empty) and returns what it prints as JSON. */
function inFreshProcess(body: string): unknown {
  const program = `
    import { createRequire } from "node:module";
    const loaded = () => Object.keys(createRequire(import.meta.url).cache)
      .filter((f) => /node_modules\\/(@grpc\\/reflection|@grpc\\/proto-loader|protobufjs|pino-pretty)\\//.test(f))
      .map((f) => f.replace(/.*node_modules\\/((@[^/]+\\/)?[^/]+).*/, "$1"));
    ${body}
  `;
  const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", program], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`child failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as unknown;
}

describe("lazy reflection", () => {
  it("adding reflection to a server and logging JSON lines load neither reflection, proto-loader, protobufjs nor pino-pretty", () => {
    const modules = inFreshProcess(`
      const { Server } = await import("@grpc/grpc-js");
      const { addLazyReflection } = await import("./src/server/reflection.ts");
      const { createLogger } = await import("./src/server/daemon/logger.ts");
      addLazyReflection(new Server());
      createLogger({ nodeId: "n", level: "silent", pretty: false });
      process.stdout.write(JSON.stringify([...new Set(loaded())]));
    `);
    expect(modules).toEqual([]);
  });

  it("the first reflection call loads them", () => {
    const modules = inFreshProcess(`
      const { Server } = await import("@grpc/grpc-js");
      const { addLazyReflection } = await import("./src/server/reflection.ts");
      const methods = [];
      addLazyReflection({ addService: (definition, implementation) => methods.push({ definition, implementation }) });
      // What the server does with a request: decode it with the method's deserialiser.
      const method = methods[0].definition.ServerReflectionInfo;
      method.requestDeserialize(Buffer.alloc(0));
      process.stdout.write(JSON.stringify([...new Set(loaded())].sort()));
    `);
    expect(modules).toEqual(expect.arrayContaining(["@grpc/proto-loader", "@grpc/reflection", "protobufjs"]));
  });
});
