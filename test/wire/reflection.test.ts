// Server reflection built from the proto sources lists and describes Wendy's services.
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  type MethodDefinition,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadServedPackageDefinition } from "../../src/server/wire/index.js";

interface ReflectionRequest {
  listServices?: string;
  fileContainingSymbol?: string;
}
interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
}

const reflectionProto = join(
  dirname(createRequire(import.meta.url).resolve("@grpc/reflection")),
  "..",
  "proto/grpc/reflection/v1/reflection.proto",
);
const reflectionDefinition = loadSync(reflectionProto)[
  "grpc.reflection.v1.ServerReflection"
] as ServiceDefinition;
const infoMethod = reflectionDefinition["ServerReflectionInfo"] as MethodDefinition<
  ReflectionRequest,
  ReflectionResponse
>;

describe("server reflection over the served protos", () => {
  let server: Server;
  let client: Client;

  beforeAll(async () => {
    server = new Server();
    new ReflectionService(loadServedPackageDefinition()).addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  function ask(request: ReflectionRequest): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      const call = client.makeBidiStreamRequest(
        infoMethod.path,
        infoMethod.requestSerialize,
        infoMethod.responseDeserialize,
      );
      call.on("data", (response: ReflectionResponse) => {
        resolve(response);
        call.end();
      });
      call.on("error", reject);
      call.write(request);
    });
  }

  it("lists the peer, overlay and health services", async () => {
    const response = await ask({ listServices: "" });
    const names = response.listServicesResponse?.service.map((s) => s.name) ?? [];
    expect(names).toEqual(
      expect.arrayContaining(["wendy.v1.PeerService", "wendy.v1.OverlayService", "grpc.health.v1.Health"]),
    );
  });

  it("describes a message type by its symbol", async () => {
    const response = await ask({ fileContainingSymbol: "wendy.v1.RouteMessage" });
    const files = response.fileDescriptorResponse?.fileDescriptorProto ?? [];
    expect(files.length).toBeGreaterThan(0);
    // proto-loader merges a package's files into one descriptor named after the package.
    const text = files.map((f) => Buffer.from(f).toString("latin1")).join("\n");
    expect(text).toContain("wendy.v1");
    expect(text).toContain("RouteMessage");
    expect(text).toContain("max_hops");
  });
});
