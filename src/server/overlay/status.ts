// Status: a snapshot of this node's routing state, its subscribers and what nobody subscribed to.
import type { handleUnaryCall } from "@grpc/grpc-js";
import {
  OverlayServiceService,
  type StatusRequest,
  type StatusResponse,
} from "../../gen/wendy/v1/overlay.js";
import type { RowEntries } from "../../gen/wendy/v1/types.js";
import type { NodeInfo } from "../../routing/types.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import type { OverlayContext } from "./context.js";
import { unary } from "./serve.js";

export function statusHandler(ctx: OverlayContext): handleUnaryCall<StatusRequest, StatusResponse> {
  return unary(ctx, OverlayServiceService.status.path, () => {
    const { cluster } = ctx;
    const leaves = cluster.leafSet();
    return {
      self: encodeNodeInfo(cluster.info()),
      ready: cluster.ready,
      leafSetLeft: leaves.left.map(encodeNodeInfo),
      leafSetRight: leaves.right.map(encodeNodeInfo),
      routingTable: filledRows(cluster.routingTable()),
      neighbourhood: cluster.neighbourhood().map(encodeNodeInfo),
      peerCount: cluster.knownPeers().length,
      subscriberCount: ctx.deliveries.count,
      undeliveredNoSubscriber: ctx.deliveries.undeliveredCount,
    };
  });
}

function filledRows(table: ReadonlyArray<ReadonlyArray<NodeInfo | undefined>>): RowEntries[] {
  const rows: RowEntries[] = [];
  table.forEach((row, index) => {
    const entries = row.filter((n): n is NodeInfo => n !== undefined);
    if (entries.length > 0)
      rows.push({ row: index, entries: entries.map(encodeNodeInfo), roundTripMicros: [] });
  });
  return rows;
}
