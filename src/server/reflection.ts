// Server reflection, built on first use. Building it means loading @grpc/reflection, proto-loader and
// protobufjs and parsing every served .proto file (about 10 MB of heap and 170 ms of start-up per server);
// grpcurl-style tools call it rarely, and every node would otherwise pay for it from start to exit. Until the
// first reflection call, a server only carries the two services' shapes below (one bidirectional method
// each, whose messages are decoded and encoded by the real service once it is loaded). One built instance
// serves every server of the process (the peer port and the client port).
import { createRequire } from "node:module";
import type {
  MethodDefinition,
  Server,
  ServiceDefinition,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { ReflectionService } from "@grpc/reflection";
import { loadServedPackageDefinition } from "../wire/descriptors.js";

/** The reflection services @grpc/reflection serves, each with its one method. */
const SERVICES = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];
const METHOD = "ServerReflectionInfo";

type AnyMethod = MethodDefinition<unknown, unknown>;

interface Registration {
  readonly method: AnyMethod;
  readonly handler: (call: unknown) => unknown;
}

let built: Map<string, Registration> | undefined;

/** The real reflection handlers by method path, built once per process on the first reflection call. */
function served(path: string): Registration {
  if (built === undefined) {
    const load = createRequire(import.meta.url);
    const { ReflectionService: Reflection } = load("@grpc/reflection") as {
      ReflectionService: typeof ReflectionService;
    };
    const registrations = new Map<string, Registration>();
    new Reflection(loadServedPackageDefinition()).addToServer({
      addService: (definition: ServiceDefinition, implementation: UntypedServiceImplementation) => {
        for (const [name, method] of Object.entries(definition)) {
          const handler = implementation[name];
          if (typeof handler === "function")
            registrations.set(method.path, {
              method: method as AnyMethod,
              handler: handler as (call: unknown) => unknown,
            });
        }
      },
    });
    built = registrations;
  }
  const registration = built.get(path);
  if (registration === undefined) throw new Error(`reflection serves no ${path}`);
  return registration;
}

/** A method whose (de)serialisers and handler are the real service's, loaded on first use. */
function deferredMethod(path: string): AnyMethod {
  return {
    path,
    requestStream: true,
    responseStream: true,
    originalName: "serverReflectionInfo",
    requestSerialize: (value) => served(path).method.requestSerialize(value),
    requestDeserialize: (bytes) => served(path).method.requestDeserialize(bytes),
    responseSerialize: (value) => served(path).method.responseSerialize(value),
    responseDeserialize: (bytes) => served(path).method.responseDeserialize(bytes),
  };
}

/** Adds grpc.reflection (v1 and v1alpha) to `server`; nothing of it is loaded before the first call. */
export function addLazyReflection(server: Pick<Server, "addService">): void {
  for (const service of SERVICES) {
    const path = `/${service}/${METHOD}`;
    const definition: ServiceDefinition = { [METHOD]: deferredMethod(path) };
    const implementation: UntypedServiceImplementation = {
      [METHOD]: ((call: unknown) => served(path).handler(call)) as UntypedServiceImplementation[string],
    };
    server.addService(definition, implementation);
  }
}
