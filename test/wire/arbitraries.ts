// fast-check generators for the routing core's wire-visible types.
import fc from "fast-check";
import { DIGIT_BASE, ID_BITS, ID_DIGITS, NodeId } from "../../src/routing/id.js";
import {
  MAX_MESSAGE_COPY,
  type NodeInfo,
  type PeerMessage,
  type RouteMessage,
  type RowEntries,
} from "../../src/routing/types.js";

export const nodeIdArb: fc.Arbitrary<NodeId> = fc
  .bigInt({ min: 0n, max: (1n << BigInt(ID_BITS)) - 1n })
  .map((v) => NodeId.fromBigInt(v));

const hostArb = fc.oneof(fc.ipV4(), fc.constantFrom("localhost", "[::1]", "wendy-3.wendy.default.svc"));
const addressArb = fc.tuple(hostArb, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`);

export const nodeInfoArb: fc.Arbitrary<NodeInfo> = fc.record({
  id: nodeIdArb,
  localAddress: addressArb,
  globalAddress: addressArb,
  region: fc.string({ maxLength: 20 }),
  incarnation: fc.maxSafeNat(),
});

const nodesArb = (maxLength: number): fc.Arbitrary<NodeInfo[]> => fc.array(nodeInfoArb, { maxLength });

const millisArb = fc.double({ min: 0, max: 1e12, noNaN: true, noDefaultInfinity: true });
const hopsArb = fc.integer({ min: 0, max: 1024 });
const messageIdArb = fc.string({ minLength: 1, maxLength: 40 });
const copyArb = fc.integer({ min: 1, max: MAX_MESSAGE_COPY });

export const rowEntriesArb: fc.Arbitrary<RowEntries> = fc.record({
  row: fc.integer({ min: 0, max: ID_DIGITS - 1 }),
  entries: nodesArb(DIGIT_BASE),
});

/** Whole microseconds, as the wire carries them; undefined for an entry the sender has not measured. */
const rttMsArb = fc.option(
  fc.integer({ min: 1, max: 0xffff_ffff }).map((us) => us / 1000),
  { nil: undefined },
);

/** A shared row, with the sender's round-trip time to each entry or without any (as an empty row is). */
const sharedRowArb: fc.Arbitrary<RowEntries> = rowEntriesArb.chain((row) =>
  row.entries.length === 0
    ? fc.constant(row)
    : fc.oneof(
        fc.constant(row),
        fc
          .array(rttMsArb, { minLength: row.entries.length, maxLength: row.entries.length })
          .map((rttMs) => ({ ...row, rttMs })),
      ),
);

export const routeMessageArb: fc.Arbitrary<RouteMessage> = fc.record(
  {
    id: messageIdArb,
    key: nodeIdArb,
    purpose: fc.integer({ min: 0, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 256 }),
    origin: nodeInfoArb,
    hops: hopsArb,
    maxHops: hopsArb,
    wantAck: fc.boolean(),
    copy: copyArb,
  },
  { requiredKeys: ["id", "key", "purpose", "payload", "origin", "hops", "maxHops", "wantAck"] },
);

/** One generator per PeerMessage variant, so each variant can be checked on its own. */
export const peerMessageArbs: Readonly<Record<PeerMessage["type"], fc.Arbitrary<PeerMessage>>> = {
  join: fc.record({ type: fc.constant("join" as const), joiner: nodeInfoArb, hops: hopsArb }),
  joinState: fc.record({
    type: fc.constant("joinState" as const),
    rows: fc.array(rowEntriesArb, { maxLength: 4 }),
    neighbours: nodesArb(6),
    leafSet: nodesArb(6),
    final: fc.boolean(),
  }),
  probe: fc.record({ type: fc.constant("probe" as const), sentAt: millisArb, joining: fc.boolean() }),
  probeReply: fc.record({
    type: fc.constant("probeReply" as const),
    echoSentAt: millisArb,
    leafSet: nodesArb(6),
    ready: fc.boolean(),
    removed: fc.array(nodeIdArb, { maxLength: 4 }),
  }),
  announce: fc.constant({ type: "announce" as const }),
  heartbeat: fc.constant({ type: "heartbeat" as const }),
  leafSetRequest: fc.constant({ type: "leafSetRequest" as const }),
  leafSet: fc.record({
    type: fc.constant("leafSet" as const),
    leafSet: nodesArb(6),
    removed: fc.array(nodeIdArb, { maxLength: 4 }),
  }),
  rowRequest: fc.record({
    type: fc.constant("rowRequest" as const),
    row: fc.integer({ min: 0, max: ID_DIGITS - 1 }),
  }),
  row: fc.record({ type: fc.constant("row" as const), row: sharedRowArb }),
  route: fc.record({ type: fc.constant("route" as const), message: routeMessageArb }),
  ack: fc.oneof(
    fc.record(
      {
        type: fc.constant("ack" as const),
        messageId: messageIdArb,
        hops: hopsArb,
        refusal: fc.record({ code: fc.integer({ min: 1, max: 16 }), reason: fc.string({ maxLength: 1024 }) }),
      },
      { requiredKeys: ["type", "messageId", "hops"] },
    ),
    // A drop notice: never with a refusal.
    fc.record({
      type: fc.constant("ack" as const),
      messageId: messageIdArb,
      hops: hopsArb,
      undelivered: fc.record({
        copy: copyArb,
        reason: fc.constantFrom("ttl" as const, "undeliverable" as const, "queue_full" as const),
      }),
    }),
  ),
  leave: fc.record({ type: fc.constant("leave" as const), leafSet: nodesArb(6) }),
};

export const peerMessageArb: fc.Arbitrary<PeerMessage> = fc.oneof(...Object.values(peerMessageArbs));
