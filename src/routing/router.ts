// The Pastry routing procedure (paper section 2.2), as a pure function of the node's state.
import { ID_DIGITS, isCloser, type NodeId } from "./id.js";
import type { LeafSet } from "./leaf-set.js";
import type { NeighbourhoodSet } from "./neighbourhood-set.js";
import type { RoutingTable } from "./routing-table.js";
import { FIRST_APPLICATION_PURPOSE, type NodeInfo } from "./types.js";

export class ReservedPurposeError extends Error {
  override readonly name = "ReservedPurposeError";
  constructor(purpose: number) {
    super(
      `purpose ${purpose} is reserved for the protocol; applications use ${FIRST_APPLICATION_PURPOSE} and above`,
    );
  }
}

export function assertApplicationPurpose(purpose: number): void {
  if (!Number.isInteger(purpose) || purpose < FIRST_APPLICATION_PURPOSE)
    throw new ReservedPurposeError(purpose);
}

export interface RoutingState {
  readonly self: NodeInfo;
  readonly leafSet: LeafSet;
  readonly table: RoutingTable;
  readonly neighbourhood: NeighbourhoodSet;
}

/** Peers to route around: suspected ones, and (for a join) any node holding the joiner's own ID. */
export interface Avoid {
  readonly suspects: ReadonlySet<string>;
  readonly idHex: string | undefined;
}

const NOTHING_TO_AVOID: Avoid = { suspects: new Set(), idHex: undefined };

function avoided(avoid: Avoid, node: NodeInfo): boolean {
  return avoid.suspects.has(node.id.hex) || node.id.hex === avoid.idHex;
}

/**
 * The next hop for `key`, or undefined when this node is where the key is delivered.
 * (1) Key within the leaf set's range: the closest of leaf set and self. (2) Otherwise the table entry
 * R[l][D_l], l the prefix shared by key and self. (3) Otherwise (rare case) the known node closest to the key
 * among those sharing at least l digits with it and strictly closer to it than self. In case (1), when self is
 * the closest of the leaf set, a known node outside it that is closer still is taken (see closerOutsideLeafSet).
 */
export function nextHop(
  state: RoutingState,
  key: NodeId,
  avoid: Avoid = NOTHING_TO_AVOID,
): NodeInfo | undefined {
  const { self, leafSet, table, neighbourhood } = state;
  if (leafSet.inRange(key)) {
    const best = leafSet.closest(key, avoid.suspects, avoid.idHex);
    return best === self ? closerOutsideLeafSet(state, key, avoid) : best;
  }
  const shared = self.id.commonPrefixLength(key);
  if (shared >= ID_DIGITS) return undefined;
  const entry = table.get(shared, key.digit(shared));
  if (entry !== undefined && !avoided(avoid, entry)) return entry;
  // A suspect holder: the slot's runner-up (see RoutingTable.backup) makes the same progress from near us.
  const backup = table.backup(shared, key.digit(shared));
  if (backup !== undefined && !avoided(avoid, backup)) return backup;

  let best: NodeInfo | undefined;
  const consider = (node: NodeInfo): void => {
    if (avoided(avoid, node) || node.id.commonPrefixLength(key) < shared) return;
    if (!isCloser(key, node.id, (best ?? self).id)) return;
    best = node;
  };
  for (const node of leafSet.members()) consider(node);
  table.forEachFromRow(shared, consider);
  for (const node of neighbourhood.members()) consider(node);
  return best;
}

/**
 * A known, unavoided node outside the leaf set that is closer to `key` than self, the closest such; undefined
 * in a correct leaf set (every node between self and the members bracketing the key is a member). A side can
 * have a hole, though: after its near members left, a far node that talked to us fills the short side at
 * once while the nearer nodes named in the leave notices are still being probed, so the range looks covered.
 * Delivering at self then would deliver at a node that is not the closest live one; the closer node routes on
 * with its own leaf set instead.
 */
function closerOutsideLeafSet(state: RoutingState, key: NodeId, avoid: Avoid): NodeInfo | undefined {
  let best: NodeInfo | undefined;
  const consider = (node: NodeInfo): void => {
    if (avoided(avoid, node) || state.leafSet.has(node.id.hex)) return;
    if (isCloser(key, node.id, (best ?? state.self).id)) best = node;
  };
  state.table.forEachFromRow(0, consider);
  for (const node of state.neighbourhood.members()) consider(node);
  return best;
}

/**
 * The hop for a message whose previous hop from here failed. When the normal choice shares one more digit
 * with the key than self and `trusted` says so (a measured table entry: the slot's new holder or runner-up,
 * near us), it is taken: the detour then costs nothing. Under churn at 10,000 simulated nodes a fifth of the
 * messages met a dead table entry, and going around it through a leaf-set member was half the stretch above
 * ideal tables. Table entries are only checked lazily, so that choice may be just as dead: the caller trusts
 * it on the first detour only. Otherwise, when the normal choice is not a leaf-set member (those are watched
 * continuously), a leaf-set member that still makes progress (shares at least as many digits with the key
 * as self, and is strictly closer) is taken: the nearest such by `proximityOf` (unmeasured ones last, then
 * the closest to the key). Any of them goes on from the same prefix level with its own table, so the detour
 * costs the one hop to it; a leaf set's members lie anywhere in the network.
 */
export function nextHopAfterFailure(
  state: RoutingState,
  key: NodeId,
  avoid: Avoid,
  proximityOf: (node: NodeInfo) => number | undefined = () => undefined,
  trusted: (node: NodeInfo) => boolean = () => false,
): NodeInfo | undefined {
  const primary = nextHop(state, key, avoid);
  if (primary === undefined || state.leafSet.has(primary.id.hex)) return primary;
  const shared = state.self.id.commonPrefixLength(key);
  if (primary.id.commonPrefixLength(key) > shared && trusted(primary)) return primary;
  let best: NodeInfo | undefined;
  let bestProximity = Number.POSITIVE_INFINITY;
  for (const node of state.leafSet.members()) {
    if (avoided(avoid, node) || node.id.commonPrefixLength(key) < shared) continue;
    if (!isCloser(key, node.id, state.self.id)) continue;
    const proximity = proximityOf(node) ?? Number.POSITIVE_INFINITY;
    if (
      best === undefined ||
      proximity < bestProximity ||
      (proximity === bestProximity && isCloser(key, node.id, best.id))
    ) {
      best = node;
      bestProximity = proximity;
    }
  }
  return best ?? primary;
}
