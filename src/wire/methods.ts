// One table from the routing core's message kinds to PeerService RPCs, used by both client and server side.
import type { PeerMessageType } from "../routing/types.js";
import { PeerServiceService } from "../gen/wendy/v1/peer.js";

/** The keys of the generated PeerService definition/client/server that carry one protocol message kind. */
export type PeerMethod =
  | "join"
  | "joinState"
  | "probe"
  | "probeReply"
  | "announce"
  | "heartbeat"
  | "requestLeafSet"
  | "shareLeafSet"
  | "requestRow"
  | "shareRow"
  | "route"
  | "ack"
  | "leave";

export const PEER_METHOD_BY_TYPE: Readonly<Record<PeerMessageType, PeerMethod>> = {
  join: "join",
  joinState: "joinState",
  probe: "probe",
  probeReply: "probeReply",
  announce: "announce",
  heartbeat: "heartbeat",
  leafSetRequest: "requestLeafSet",
  leafSet: "shareLeafSet",
  rowRequest: "requestRow",
  row: "shareRow",
  route: "route",
  ack: "ack",
  leave: "leave",
};

export const PEER_TYPE_BY_METHOD: Readonly<Record<PeerMethod, PeerMessageType>> = Object.fromEntries(
  Object.entries(PEER_METHOD_BY_TYPE).map(([type, method]) => [method, type]),
) as Record<PeerMethod, PeerMessageType>;

export const PEER_METHODS: readonly PeerMethod[] = Object.values(PEER_METHOD_BY_TYPE);

/** The RPC key (in PeerServiceService / PeerServiceClient) for a message kind. */
export function peerMethodFor(type: PeerMessageType): PeerMethod {
  return PEER_METHOD_BY_TYPE[type];
}

/** The full gRPC path of a message kind's RPC, e.g. "/wendy.v1.PeerService/RequestLeafSet" (for metrics). */
export function peerRpcPath(type: PeerMessageType): string {
  return PeerServiceService[PEER_METHOD_BY_TYPE[type]].path;
}
