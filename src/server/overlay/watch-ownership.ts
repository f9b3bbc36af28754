// WatchOwnership: the key range this node owns, then every change to it.
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type WatchOwnershipRequest,
  type WatchOwnershipResponse,
} from "../../gen/wendy/v1/overlay.js";
import type { OverlayContext } from "./context.js";
import { resourceExhausted } from "./rpc-error.js";
import { serverStream } from "./serve.js";

export function watchOwnershipHandler(
  ctx: OverlayContext,
): handleServerStreamingCall<WatchOwnershipRequest, WatchOwnershipResponse> {
  return serverStream(ctx, OverlayServiceService.watchOwnership.path, (call, finished) => {
    ctx.requireLocalClient("WatchOwnership", call.getPeer());
    if (ctx.ownership.count >= ctx.limits.maxWatchers) {
      throw resourceExhausted(`this node already has ${ctx.ownership.count} ownership watchers`);
    }
    ctx.ownership.add(call, finished);
  });
}
