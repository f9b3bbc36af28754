// The routing core's contract: what goes into the state machine and what comes out.
// Nothing here touches sockets, timers, the wall clock or hidden randomness; the runtime
// (src/server) and the simulator (src/sim) both drive the same machine through these types.
import type { NodeId } from "./id.js";

/** Monotonic time in milliseconds, supplied by whoever drives the machine. Never wall-clock time. */
export type Millis = number;

/** What the overlay knows about a node: its identity and how to reach it. */
export interface NodeInfo {
  readonly id: NodeId;
  /** "host:port" used by peers in the same region. */
  readonly localAddress: string;
  /** "host:port" used by peers in other regions. */
  readonly globalAddress: string;
  /** Free-form region name; proximity to a peer in another region is scaled by a multiplier. */
  readonly region: string;
  /**
   * Chosen afresh (from the injected random source) each time a node starts. A different incarnation for a
   * known ID means the node restarted: the new one replaces the old one everywhere.
   */
  readonly incarnation: number;
}

/** Injected randomness: the only source the core may use. */
export interface RandomSource {
  /** A float in [0, 1). */
  next(): number;
}

/** Purposes 0..15 are reserved for the protocol; applications use 16 and above. */
export const FIRST_APPLICATION_PURPOSE = 16;

/** An application message routed hop by hop towards the node numerically closest to `key`. */
export interface RouteMessage {
  /** Unique per message, assigned once by the origin; a destination delivers a given id at most once. */
  readonly id: string;
  readonly key: NodeId;
  readonly purpose: number;
  readonly payload: Uint8Array;
  /** The node that first sent the message (the end-to-end acknowledgement goes back to it). */
  readonly origin: NodeInfo;
  /** Hops taken so far (0 at the origin). */
  readonly hops: number;
  /** Maximum hops allowed; a message that would exceed it is dropped with reason "ttl". */
  readonly maxHops: number;
  /**
   * When true, the delivering node sends an `ack` straight back to the origin: at delivery, or (with
   * RoutingConfig.applicationAcks) once its application acknowledged or refused the message.
   */
  readonly wantAck: boolean;
  /**
   * Which copy of a message that wants an ack this is: the origin numbers each hop it sends of its message
   * from 1 (HopDelivery.stampCopy), and nodes on the way pass it on. A node other than the origin that drops
   * a numbered copy tells the origin (an `ack` with `undelivered`). Absent or 0: an origin that takes no
   * such notice (an older version); none is sent.
   */
  readonly copy?: number;
}

/** Highest copy number (RouteMessage.copy, on the wire too); an origin sends far fewer copies of a message. */
export const MAX_MESSAGE_COPY = 65_536;

/** Drop reasons a node on a message's way tells its origin about (a drop notice): each says it went no further. */
export type NoticedDropReason = "ttl" | "undeliverable" | "queue_full";

/** Whether a drop for `reason` makes a drop notice ("unacknowledged" may have arrived; "duplicate" did). */
export function isNoticedDrop(reason: DropReason): reason is NoticedDropReason {
  return reason === "ttl" || reason === "undeliverable" || reason === "queue_full";
}

/**
 * Why a delivering node's application did not take a message. `code` is opaque to the core (the runtime uses
 * gRPC status codes); `reason` is for the sender.
 */
export interface Refusal {
  readonly code: number;
  readonly reason: string;
}

/** What a drop notice says: which copy of the message was dropped, and why. */
export interface DropNotice {
  readonly copy: number;
  readonly reason: NoticedDropReason;
}

/** One routing-table row as exchanged on the wire: sparse, by column. */
export interface RowEntries {
  readonly row: number;
  readonly entries: readonly NodeInfo[];
  /**
   * The sender's smoothed round-trip time (ms) to each entry, in the order of `entries`; undefined where it
   * has none. Only in answers to rowRequest (see PastryNode.outOfReach).
   */
  readonly rttMs?: readonly (number | undefined)[];
}

