// A minimal grpc.reflection.v1 client: what grpcurl-style tools ask a server.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Client, credentials, type MethodDefinition, type ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

export interface ReflectionRequest {
  listServices?: string;
  fileContainingSymbol?: string;
}
export interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
}

const reflectionProto = join(
  dirname(createRequire(import.meta.url).resolve("@grpc/reflection")),
  "..",
  "proto/grpc/reflection/v1/reflection.proto",
);
const infoMethod = (loadSync(reflectionProto)["grpc.reflection.v1.ServerReflection"] as ServiceDefinition)[
  "ServerReflectionInfo"
] as MethodDefinition<ReflectionRequest, ReflectionResponse>;

/** Asks the reflection service at `address` one question. */
export function askReflection(address: string, request: ReflectionRequest): Promise<ReflectionResponse> {
  const client = new Client(address, credentials.createInsecure());
  return new Promise<ReflectionResponse>((resolve, reject) => {
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
  }).finally(() => client.close());
}

/** The service names a server lists. */
export async function listServices(address: string): Promise<string[]> {
  const response = await askReflection(address, { listServices: "" });
  return response.listServicesResponse?.service.map((s) => s.name) ?? [];
}
