// Subscribe: a stream of the deliveries for the given purposes, until the client cancels.
import type { handleServerStreamingCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type SubscribeRequest,
  type SubscribeResponse,
} from "../../gen/wendy/v1/overlay.js";
import type { OverlayContext } from "./context.js";
import { resourceExhausted } from "./rpc-error.js";
import { serverStream } from "./serve.js";
import { requirePurposes } from "./validate.js";

export function subscribeHandler(
  ctx: OverlayContext,
): handleServerStreamingCall<SubscribeRequest, SubscribeResponse> {
  return serverStream(ctx, OverlayServiceService.subscribe.path, (call, finished) => {
    const purposes = requirePurposes(call.request.purposes, ctx.limits, "purposes", false);
    if (ctx.subscribers.count >= ctx.limits.maxSubscribers) {
      throw resourceExhausted(`this node already has ${ctx.subscribers.count} subscribers`);
    }
    ctx.subscribers.add(call, purposes, finished);
  });
}
