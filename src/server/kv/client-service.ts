// wendy.v1.KvService on the client port: each call checked, run at the key's owner, answered; the same on
// an OperationStream (operation-stream.ts).
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { KvServiceService, type KvServiceServer } from "../../gen/wendy/v1/kv.js";
import { KV_SERVICE } from "../../wire/client-port-streams.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import { TokenCheck } from "../overlay/auth.js";
import { DEFAULT_OVERLAY_LIMITS } from "../overlay/limits.js";
import { QueuedBytes } from "../overlay/queued-bytes.js";
import { unary, type ServeContext } from "../overlay/serve.js";
import { rawRequestStream } from "../transport/decode-in-handler.js";
import type { KvReadResult, KvWriteResult } from "./coordinator.js";
import type { KvNode } from "./kv-node.js";
import { OperationStreams } from "./operation-stream.js";
import { encodeRead, encodeWrite } from "./operations.js";

export interface KvServiceOptions {
  readonly kv: KvNode;
  /** When set, every call must carry `authorization: Bearer <token>` (as OverlayService). */
  readonly token?: string | TokenCheck | undefined;
  readonly metrics?: WendyMetrics | undefined;
  /** Requests in flight per OperationStream at most; default the overlay's (maxSendStreamInFlight, 1024). */
  readonly maxStreamInFlight?: number;
  /**
   * The client port's byte budget (shared with OverlayService's streams), against which the values of Puts
   * on OperationStreams count until answered; default a budget of the overlay's default size of its own.
   */
  readonly queuedBytes?: QueuedBytes;
}

/** What the daemon keeps of the service: its open streams, ended when the node stops. */
export interface KvServiceHandle {
  /** OperationStreams open now. */
  readonly streamCount: number;
  /** Ends every OperationStream (UNAVAILABLE for the requests still waiting). */
  close(): void;
}

const identity = (b: Buffer): Buffer => b;

export function addKvService(server: Server, options: KvServiceOptions): KvServiceHandle {
  const token = options.token instanceof TokenCheck ? options.token : new TokenCheck(options.token);
  const ctx: ServeContext = { token, metrics: options.metrics };
  const kv = options.kv;
  const streams = new OperationStreams({
    ...ctx,
    kv,
    limits: {
      maxSendStreamInFlight: options.maxStreamInFlight ?? DEFAULT_OVERLAY_LIMITS.maxSendStreamInFlight,
    },
    queuedBytes: options.queuedBytes ?? new QueuedBytes(DEFAULT_OVERLAY_LIMITS.maxQueuedBytes),
  });
  const implementation: KvServiceServer = {
    put: unary(ctx, KvServiceService.put.path, async (put) =>
      encodeWrite((await kv.execute({ $case: "put", put })) as KvWriteResult),
    ),
    get: unary(ctx, KvServiceService.get.path, async (get) =>
      encodeRead((await kv.execute({ $case: "get", get })) as KvReadResult),
    ),
    delete: unary(ctx, KvServiceService.delete.path, async (request) =>
      encodeWrite((await kv.execute({ $case: "delete", delete: request })) as KvWriteResult),
    ),
    operationStream: rawRequestStream(streams.handler),
  };
  // The stream's session decodes each message itself: a malformed one is INVALID_ARGUMENT, not INTERNAL.
  const definition: ServiceDefinition = {
    ...KV_SERVICE,
    operationStream: { ...KV_SERVICE.operationStream, requestDeserialize: identity },
  };
  server.addService(definition, implementation as unknown as UntypedServiceImplementation);
  return {
    get streamCount() {
      return streams.count;
    },
    close: () => streams.closeAll(),
  };
}
