// Replicas: a key's owner and the nodes next closest to it.
import type { handleUnaryCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type ReplicasRequest,
  type ReplicasResponse,
} from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { OverlayContext } from "./context.js";
import { invalidArgument } from "./rpc-error.js";
import { unary } from "./serve.js";
import { requireKey } from "./validate.js";

export function replicasHandler(ctx: OverlayContext): handleUnaryCall<ReplicasRequest, ReplicasResponse> {
  return unary(ctx, OverlayServiceService.replicas.path, (request) => {
    const key = requireKey(request.key);
    if (request.count < 1 || request.count > ctx.limits.maxReplicas) {
      throw invalidArgument(`count: must be 1..${ctx.limits.maxReplicas}, got ${request.count}`);
    }
    return { nodes: ctx.cluster.replicas(key, request.count).map(encodeNodeInfo) };
  });
}
