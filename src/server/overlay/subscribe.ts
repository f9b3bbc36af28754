// Subscribe (deprecated, kept for existing clients): a copy of every delivery of the given purposes, until
// the client cancels. It cannot acknowledge; see DeliveryHub for what a write to it counts as.
import { Metadata, type handleServerStreamingCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type SubscribeRequest,
  type SubscribeResponse,
} from "../../gen/wendy/v1/overlay.js";
import { BoundedStream } from "./bounded-stream.js";
import type { OverlayContext } from "./context.js";
import { toSubscribeResponse, type Subscriber } from "./deliveries.js";
import { resourceExhausted } from "./rpc-error.js";
import { serverStream } from "./serve.js";
import { requirePurposes } from "./validate.js";

export function subscribeHandler(
  ctx: OverlayContext,
): handleServerStreamingCall<SubscribeRequest, SubscribeResponse> {
  return serverStream(ctx, OverlayServiceService.subscribe.path, (call, finished) => {
    ctx.requireLocalClient("Subscribe", call.getPeer());
    const purposes = requirePurposes(call.request.purposes, ctx.limits, "purposes", false);
    if (ctx.deliveries.count >= ctx.limits.maxSubscribers) {
      throw resourceExhausted(`this node already has ${ctx.deliveries.count} subscribers`);
    }
    const stream = new BoundedStream<SubscribeResponse>(
      call,
      { ...ctx.limits, queuedBytes: ctx.queuedBytes },
      "subscriber",
      (code) => {
        ctx.deliveries.detach(subscriber);
        finished(code);
      },
    );
    const subscriber: Subscriber = {
      purposes,
      kind: "legacy",
      group: "",
      maxUnacknowledged: 0,
      write: (delivery) => stream.push(toSubscribeResponse(delivery), delivery.payload.byteLength),
      end: () => stream.end(),
    };
    ctx.deliveries.attach(subscriber);
    // Response headers say the subscription is live: deliveries from now on reach this stream.
    call.sendMetadata(new Metadata());
  });
}
