// A simulated node as the simulator sees it from outside the routing core: its host, its machine and where
// it is in its life (joining, ready, crashed, left).
import type { NodeInfo } from "../routing/types.js";
import type { RoutingMachine } from "./machine.js";

/** "joinFailed": the machine gave up joining (a joinFailed event); the process is still up but not ready. */
export type NodeState = "joining" | "ready" | "joinFailed" | "crashed" | "left";

/**
 * How a node stops without saying goodbye. "process": the process died but its host is up, so a connection
 * to it is refused one round trip later (the sender learns "unreachable": it surely never arrived), and the
 * peers holding an open connection to it (its leaf-set neighbours, which talk to it all the time) see that
 * connection break one hop later (connectionLost, as the runtime's connection pool reports it). "host": the
 * machine or its network went silent, so a send only times out (hopTimeoutMs, cause "unknown").
 */
export type CrashKind = "process" | "host";

export interface SimNode {
  readonly index: number;
  readonly info: NodeInfo;
  /**
   * Its routing machine; once the node has crashed or left, a stand-in that throws on any use (the
   * simulator never calls a stopped node's machine, and releasing it keeps memory to the live nodes: a
   * churn run at 10,000 nodes with 5-minute sessions sees about 100,000 departures).
   */
  machine: RoutingMachine;
  state: NodeState;
  readonly createdAt: number;
  readyAt: number | undefined;
  /** When it crashed or left (undefined while live). */
  endedAt: number | undefined;
  /**
   * A node that left drains its own calls until then, as a stopping daemon does within its grace: their
   * failures still reach its machine (which sends a failed leave notice again). Undefined otherwise.
   */
  drainsUntil: number | undefined;
  crashKind: CrashKind | undefined;
}

/** How a joining node picks the live node it contacts first. */
export type SeedSelection =
  | { readonly kind: "random" }
  /** The nearest of a few random live nodes, as a node would find with a local discovery (Pastry's "nearby node"). */
  | { readonly kind: "nearestOfSample"; readonly sample: number };

/** A node that left and still drains its calls at `now` (see SimNode.drainsUntil). */
export function isDraining(node: SimNode, now: number): boolean {
  return node.drainsUntil !== undefined && now < node.drainsUntil;
}

/** The process is up (ready or not): it still receives, ticks and sends. */
export function isLive(node: SimNode): boolean {
  return node.state === "joining" || node.state === "ready" || node.state === "joinFailed";
}
