// Client requests (PutRequest, GetRequest, DeleteRequest) to operations and results back, checked once
// here for both the client port and a Coordinate hand-on.
import { status } from "@grpc/grpc-js";
import type {
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  Precondition as WirePrecondition,
  PutRequest,
  PutResponse,
} from "../../gen/wendy/v1/kv.js";
import type { CoordinateRequest, CoordinateResponse } from "../../gen/wendy/v1/kv_peer.js";
import { WendyError } from "../errors.js";
import { decodeNodeInfo, encodeNodeInfo } from "../../wire/codec.js";
import { decodeKey } from "../../wire/key.js";
import { WireFormatError } from "../../wire/errors.js";
import type { KvOperation, KvReadResult, KvResult, KvWriteResult, Precondition } from "./coordinator.js";
import { decodeVersion, encodeVersion } from "./wire.js";

/** A request's wait: 0 means this default. */
export const DEFAULT_KV_TIMEOUT_MS = 5000;
/** The longest wait a request may ask for. */
export const MAX_KV_TIMEOUT_MS = 60_000;

export type KvRequest =
  | { readonly $case: "put"; readonly put: PutRequest }
  | { readonly $case: "get"; readonly get: GetRequest }
  | { readonly $case: "delete"; readonly delete: DeleteRequest };

function decodePrecondition(p: WirePrecondition | undefined, allowAbsent: boolean): Precondition | undefined {
  const kind = p?.kind;
  if (kind === undefined) return undefined;
  if (kind.$case === "ifVersion")
    return { kind: "version", version: decodeVersion(kind.ifVersion, "precondition.if_version") };
  if (!allowAbsent) throw new WireFormatError("precondition.if_absent", "is not allowed on Delete");
  if (!kind.ifAbsent) throw new WireFormatError("precondition.if_absent", "must be true when set");
  return { kind: "absent" };
}

/** The operation a request asks for; INVALID_ARGUMENT or RESOURCE_EXHAUSTED (value too large) when bad. */
export function decodeOperation(request: KvRequest, maxValueBytes: number): KvOperation {
  switch (request.$case) {
    case "put": {
      const value = request.put.value;
      if (value.byteLength > maxValueBytes)
        throw new WendyError(
          `value: ${value.byteLength} bytes exceeds the limit of ${maxValueBytes} bytes`,
          status.RESOURCE_EXHAUSTED,
        );
      return {
        kind: "put",
        key: decodeKey(request.put.key, "key"),
        value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
        precondition: decodePrecondition(request.put.precondition, true),
      };
    }
    case "get":
      return { kind: "get", key: decodeKey(request.get.key, "key") };
    case "delete":
      return {
        kind: "delete",
        key: decodeKey(request.delete.key, "key"),
        precondition: decodePrecondition(request.delete.precondition, false),
      };
  }
}

/** The request's timeout_ms, with its default and bound. */
export function timeoutOf(request: KvRequest): number {
  const asked =
    request.$case === "put"
      ? request.put.timeoutMs
      : request.$case === "get"
        ? request.get.timeoutMs
        : request.delete.timeoutMs;
  if (asked > MAX_KV_TIMEOUT_MS)
    throw new WireFormatError("timeout_ms", `must be at most ${MAX_KV_TIMEOUT_MS}, got ${asked}`);
  return asked === 0 ? DEFAULT_KV_TIMEOUT_MS : asked;
}

export function encodeWrite(r: KvWriteResult): PutResponse & DeleteResponse {
  return {
    version: encodeVersion(r.version),
    acknowledgements: r.acknowledgements,
    coordinator: encodeNodeInfo(r.coordinator),
  };
}

export function encodeRead(r: KvReadResult): GetResponse {
  return {
    value: Buffer.from(r.record.value.buffer, r.record.value.byteOffset, r.record.value.byteLength),
    version: encodeVersion(r.record.version),
    answers: r.answers,
    coordinator: encodeNodeInfo(r.coordinator),
  };
}

export function encodeResult(kind: KvOperation["kind"], result: KvResult): CoordinateResponse {
  if (kind === "get") return { result: { $case: "get", get: encodeRead(result as KvReadResult) } };
  const write = encodeWrite(result as KvWriteResult);
  return kind === "put"
    ? { result: { $case: "put", put: write } }
    : { result: { $case: "delete", delete: write } };
}

/** The owner's answer to a hand-on, back as the result the coordinator would have returned. */
export function decodeResult(op: KvOperation, response: CoordinateResponse): KvResult {
  const kind = op.kind;
  const r = response.result;
  if (r === undefined || r.$case !== kind)
    throw new WendyError(`the key's owner answered ${r?.$case ?? "nothing"} to a ${kind}`, status.INTERNAL);
  if (r.$case === "get") {
    const g = r.get;
    return {
      record: {
        key: op.key,
        version: decodeVersion(g.version, "version"),
        value: g.value,
        deleted: false,
      },
      answers: g.answers,
      coordinator: decodeNodeInfo(g.coordinator, "coordinator"),
    };
  }
  const w = r.$case === "put" ? r.put : r.delete;
  return {
    version: decodeVersion(w.version, "version"),
    acknowledgements: w.acknowledgements,
    coordinator: decodeNodeInfo(w.coordinator, "coordinator"),
  };
}

export function operationOf(request: CoordinateRequest): KvRequest {
  const op = request.operation;
  if (op === undefined) throw new WireFormatError("operation", "is required");
  return op;
}
