// The client's side of KvService.OperationStream: Put, Get and Delete share one long-lived stream (the
// channel of send-stream.ts), instead of an HTTP/2 stream with headers and trailers each. The node's answers
// and errors are those of the unary methods; a node without the stream (UNIMPLEMENTED) is remembered and
// the unary methods are used.
import type { Metadata } from "@grpc/grpc-js";
import type {
  KvServiceClient,
  OperationStreamItem,
  OperationStreamRequest,
  OperationStreamResponse,
  OperationStreamResult,
} from "../gen/wendy/v1/kv.js";
import { RequestStreamChannel, type StreamKind } from "./send-stream.js";

/** One request on the stream: a Put, Get or Delete request as the unary method takes it. */
export type KvStreamRequest = NonNullable<OperationStreamItem["operation"]>;
/** Its answer: the unary method's response, of the request's kind (undefined only from a broken node). */
export type KvStreamAnswer = OperationStreamResult["response"];

const OPERATIONS: StreamKind<
  KvServiceClient,
  KvStreamRequest,
  KvStreamAnswer,
  OperationStreamRequest,
  OperationStreamResponse
> = {
  what: "key-value request",
  open: (raw, metadata) => raw.operationStream(metadata),
  // The per-request deadline stays on the client (as a unary call's would, the node runs to timeout_ms).
  message: (items) => ({ operations: items.map((i) => ({ requestId: i.requestId, operation: i.request })) }),
  results: (response) => response.results,
  payloadBytes: (request) => (request.$case === "put" ? request.put.value.byteLength : 0),
  empty: undefined,
};

/** Key-value requests on one OperationStream. */
export class KvStreamChannel extends RequestStreamChannel<
  KvServiceClient,
  KvStreamRequest,
  KvStreamAnswer,
  OperationStreamRequest,
  OperationStreamResponse
> {
  constructor(raw: KvServiceClient, metadata: () => Metadata, maxInFlight: number) {
    super(OPERATIONS, raw, metadata, maxInFlight);
  }
}
