// Membership changes in the daemon's log, so an operator (and the tests) can follow the ring from any node.
import type { NodeInfo } from "../../routing/types.js";
import type { Application } from "../application.js";
import type { Logger } from "./logger.js";

export const LOG_NODE_JOINED = "peer joined";
export const LOG_NODE_LEFT = "peer left";

export function membershipLog(log: Logger): Application {
  const peer = (node: NodeInfo): object => ({ peer: node.id.hex, peerAddress: node.localAddress });
  return {
    onNodeJoin: (node) => log.info(peer(node), LOG_NODE_JOINED),
    onNodeExit: (node) => log.info(peer(node), LOG_NODE_LEFT),
    onNewLeaves: (leaves) => log.debug({ leafSet: leaves.map((n) => n.id.hex) }, "leaf set changed"),
    onError: (error) => log.warn({ err: error.message }, "runtime error"),
  };
}
