// The .proto sources at run time, for server reflection (@grpc/reflection needs proto-loader descriptors;
// the ts-proto code in src/gen carries none).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";

/** The files whose services a node exposes; their imports are found under the proto root. */
export const SERVED_PROTO_FILES: readonly string[] = [
  "wendy/v1/peer.proto",
  "wendy/v1/overlay.proto",
  "grpc/health/v1/health.proto",
];

/** Levels to climb from this module to the package root: src/wire (tsx) or dist/src/wire. */
const MAX_LEVELS_UP = 6;

/** The repository's proto/ directory, found by walking up from this module (works from src/ and dist/). */
export function protoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level <= MAX_LEVELS_UP; level++) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, "wendy", "v1", "peer.proto"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("cannot find the proto/ directory (with wendy/v1/peer.proto) above " + import.meta.url);
}

/** Descriptors of every served service, for `new ReflectionService(definition).addToServer(server)`. */
export function loadServedPackageDefinition(): PackageDefinition {
  // keepCase: reflection must show the field names of the .proto (max_hops), not camelCased ones.
  return loadSync([...SERVED_PROTO_FILES], { includeDirs: [protoRoot()], keepCase: true });
}
