// Call: a request routed to the key's owner, answered there by a subscriber through Reply.
import type { handleUnaryCall } from "@grpc/grpc-js";
import { OverlayServiceService, type CallRequest, type CallResponse } from "../../gen/wendy/v1/overlay.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { CallAnswer } from "./calls.js";
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
    let callId = "";
    // A refusal before routing (start throws) rejects this promise, as it fails the call.
    const answered = new Promise<CallAnswer>((resolve, reject) => {
      callId = ctx.calls.start(key, purpose, payload, timeoutMs, { resolve, reject });
    });
    const onCancelled = (): void => ctx.calls.abandon(callId);
    call.on("cancelled", onCancelled);
    try {
      const answer = await answered;
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
