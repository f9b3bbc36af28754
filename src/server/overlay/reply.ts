// Reply: a subscriber answers a delivery that carried a call_id.
import type { handleUnaryCall } from "@grpc/grpc-js";
import { OverlayServiceService, type ReplyRequest, type ReplyResponse } from "../../gen/wendy/v1/overlay.js";
import type { OverlayContext } from "./context.js";
import { maxCallPayloadBytes } from "./limits.js";
import { invalidArgument } from "./rpc-error.js";
import { unary } from "./serve.js";
import { requirePayload } from "./validate.js";

export function replyHandler(ctx: OverlayContext): handleUnaryCall<ReplyRequest, ReplyResponse> {
  return unary(ctx, OverlayServiceService.reply.path, async (request) => {
    if (request.callId === "") throw invalidArgument("call_id: required (copy it from the delivery)");
    const payload = requirePayload(request.payload, maxCallPayloadBytes(ctx.limits));
    await ctx.calls.reply(request.callId, payload);
    return {};
  });
}
