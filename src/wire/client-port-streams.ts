// The client port's streaming methods, whose every message (sends and their results, deliveries and their
// acknowledgements, calls and their answers, key-value operations and their results) is encoded on the
// shared writer, by the node and by the client.
import { makeGenericClientConstructor } from "@grpc/grpc-js";
import {
  KvServiceClient,
  KvServiceService,
  OperationStreamRequest,
  OperationStreamResponse,
} from "../gen/wendy/v1/kv.js";
import {
  CallStreamRequest,
  CallStreamResponse,
  OverlayServiceClient,
  OverlayServiceService,
  ReceiveRequest,
  ReceiveResponse,
  SendStreamRequest,
  SendStreamResponse,
} from "../gen/wendy/v1/overlay.js";
import { withSharedWriter } from "./shared-writer.js";

/** OverlayServiceService, its streams serialized on the shared writer (the same bytes, fewer copies). */
export const OVERLAY_SERVICE = withSharedWriter(OverlayServiceService, {
  sendStream: { request: SendStreamRequest, response: SendStreamResponse },
  receive: { request: ReceiveRequest, response: ReceiveResponse },
  callStream: { request: CallStreamRequest, response: CallStreamResponse },
});

/** KvServiceService, its stream serialized on the shared writer. */
export const KV_SERVICE = withSharedWriter(KvServiceService, {
  operationStream: { request: OperationStreamRequest, response: OperationStreamResponse },
});

/** The generated client's constructor over OVERLAY_SERVICE. */
export const OverlayRawClient = makeGenericClientConstructor(
  OVERLAY_SERVICE,
  "wendy.v1.OverlayService",
) as unknown as typeof OverlayServiceClient;

/** The generated client's constructor over KV_SERVICE. */
export const KvRawClient = makeGenericClientConstructor(
  KV_SERVICE,
  "wendy.v1.KvService",
) as unknown as typeof KvServiceClient;
