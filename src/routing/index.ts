// The routing core's public surface: the state machine and the pieces it is built from.
export * from "./id.js";
export * from "./types.js";
export {
  PastryNode,
  type NodeStatus,
  type PastryNodeOptions,
  type PastryNodeStats,
  type PastrySendOptions,
} from "./node.js";
export {
  ReservedPurposeError,
  nextHop,
  nextHopAfterFailure,
  type Avoid,
  type RoutingState,
} from "./router.js";
export { LeafSet } from "./leaf-set.js";
export { RoutingTable, type TableInsertResult } from "./routing-table.js";
export { NeighbourhoodSet } from "./neighbourhood-set.js";
export { ProximityStore, addressFor } from "./proximity.js";
export {
  divideRing,
  ownedRange,
  ownershipChanges,
  ownershipOf,
  rangeHas,
  sameRange,
  type KeyRange,
  type Ownership,
  type OwnershipChange,
} from "./ownership.js";
