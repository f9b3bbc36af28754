// WatchEvents: overlay events, plus forward requests for the purposes this watcher intercepts.
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from "../../gen/wendy/v1/overlay.js";
import type { OverlayContext } from "./context.js";
import { resourceExhausted } from "./rpc-error.js";
import { serverStream } from "./serve.js";
import { requirePurposes } from "./validate.js";

export function watchEventsHandler(
  ctx: OverlayContext,
): handleServerStreamingCall<WatchEventsRequest, WatchEventsResponse> {
  return serverStream(ctx, OverlayServiceService.watchEvents.path, (call, finished) => {
    const intercepts = requirePurposes(
      call.request.interceptPurposes,
      ctx.limits,
      "intercept_purposes",
      true,
    );
    if (ctx.watchers.count >= ctx.limits.maxWatchers) {
      throw resourceExhausted(`this node already has ${ctx.watchers.count} event watchers`);
    }
    ctx.watchers.add(call, intercepts, finished);
  });
}
