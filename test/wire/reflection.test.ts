// Server reflection built from the proto sources lists and describes Wendy's services.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServedPackageDefinition } from "../../src/wire/index.js";
import { askReflection, listServices } from "../helpers/reflection.js";

describe("server reflection over the served protos", () => {
  let server: Server;
  let address = "";

  beforeAll(async () => {
    server = new Server();
    new ReflectionService(loadServedPackageDefinition()).addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;
  });

  afterAll(() => {
    server?.forceShutdown();
  });

  it("lists the peer, overlay and health services", async () => {
    expect(await listServices(address)).toEqual(
      expect.arrayContaining(["wendy.v1.PeerService", "wendy.v1.OverlayService", "grpc.health.v1.Health"]),
    );
  });

  it("describes a message type by its symbol", async () => {
    const response = await askReflection(address, { fileContainingSymbol: "wendy.v1.RouteMessage" });
    const files = response.fileDescriptorResponse?.fileDescriptorProto ?? [];
    expect(files.length).toBeGreaterThan(0);
    // proto-loader merges a package's files into one descriptor named after the package.
    const text = files.map((f) => Buffer.from(f).toString("latin1")).join("\n");
    expect(text).toContain("wendy.v1");
    expect(text).toContain("RouteMessage");
    expect(text).toContain("max_hops");
  });
});
