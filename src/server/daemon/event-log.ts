// Membership changes in the daemon's log, so an operator (and the tests) can follow the ring from any node.
// Like every warning or error line of the daemon, each names its event and the peer it concerns (null when
// none), so lines can be filtered by either.
import type { NodeInfo } from "../../routing/types.js";
import type { Application } from "../application.js";
import type { Logger } from "./logger.js";

export const LOG_NODE_JOINED = "peer joined";
export const LOG_NODE_LEFT = "peer left";

export function membershipLog(log: Logger): Application {
  const peer = (node: NodeInfo): object => ({ peer: node.id.hex, peerAddress: node.localAddress });
  return {
    onNodeJoin: (node) => log.info({ event: "peer_joined", ...peer(node) }, LOG_NODE_JOINED),
    // A peer found dead is worth a warning; one that said goodbye is not.
    onNodeExit: (node, graceful) =>
      graceful
        ? log.info({ event: "peer_left", ...peer(node), graceful }, LOG_NODE_LEFT)
        : log.warn({ event: "peer_failed", ...peer(node), graceful }, LOG_NODE_LEFT),
    onNewLeaves: (leaves) =>
      log.debug({ event: "leaf_set_changed", leafSet: leaves.map((n) => n.id.hex) }, "leaf set changed"),
    onError: (error) => log.warn({ event: "runtime_error", peer: null, err: error.message }, "runtime error"),
  };
}
