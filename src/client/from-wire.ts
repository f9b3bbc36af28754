// The node's answers (generated wire messages) as the client's plain types; a malformed answer is an
// INTERNAL WendyClientError, never a crash.
import { status } from "@grpc/grpc-js";
import { clockwiseDistance } from "../routing/id.js";
import type { KeyRange } from "../routing/ownership.js";
import {
  OwnershipChangeKind,
  type StatusResponse,
  type SubscribeResponse,
  type WatchEventsResponse,
  type WatchOwnershipResponse,
} from "../gen/wendy/v1/overlay.js";
import type { NodeInfo as WireNodeInfo } from "../gen/wendy/v1/types.js";
import type { Delivery, OverlayEvent, OwnershipUpdate, StatusResult } from "./client-types.js";
import { fromWireNode, keyFromBytes } from "./convert.js";
import { WendyClientError } from "./errors.js";

export function toDelivery(r: SubscribeResponse): Delivery {
  const delivery = {
    key: keyFromBytes(r.key),
    purpose: r.purpose,
    payload: new Uint8Array(r.payload),
    messageId: r.messageId,
    origin: fromWireNode(r.origin, "origin"),
    hops: r.hops,
  };
  return r.callId === "" ? delivery : { ...delivery, callId: r.callId };
}

export function toStatus(r: StatusResponse): StatusResult {
  const nodes = (list: readonly WireNodeInfo[], field: string) =>
    list.map((n, i) => fromWireNode(n, `${field}[${i}]`));
  return {
    self: fromWireNode(r.self, "self"),
    ready: r.ready,
    leafSetLeft: nodes(r.leafSetLeft, "leaf_set_left"),
    leafSetRight: nodes(r.leafSetRight, "leaf_set_right"),
    routingTable: r.routingTable.map((row) => ({
      row: row.row,
      entries: nodes(row.entries, "routing_table"),
    })),
    neighbourhood: nodes(r.neighbourhood, "neighbourhood"),
    peerCount: r.peerCount,
    subscriberCount: r.subscriberCount,
    undeliveredNoSubscriber: r.undeliveredNoSubscriber,
  };
}

function toRange(first: Uint8Array, last: Uint8Array): KeyRange {
  const [from, to] = [keyFromBytes(first), keyFromBytes(last)];
  // first = last + 1 is the whole ring: 2^128 - 1 steps apart, 2^128 keys.
  return { first: from, last: to, size: clockwiseDistance(from, to) + 1n };
}

export function toOwnershipUpdate(r: WatchOwnershipResponse): OwnershipUpdate {
  return {
    epoch: r.epoch,
    self: fromWireNode(r.self, "self"),
    range: toRange(r.first, r.last),
    ...(r.left === undefined ? {} : { left: fromWireNode(r.left, "left") }),
    ...(r.right === undefined ? {} : { right: fromWireNode(r.right, "right") }),
    changes: r.changes.map((c, i) => {
      if (
        c.kind !== OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_GAINED &&
        c.kind !== OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_LOST
      ) {
        throw new WendyClientError(
          `the node sent changes[${i}] of an unknown kind ${c.kind}`,
          status.INTERNAL,
        );
      }
      return {
        kind: c.kind === OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_GAINED ? "gained" : "lost",
        range: toRange(c.first, c.last),
        neighbour: fromWireNode(c.neighbour, `changes[${i}].neighbour`),
      };
    }),
  };
}

export function toEvent(r: WatchEventsResponse): OverlayEvent {
  const e = r.event;
  switch (e?.$case) {
    case "nodeJoined":
      return { type: "nodeJoined", node: fromWireNode(e.nodeJoined.node, "node") };
    case "nodeExited":
      return {
        type: "nodeExited",
        node: fromWireNode(e.nodeExited.node, "node"),
        graceful: e.nodeExited.graceful,
      };
    case "leafSetChanged":
      return {
        type: "leafSetChanged",
        leafSet: e.leafSetChanged.leafSet.map((n, i) => fromWireNode(n, `leaf_set[${i}]`)),
      };
    case "heartbeat":
      return { type: "heartbeat", from: fromWireNode(e.heartbeat.from, "from") };
    case "forwardRequest": {
      const f = e.forwardRequest;
      return {
        type: "forwardRequest",
        forwardId: f.forwardId,
        messageId: f.messageId,
        key: keyFromBytes(f.key),
        purpose: f.purpose,
        payload: new Uint8Array(f.payload),
        origin: fromWireNode(f.origin, "origin"),
        hops: f.hops,
        next: fromWireNode(f.next, "next"),
      };
    }
    case undefined:
      throw new Error("the node sent an event of a kind this client does not know");
  }
}
