// Call: a request routed to the key's owner, answered there by a subscriber through Reply.
import type { handleUnaryCall } from "@grpc/grpc-js";
import { OverlayServiceService, type CallRequest, type CallResponse } from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { OverlayContext } from "./context.js";
import { maxCallPayloadBytes } from "./limits.js";
import { unary } from "./serve.js";
import { effectiveTimeoutMs, requireKey, requirePayload, requirePurpose } from "./validate.js";

export function callHandler(ctx: OverlayContext): handleUnaryCall<CallRequest, CallResponse> {
  return unary(ctx, OverlayServiceService.call.path, async (request, call) => {
    const key = requireKey(request.key);
    const purpose = requirePurpose(request.purpose, ctx.limits);
    const payload = requirePayload(request.payload, maxCallPayloadBytes(ctx.limits));
    const timeoutMs = effectiveTimeoutMs(
      request.timeoutMs,
      ctx.limits.defaultCallTimeoutMs,
      call.getDeadline(),
    );
    const started = ctx.calls.start(key, purpose, payload, timeoutMs);
    const onCancelled = (): void => ctx.calls.abandon(started.callId);
    call.on("cancelled", onCancelled);
    try {
      const answer = await started.answer;
      return {
        payload: Buffer.from(answer.payload.buffer, answer.payload.byteOffset, answer.payload.byteLength),
        answeredBy: encodeNodeInfo(answer.answeredBy),
        hops: answer.hops,
      };
    } finally {
      call.off("cancelled", onCancelled);
    }
  });
}
