// DecideForward: a watcher's answer to a forward_request.
import { status, type handleUnaryCall } from "@grpc/grpc-js";
import {
  ForwardAction,
  OverlayServiceService,
  type DecideForwardRequest,
  type DecideForwardResponse,
} from "../../gen/wendy/v1/overlay.js";
import type { OverlayContext } from "./context.js";
import { invalidArgument, OverlayRpcError } from "./rpc-error.js";
import { unary } from "./serve.js";
import { requirePayload } from "./validate.js";

const KNOWN_ACTIONS = new Set<number>([
  ForwardAction.FORWARD_ACTION_UNSPECIFIED,
  ForwardAction.FORWARD_ACTION_CONTINUE,
  ForwardAction.FORWARD_ACTION_VETO,
  ForwardAction.FORWARD_ACTION_MODIFY,
]);

export function decideForwardHandler(
  ctx: OverlayContext,
): handleUnaryCall<DecideForwardRequest, DecideForwardResponse> {
  return unary(ctx, OverlayServiceService.decideForward.path, (request) => {
    if (request.forwardId === "") throw invalidArgument("forward_id: required (copy it from the event)");
    if (!KNOWN_ACTIONS.has(request.action)) throw invalidArgument(`action: unknown value ${request.action}`);
    const payload = requirePayload(request.payload, ctx.limits.maxPayloadBytes);
    if (!ctx.watchers.settle(request.forwardId, request.action, payload)) {
      throw new OverlayRpcError(
        status.NOT_FOUND,
        `forward ${JSON.stringify(request.forwardId.slice(0, 64))} is not waiting: unknown, decided or timed out`,
      );
    }
    return {};
  });
}