/** Node-to-node protocol messages. The sender's NodeInfo travels beside every message (see Envelope). */
export type PeerMessage =
  /** Routed towards `joiner.id`; every node on the path answers the joiner with `joinState`. */
  | { readonly type: "join"; readonly joiner: NodeInfo; readonly hops: number }
  /**
   * Sent straight to the joiner by each node on the join path: its routing-table rows up to the prefix it
   * shares with the joiner; the first node adds its neighbourhood set; the last (`final`) its leaf set.
   */
  | {
      readonly type: "joinState";
      readonly rows: readonly RowEntries[];
      readonly neighbours: readonly NodeInfo[];
      readonly leafSet: readonly NodeInfo[];
      readonly final: boolean;
    }
  /** Liveness and proximity probe. `joining` tells a leaf-set member the sender is joining next to it. */
  | { readonly type: "probe"; readonly sentAt: Millis; readonly joining: boolean }
  /**
   * Answer to a probe: echoes `sentAt` (so the prober measures round-trip time) and carries the leaf set;
   * to a prober just taken into that leaf set, also the deaths there lately (`removed`, as in `leafSet`).
   */
  | {
      readonly type: "probeReply";
      readonly echoSentAt: Millis;
      readonly leafSet: readonly NodeInfo[];
      readonly ready: boolean;
      /** Absent: none. */
      readonly removed?: readonly NodeId[];
    }
  /** A node that has become ready tells the nodes in its state to add it. */
  | { readonly type: "announce" }
  /** Periodic liveness signal to the sender's immediate leaf-set neighbour(s). */
  | { readonly type: "heartbeat" }
  /** Asks for the receiver's leaf set (leaf-set repair). */
  | { readonly type: "leafSetRequest" }
  /** A leaf set, as a reply to leafSetRequest or pushed after a change; `removed` lists nodes found dead. */
  | { readonly type: "leafSet"; readonly leafSet: readonly NodeInfo[]; readonly removed: readonly NodeId[] }
  /** Asks for one routing-table row (lazy routing-table repair). */
  | { readonly type: "rowRequest"; readonly row: number }
  | { readonly type: "row"; readonly row: RowEntries }
  /** One hop of an application message. */
  | { readonly type: "route"; readonly message: RouteMessage }
  /**
   * End-to-end acknowledgement, sent by the delivering node straight to the origin; with `refusal`, the
   * delivering node's application refused the message (the origin does not route it again). With
   * `undelivered` it is no acknowledgement but a drop notice: a node on the way dropped copy `copy` of the
   * message (RouteMessage.copy) for `reason` (never together with `refusal`).
   */
  | {
      readonly type: "ack";
      readonly messageId: string;
      readonly hops: number;
      readonly refusal?: Refusal;
      readonly undelivered?: DropNotice;
    }
  /** Graceful leave: the sender is going away; its leaf set helps the receiver repair at once. */
  | { readonly type: "leave"; readonly leafSet: readonly NodeInfo[] };

export type PeerMessageType = PeerMessage["type"];

/**
 * The message types whose failed sends a runtime reports to the core (PastryNode.sendFailed). A route hop to
 * reroute, a join to retry, a probe or heartbeat that says the peer may be gone, and messages the core sends
 * again (an end-to-end ack, a join state its joiner waits for, a leave notice while the leaver drains).
 * Other lost messages (a reply, a row, leaf-set gossip) say little about liveness under load, and treating
 * them as evidence fed storms of false deaths.
 */
const REPORTED_TYPES: ReadonlySet<PeerMessageType> = new Set<PeerMessageType>([
  "route",
  "join",
  "probe",
  "heartbeat",
  "ack",
  "joinState",
  "leave",
]);

/**
 * Whether a runtime reports the failed send of `message` to the core (PastryNode.sendFailed): a type in
 * REPORTED_TYPES, or a leaf-set message naming deaths, which the core sends again to a member still held
 * (notice-resends.ts; never as evidence against the receiver).
 */
export function isReportedFailure(message: PeerMessage): boolean {
  return REPORTED_TYPES.has(message.type) || (message.type === "leafSet" && message.removed.length > 0);
}

/**
 * The message types whose acknowledgement's round-trip time a runtime reports to the core
 * (PastryNode.reportRtt): calls it makes anyway, so the proximity they show costs no probe. A heartbeat
 * measures the predecessor; a probe reply measures the prober (the prober measures us from the reply, and we
 * it from the reply's acknowledgement: one exchange serves both, no probe back).
 */
