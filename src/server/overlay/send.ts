// Send: route a payload to a key's owner, optionally waiting for the end-to-end acknowledgement.
import type { handleUnaryCall } from "@grpc/grpc-js";
import { OverlayServiceService, type SendRequest, type SendResponse } from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { OverlayContext } from "./context.js";
import { deadlineExceeded } from "./rpc-error.js";
import { unary } from "./serve.js";
import { effectiveTimeoutMs, requireKey, requirePayload, requirePurpose } from "./validate.js";

export function sendHandler(ctx: OverlayContext): handleUnaryCall<SendRequest, SendResponse> {
  return unary(ctx, OverlayServiceService.send.path, async (request, call) => {
    const key = requireKey(request.key);
    const purpose = requirePurpose(request.purpose, ctx.limits);
    const payload = requirePayload(request.payload, ctx.limits.maxPayloadBytes);
    const message = ctx.cluster.newMessage(purpose, key, payload);
    if (!request.waitForAck) {
      const sent = await ctx.cluster.send(message);
      return { messageId: sent.messageId, hops: 0 };
    }
    const timeoutMs = effectiveTimeoutMs(
      request.timeoutMs,
      ctx.limits.defaultAckTimeoutMs,
      call.getDeadline(),
    );
    if (timeoutMs <= 0) throw deadlineExceeded("the call's deadline has already passed");
    const sent = await ctx.cluster.send(message, { waitForAck: true, timeoutMs });
    return {
      messageId: sent.messageId,
      deliveredBy: sent.deliveredBy === undefined ? undefined : encodeNodeInfo(sent.deliveredBy),
      hops: sent.hops ?? 0,
    };
  });
}
