// The client port's streaming methods, whose every message (sends and their results, deliveries and their
// acknowledgements, calls and their answers) is encoded on the shared writer, by the node and by the client.
import { makeGenericClientConstructor } from "@grpc/grpc-js";
import {
  CallStreamRequest,
  OverlayServiceClient,
  CallStreamResponse,
  OverlayServiceService,
  ReceiveRequest,
  ReceiveResponse,
  SendStreamRequest,
  SendStreamResponse,
} from "../gen/wendy/v1/overlay.js";
import { withSharedWriter, type MethodEncoders } from "./shared-writer.js";

const STREAMS: MethodEncoders<typeof OverlayServiceService> = {
  sendStream: { request: SendStreamRequest, response: SendStreamResponse },
  receive: { request: ReceiveRequest, response: ReceiveResponse },
  callStream: { request: CallStreamRequest, response: CallStreamResponse },
};

/** OverlayServiceService, its streams serialized on the shared writer (the same bytes, fewer copies). */
export const OVERLAY_SERVICE = withSharedWriter(OverlayServiceService, STREAMS);

/** The generated client's constructor over OVERLAY_SERVICE. */
export const OverlayClient = makeGenericClientConstructor(
  OVERLAY_SERVICE,
  "wendy.v1.OverlayService",
) as unknown as typeof OverlayServiceClient;
