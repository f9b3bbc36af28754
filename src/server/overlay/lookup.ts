// Lookup: the live node that owns a key now, as this node sees it.
import type { handleUnaryCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type LookupRequest,
  type LookupResponse,
} from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { OverlayContext } from "./context.js";
import { unary } from "./serve.js";
import { requireKey } from "./validate.js";

export function lookupHandler(ctx: OverlayContext): handleUnaryCall<LookupRequest, LookupResponse> {
  return unary(ctx, OverlayServiceService.lookup.path, (request) => ({
    owner: encodeNodeInfo(ctx.cluster.owner(requireKey(request.key))),
  }));
}