export const MEASURED_ACKS: ReadonlySet<PeerMessageType> = new Set<PeerMessageType>([
  "heartbeat",
  "probeReply",
]);

/** A message to send. `to` is unknown only when contacting a seed by address before its ID is known. */
export interface Outbound {
  readonly to: NodeInfo | undefined;
  /** The address to use: the peer's local address when in our region, its global address otherwise. */
  readonly address: string;
  readonly message: PeerMessage;
  /**
   * A route hop sent again to the same node: how many sends of it there failed before (absent: none). The
   * runtime waits longer for its acknowledgement each time, as TCP backs off its retransmission timer.
   */
  readonly attempt?: number;
}

/**
 * Why the core dropped a route message. There is no "no route": a node with no better next hop is the
 * closest it knows of, and delivers. "undeliverable": no live node could take it (it surely did not
 * arrive where it was last sent). "unacknowledged": its live next hop never acknowledged it within its retry
 * window; it may well have arrived, so an origin waiting for its end-to-end ack keeps waiting.
 */
export type DropReason = "ttl" | "undeliverable" | "unacknowledged" | "queue_full" | "duplicate";

export type RoutingEvent =
  /** The node has a complete, confirmed leaf set and now accepts deliveries. */
  | { readonly type: "ready" }
  | { readonly type: "nodeJoined"; readonly node: NodeInfo }
  | { readonly type: "nodeExited"; readonly node: NodeInfo; readonly graceful: boolean }
  | { readonly type: "leafSetChanged"; readonly leafSet: readonly NodeInfo[] }
  | { readonly type: "heartbeat"; readonly from: NodeInfo }
  | { readonly type: "dropped"; readonly message: RouteMessage; readonly reason: DropReason }
  | {
      readonly type: "acked";
      readonly messageId: string;
      readonly deliveredBy: NodeInfo;
      readonly hops: number;
    }
  /** The delivering node's application refused our message (it is not routed again). */
  | {
      readonly type: "refused";
      readonly messageId: string;
      readonly refusedBy: NodeInfo;
      readonly refusal: Refusal;
    }
  /**
   * Our message will not be delivered: every copy of it we sent was reported dropped by a node on its way
   * (or surely never arrived), and no fresh copy is left to send. `droppedBy` sent the last notice.
   */
  | {
      readonly type: "undelivered";
      readonly messageId: string;
      readonly droppedBy: NodeInfo;
      readonly reason: NoticedDropReason;
    }
  /** The join could not complete through any seed within the join timeout. */
  | { readonly type: "joinFailed"; readonly reason: string };

export type Output =
  | { readonly type: "send"; readonly out: Outbound }
  /** Deliver to the local application: this node is the key's numerically closest live node. */
  | { readonly type: "deliver"; readonly message: RouteMessage }
  /** This node forwards `message` to `next` (the `send` output with the route message follows it). */
  | { readonly type: "forward"; readonly message: RouteMessage; readonly next: NodeInfo }
  | { readonly type: "event"; readonly event: RoutingEvent };

