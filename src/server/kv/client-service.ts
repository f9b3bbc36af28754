// wendy.v1.KvService on the client port: each call checked, run at the key's owner, answered.
import type { Server } from "@grpc/grpc-js";
import { KvServiceService, type KvServiceServer } from "../../gen/wendy/v1/kv.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import { TokenCheck } from "../overlay/auth.js";
import { unary, type ServeContext } from "../overlay/serve.js";
import type { KvReadResult, KvWriteResult } from "./coordinator.js";
import type { KvNode } from "./kv-node.js";
import { encodeRead, encodeWrite } from "./operations.js";

export interface KvServiceOptions {
  readonly kv: KvNode;
  /** When set, every call must carry `authorization: Bearer <token>` (as OverlayService). */
  readonly token?: string | TokenCheck | undefined;
  readonly metrics?: WendyMetrics | undefined;
}

export function addKvService(server: Server, options: KvServiceOptions): void {
  const token = options.token instanceof TokenCheck ? options.token : new TokenCheck(options.token);
  const ctx: ServeContext = { token, metrics: options.metrics };
  const kv = options.kv;
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
  };
  server.addService(KvServiceService, implementation);
}
