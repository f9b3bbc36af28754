// The wire layer's public surface: codec, method table, limits and the error type.
export * from "./codec.js";
export * from "./errors.js";
export * from "./key.js";
export * from "./limits.js";
export * from "./methods.js";
export * from "./descriptors.js";
