// What the simulator drives: the routing core's PastryNode through the very methods the runtime calls
// (src/server/cluster.ts), failure causes included, so every path the runtime can take is simulated. A
// picked view of the class rather than a parallel interface: nothing to keep in step by hand.
import type { PastryNode, PastryNodeOptions } from "../routing/node.js";
import type { NodeInfo } from "../routing/types.js";

export type RoutingMachine = Pick<
  PastryNode,
  | "bootstrap"
  | "join"
  | "receive"
  | "send"
  | "sendFailed"
  | "connectionLost"
  | "reportRtt"
  | "tick"
  | "nextTickAt"
  | "leave"
  | "takeOutputs"
  | "isReady"
  | "leafSet"
  | "replicas"
  | "replicaCandidates"
  | "neighbourhood"
  | "routingTable"
  | "stats"
>;

export type MachineFactory = (self: NodeInfo, options: PastryNodeOptions) => RoutingMachine;

/** A machine's leaf set as one list (left side, then right). */
export function leafSetMembers(machine: RoutingMachine): NodeInfo[] {
  const { left, right } = machine.leafSet();
  return [...left, ...right];
}

/**
 * What a stopped node's machine is replaced by: every call throws, naming the node. Nothing may ask a
 * crashed or departed node anything; if something does, the run stops loudly instead of reading a state
 * that was released.
 */
export function releasedMachine(index: number): RoutingMachine {
  const stopped = (): never => {
    throw new Error(`simulated node ${index} has stopped: its routing machine was released`);
  };
  return {
    bootstrap: stopped,
    join: stopped,
    receive: stopped,
    send: stopped,
    sendFailed: stopped,
    connectionLost: stopped,
    reportRtt: stopped,
    tick: stopped,
    nextTickAt: stopped,
    leave: stopped,
    takeOutputs: stopped,
    isReady: stopped,
    leafSet: stopped,
    replicas: stopped,
    replicaCandidates: stopped,
    neighbourhood: stopped,
    routingTable: stopped,
    stats: stopped,
  };
}
