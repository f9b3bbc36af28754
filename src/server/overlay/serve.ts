// Every Overlay handler runs inside one of these wrappers: bearer-token check, error-to-status mapping and
// the per-call metric, so the handlers themselves only do their one job.
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import type { WendyMetrics } from "../metrics/metrics.js";
import type { TokenCheck } from "./auth.js";
import { toServiceError } from "./rpc-error.js";

export interface ServeContext {
  readonly token: TokenCheck;
  readonly metrics?: WendyMetrics | undefined;
}

export function unary<Req, Res>(
  ctx: ServeContext,
  path: string,
  handler: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const refused = ctx.token.refuse(call.metadata);
    if (refused !== undefined) {
      ctx.metrics?.clientRpcServed(path, refused.code ?? status.UNAUTHENTICATED);
      callback(refused);
      return;
    }
    const started = performance.now();
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => {
          ctx.metrics?.clientRpcServed(path, status.OK);
          ctx.metrics?.observeClientRpcDuration(path, (performance.now() - started) / 1000);
          callback(null, response);
        },
        (error: unknown) => {
          const e = toServiceError(error);
          ctx.metrics?.clientRpcServed(path, e.code ?? status.UNKNOWN);
          ctx.metrics?.observeClientRpcDuration(path, (performance.now() - started) / 1000);
          callback(e);
        },
      );
  };
}

/**
 * A server-streaming handler. It is handed `finished(code)`, to call once when the stream ends (it records
 * the metric); a handler that throws ends the stream with the mapped status at once.
 */
export function serverStream<Req, Res>(
  ctx: ServeContext,
  path: string,
  handler: (call: ServerWritableStream<Req, Res>, finished: (code: status) => void) => void,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    let recorded = false;
    const finished = (code: status): void => {
      if (recorded) return;
      recorded = true;
      ctx.metrics?.clientRpcServed(path, code);
    };
    const refused = ctx.token.refuse(call.metadata);
    if (refused !== undefined) {
      finished(refused.code ?? status.UNAUTHENTICATED);
      call.emit("error", refused);
      return;
    }
    try {
      handler(call, finished);
    } catch (error) {
      const e = toServiceError(error);
      finished(e.code ?? status.UNKNOWN);
      call.emit("error", e);
    }
  };
}