export interface RoutingConfig {
  /** l: leaf-set size, l/2 on each side. Default 32. */
  readonly leafSetSize: number;
  /** M: neighbourhood-set size. Default 32. */
  readonly neighbourhoodSize: number;
  /** How often a liveness heartbeat goes to the predecessor. Default 4000 ms. */
  readonly heartbeatIntervalMs: Millis;
  /** Silence from a neighbour for this long makes it suspect (it is then probed). Default 5000 ms. */
  readonly failureTimeoutMs: Millis;
  /** A probe unanswered for this long means the peer is dead. Default 500 ms. */
  readonly probeTimeoutMs: Millis;
  /** A join that has not completed in this long is retried through the next seed. Default 10000 ms. */
  readonly joinTimeoutMs: Millis;
  /** Proximity to a peer in another region is its round-trip time times this. Default 10. */
  readonly regionMultiplier: number;
  /** Prefer the nearer of two candidates for a table slot (Pastry's locality). Default true. */
  readonly proximityAware: boolean;
  /**
   * The pace of periodic table maintenance: a ready node asks a random entry of one routing-table row (rows in
   * turn) for that row and takes the nearer nodes it names (MSPastry's). The rounds self-tune to the failures
   * seen among the peers kept, between a quarter of this (heavy churn) and 8 times it (none seen).
   * Default 60000 ms; Infinity: never.
   */
  readonly tableMaintenanceIntervalMs: Millis;
  /** Hop limit for routed messages. Default 40. */
  readonly maxHops: number;
  /** Messages sent before the node is ready wait in a queue this long at most; beyond: dropped "queue_full". */
  readonly maxPendingMessages: number;
  /** How many delivered message IDs are remembered to suppress duplicates. Default 100000. */
  readonly dedupCapacity: number;
  /**
   * When true, the end-to-end ack of a delivered message that wants one waits for the input
   * applicationAcknowledged (or applicationRefused) from the runtime, which hears it from the application.
   * False (the default, for drivers without applications such as the simulator): the ack leaves at delivery.
   */
  readonly applicationAcks: boolean;
  /**
   * An input arriving this long after the previous tick means this node itself was paused (SIGSTOP, a
   * stalled process): its view is stale and peers may have routed around it, so it re-confirms its leaf set
   * before delivering again. The runtime, which ticks often, sets it; Infinity (the default) turns it off
   * for drivers whose clock jumps by design (tests that skip time).
   */
  readonly pauseThresholdMs: Millis;
  /**
   * When true, a node named by another (a gossiped leaf set, a row, a join state, a leaver's leaf set) enters
   * the routing table and neighbourhood set only once it has answered a probe itself, as it already must to
   * enter the leaf set: nothing is taken on someone else's word. The runtime sets it under per-node
   * identities, where an answer proves who gave it; false (the default, the simulator's): taken in at once.
   */
  readonly verifyLearnedNodes: boolean;
}

/**
 * The smallest leaf-set size a node may be configured with: two neighbours on each side, so that one failed
 * (or merely suspected) neighbour on a side leaves a live one there. With one per side, while that one is
 * down a node takes itself for the owner of keys the next node beyond is closer to, and the routing table
 * cannot reach that node (it shares a shorter prefix with those keys than this node does).
 */
export const MIN_LEAF_SET_SIZE = 4;

/** The largest leaf-set size the core accepts (64 per side): every probe reply and leaf-set push carries l nodes. */
export const MAX_LEAF_SET_SIZE = 128;

/** Why leaf sets smaller than MIN_LEAF_SET_SIZE are refused (for configuration errors). */
export const MIN_LEAF_SET_SIZE_REASON =
  "at least 4 (2 per side) so that routing survives one failed neighbour on each side; with 1 per side a single failure makes a node deliver keys a live neighbour is closer to";

export const DEFAULT_ROUTING_CONFIG: RoutingConfig = {
  leafSetSize: 32,
  neighbourhoodSize: 32,
  // At rest a node sends about 0.25 maintenance messages per second (0.2 heartbeats, 0.02-0.04 leaf-set
  // pushes with gossip every 6 beats, every 12 when unchanged). A crashed process is found from broken
  // connections and refused sends, not from the failure timeout, which only a host that went silent waits
  // out; one heartbeat per failure timeout less a second of slack. At 10,000 simulated nodes with 30-minute
  // sessions (deadline ticks) a 4 s heartbeat cost 0.527 control messages per node per second, 5 s 0.479,
  // stretch 1.608 and 1.609 (2.5 s cost 0.15 more than 4 s at 1,000 nodes).
  heartbeatIntervalMs: 5000,
  failureTimeoutMs: 6000,
  probeTimeoutMs: 500,
  joinTimeoutMs: 10_000,
  regionMultiplier: 10,
  proximityAware: true,
  tableMaintenanceIntervalMs: 60_000,
  maxHops: 40,
  maxPendingMessages: 10_000,
  dedupCapacity: 100_000,
  applicationAcks: false,
  pauseThresholdMs: Number.POSITIVE_INFINITY,
  verifyLearnedNodes: false,
};
