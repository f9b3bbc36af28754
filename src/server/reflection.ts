// Server reflection, built on first use. Building it means parsing every served .proto file and describing
// them (about 10 MB of heap and 170 ms of start-up per server); grpcurl-style tools call it rarely, and
// every node would otherwise pay for it from start to exit. One built instance serves every server of the
// process (the peer port and the client port).
import type { Server, UntypedServiceImplementation, ServiceDefinition } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { loadServedPackageDefinition } from "../wire/descriptors.js";

interface Registration {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

/** The services (and their handlers) a ReflectionService adds to a server, in order. */
function registrationsOf(reflection: ReflectionService): Registration[] {
  const registrations: Registration[] = [];
  reflection.addToServer({
    addService: (definition, implementation) => registrations.push({ definition, implementation }),
  });
  return registrations;
}

let built: Registration[] | undefined;

/** The real reflection handlers, built once per process on the first reflection call. */
function servedRegistrations(): Registration[] {
  built ??= registrationsOf(new ReflectionService(loadServedPackageDefinition()));
  return built;
}

/** Adds grpc.reflection (v1 and v1alpha) to `server`; the descriptors are built on the first call. */
export function addLazyReflection(server: Pick<Server, "addService">): void {
  // An empty package costs nothing and yields the same reflection services with the same method names.
  const shapes = registrationsOf(new ReflectionService({}));
  shapes.forEach(({ definition, implementation }, index) => {
    const deferred: UntypedServiceImplementation = {};
    for (const method of Object.keys(implementation)) {
      deferred[method] = ((call: unknown, callback?: unknown) => {
        const real = servedRegistrations()[index]?.implementation[method];
        if (typeof real !== "function") throw new Error(`reflection has no handler ${method}`);
        return (real as (call: unknown, callback?: unknown) => unknown)(call, callback);
      }) as UntypedServiceImplementation[string];
    }
    server.addService(definition, deferred);
  });
}
