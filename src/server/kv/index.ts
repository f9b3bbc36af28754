// The replicated key-value store (kv.proto): what the daemon and embedders mount.
export { KvNode, type KvOptions, type KvStats, type KvRepairKind } from "./kv-node.js";
export { addKvService, type KvServiceHandle, type KvServiceOptions } from "./client-service.js";
export type { KvOperation, KvResult, KvReadResult, KvWriteResult, Precondition } from "./coordinator.js";
