// What the simulator needs from a routing state machine: the PastryNode API plus a table-size reading, so
// the engine depends only on the routing contract (types.ts); pastry.ts adapts the real PastryNode to it.
import type { NodeId } from "../routing/id.js";
import type {
  Millis,
  NodeInfo,
  Output,
  Outbound,
  PeerMessage,
  RandomSource,
  RoutingConfig,
} from "../routing/types.js";

export interface RoutingMachine {
  bootstrap(now: Millis): void;
  join(seedAddresses: string[], now: Millis): void;
  receive(from: NodeInfo, msg: PeerMessage, now: Millis): void;
  send(key: NodeId, purpose: number, payload: Uint8Array, options: { wantAck: boolean }, now: Millis): string;
  sendFailed(out: Outbound, now: Millis): void;
  tick(now: Millis): void;
  leave(now: Millis): void;
  takeOutputs(): Output[];
  isReady(): boolean;
  leafSet(): readonly NodeInfo[];
  neighbourhood(): readonly NodeInfo[];
  /** The routing table, row by row (32 rows of 16 columns; undefined: an empty slot). */
  routingTable(): ReadonlyArray<ReadonlyArray<NodeInfo | undefined>>;
  /** Number of routing-table entries (the adapter reads it from the machine's table). */
  routingTableSize(): number;
}

export type MachineFactory = (
  self: NodeInfo,
  options: { random: RandomSource; config: Partial<RoutingConfig> },
) => RoutingMachine;
