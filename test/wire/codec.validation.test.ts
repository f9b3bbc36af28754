// Each decoding rule, one by one: a valid request with a single field spoiled is refused with a clear error.
import { describe, expect, it } from "vitest";
import type * as peer from "../../src/gen/wendy/v1/peer.js";
import type * as wire from "../../src/gen/wendy/v1/types.js";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, RouteMessage } from "../../src/routing/types.js";
import {
  DEFAULT_WIRE_LIMITS,
  decodePeerRequest,
  decodePeerRequestBytes,
  decodeResponseAcks,
  decodeRouteBatch,
  encodeAck,
  encodeNodeInfo,
  encodePeerMessage,
  encodeRouteBatch,
  encodeRouteMessage,
  grpcMessageSizeLimit,
  WireFormatError,
  type PeerRequest,
} from "../../src/wire/index.js";

const sender: NodeInfo = {
  id: NodeId.fromString("sender"),
  localAddress: "10.0.0.1:7000",
  globalAddress: "wendy.example.org:7000",
  region: "eu",
  incarnation: 42,
};

const message: RouteMessage = {
  id: "m-1",
  key: NodeId.fromString("key"),
  purpose: 16,
  payload: new Uint8Array([1, 2, 3]),
  origin: sender,
  hops: 2,
  maxHops: 40,
  wantAck: true,
};

function routeRequest(spoil: (m: wire.RouteMessage) => wire.RouteMessage): PeerRequest {
  return {
    method: "route",
    request: { sender: encodeNodeInfo(sender), message: spoil(encodeRouteMessage(message)) },
  };
}

function senderSpoiled(spoil: (n: wire.NodeInfo) => wire.NodeInfo): PeerRequest {
  return { method: "heartbeat", request: { sender: spoil(encodeNodeInfo(sender)) } };
}

function rejection(decode: () => unknown): WireFormatError {
  try {
    decode();
  } catch (err) {
    if (err instanceof WireFormatError) return err;
    throw err;
  }
  throw new Error("expected a WireFormatError, but decoding succeeded");
}

describe("decoding validation", () => {
  it("accepts the unspoiled request", () => {
    expect(decodePeerRequest(routeRequest((m) => m))).toEqual({
      sender,
      message: { type: "route", message },
    });
  });

  it.each([0, 15, 17, 32])("refuses a %i-byte node ID", (length) => {
    const err = rejection(() =>
      decodePeerRequest(senderSpoiled((n) => ({ ...n, id: Buffer.alloc(length) }))),
    );
    expect(err.field).toBe("sender.id");
    expect(err.message).toContain(`exactly 16 bytes, got ${length}`);
  });

  it("refuses a 15-byte key and names the field", () => {
    const err = rejection(() => decodePeerRequest(routeRequest((m) => ({ ...m, key: m.key.subarray(1) }))));
    expect(err.field).toBe("message.key");
  });

  it("refuses missing required messages: sender, route message, origin, joiner, row", () => {
    const cases: [PeerRequest, string][] = [
      [{ method: "announce", request: { sender: undefined } }, "sender"],
      [{ method: "route", request: { sender: encodeNodeInfo(sender), message: undefined } }, "message"],
      [routeRequest((m) => ({ ...m, origin: undefined })), "message.origin"],
      [{ method: "join", request: { sender: encodeNodeInfo(sender), joiner: undefined, hops: 0 } }, "joiner"],
      [{ method: "shareRow", request: { sender: encodeNodeInfo(sender), row: undefined } }, "row"],
    ];
    for (const [request, field] of cases) {
      const err = rejection(() => decodePeerRequest(request));
      expect(err.field).toBe(field);
      expect(err.message).toContain("required");
    }
  });

  it("refuses an empty message id in a route and in an ack", () => {
    expect(rejection(() => decodePeerRequest(routeRequest((m) => ({ ...m, id: "" })))).field).toBe(
      "message.id",
    );
    const ack: PeerRequest = {
      method: "ack",
      request: {
        sender: encodeNodeInfo(sender),
        messageId: "",
        hops: 1,
        refusalCode: 0,
        refusalReason: "",
        droppedCopy: 0,
        droppedReason: 0,
      },
    };
    expect(rejection(() => decodePeerRequest(ack)).field).toBe("message_id");
  });

  it("refuses an ack whose refusal code is not a gRPC status code", () => {
    const ack: PeerRequest = {
      method: "ack",
      request: {
        sender: encodeNodeInfo(sender),
        messageId: "m-1",
        hops: 1,
        refusalCode: 17,
        refusalReason: "no application",
        droppedCopy: 0,
        droppedReason: 0,
      },
    };
    expect(rejection(() => decodePeerRequest(ack)).field).toBe("refusal_code");
  });

  it("decodes a drop notice, and refuses one without its reason, a reason without a copy, an unknown reason, a copy over 2^16, and one with a refusal", () => {
    const ack = (fields: Partial<peer.AckRequest>): PeerRequest => ({
      method: "ack",
      request: {
        sender: encodeNodeInfo(sender),
        messageId: "m-1",
        hops: 1,
        refusalCode: 0,
        refusalReason: "",
        droppedCopy: 0,
        droppedReason: 0,
        ...fields,
      },
    });
    expect(decodePeerRequest(ack({ droppedCopy: 2, droppedReason: 1 })).message).toEqual({
      type: "ack",
      messageId: "m-1",
      hops: 1,
      undelivered: { copy: 2, reason: "ttl" },
    });
    expect(rejection(() => decodePeerRequest(ack({ droppedCopy: 2 }))).field).toBe("dropped_reason");
    expect(rejection(() => decodePeerRequest(ack({ droppedReason: 3 }))).field).toBe("dropped_reason");
    expect(
      rejection(() => decodePeerRequest(ack({ droppedCopy: 2, droppedReason: 9 as peer.DropReason }))).field,
    ).toBe("dropped_reason");
    expect(rejection(() => decodePeerRequest(ack({ droppedCopy: 65_537, droppedReason: 1 }))).field).toBe(
      "dropped_copy",
    );
    expect(
      rejection(() => decodePeerRequest(ack({ droppedCopy: 2, droppedReason: 1, refusalCode: 9 }))).field,
    ).toBe("dropped_copy");
  });

  it("refuses a payload over the limit, and the limit is configurable", () => {
    const big = routeRequest((m) => ({
      ...m,
      payload: Buffer.alloc(DEFAULT_WIRE_LIMITS.maxPayloadBytes + 1),
    }));
    expect(rejection(() => decodePeerRequest(big)).field).toBe("message.payload");
    const exact = routeRequest((m) => ({ ...m, payload: Buffer.alloc(DEFAULT_WIRE_LIMITS.maxPayloadBytes) }));
    expect(decodePeerRequest(exact).message.type).toBe("route");
    const small = { ...DEFAULT_WIRE_LIMITS, maxPayloadBytes: 2 };
    expect(
      rejection(() =>
        decodePeerRequest(
          routeRequest((m) => m),
          small,
        ),
      ).message,
    ).toContain("at most 2");
  });

  it("leaves room in the gRPC message size for a maximal payload", () => {
    expect(grpcMessageSizeLimit()).toBeGreaterThan(DEFAULT_WIRE_LIMITS.maxPayloadBytes);
  });

  it("refuses purposes and hop counts out of range", () => {
    const purpose = routeRequest((m) => ({ ...m, purpose: DEFAULT_WIRE_LIMITS.maxPurpose + 1 }));
    expect(rejection(() => decodePeerRequest(purpose)).field).toBe("message.purpose");
    const hops = routeRequest((m) => ({ ...m, hops: DEFAULT_WIRE_LIMITS.maxHops + 1 }));
    expect(rejection(() => decodePeerRequest(hops)).field).toBe("message.hops");
    const maxHops = routeRequest((m) => ({ ...m, maxHops: 2 ** 32 - 1 }));
    expect(rejection(() => decodePeerRequest(maxHops)).field).toBe("message.max_hops");
  });

  it("refuses routing-table rows outside [0, 32), rows with more than 16 entries, and round-trip times not one per entry", () => {
    const base = { sender: encodeNodeInfo(sender) };
    expect(
      rejection(() => decodePeerRequest({ method: "requestRow", request: { ...base, row: 32 } })).field,
    ).toBe("row");
    const crowded: peer.ShareRowRequest = {
      ...base,
      row: {
        row: 3,
        entries: Array.from({ length: 17 }, () => encodeNodeInfo(sender)),
        roundTripMicros: [],
      },
    };
    expect(rejection(() => decodePeerRequest({ method: "shareRow", request: crowded })).field).toBe(
      "row.entries",
    );
    const miscounted: peer.ShareRowRequest = {
      ...base,
      row: { row: 3, entries: [encodeNodeInfo(sender), encodeNodeInfo(sender)], roundTripMicros: [1500] },
    };
    expect(rejection(() => decodePeerRequest({ method: "shareRow", request: miscounted })).field).toBe(
      "row.round_trip_micros",
    );
    const joinState: peer.JoinStateRequest = {
      ...base,
      rows: Array.from({ length: 33 }, (_, row) => ({ row: row % 32, entries: [], roundTripMicros: [] })),
      neighbours: [],
      leafSet: [],
      final: false,
    };
    expect(rejection(() => decodePeerRequest({ method: "joinState", request: joinState })).field).toBe(
      "rows",
    );
  });

  it("refuses node lists longer than the limit", () => {
    const leafSet = Array.from({ length: DEFAULT_WIRE_LIMITS.maxNodeListLength + 1 }, () =>
      encodeNodeInfo(sender),
    );
    const leave: PeerRequest = { method: "leave", request: { sender: encodeNodeInfo(sender), leafSet } };
    expect(rejection(() => decodePeerRequest(leave)).field).toBe("leaf_set");
    const removed = leafSet.map((n) => n.id);
    const share: PeerRequest = {
      method: "shareLeafSet",
      request: { sender: encodeNodeInfo(sender), leafSet: [], removed },
    };
    expect(rejection(() => decodePeerRequest(share)).field).toBe("removed");
  });

  it("names the exact entry of a list that is bad", () => {
    const leafSet = [encodeNodeInfo(sender), { ...encodeNodeInfo(sender), id: Buffer.alloc(3) }];
    const leave: PeerRequest = { method: "leave", request: { sender: encodeNodeInfo(sender), leafSet } };
    expect(rejection(() => decodePeerRequest(leave)).field).toBe("leaf_set[1].id");
  });

  it.each(["", "no-port", ":7000", "host:", "host:0", "host:65536", "host:70a", "a b:7000"])(
    "refuses the address %j",
    (address) => {
      const err = rejection(() => decodePeerRequest(senderSpoiled((n) => ({ ...n, localAddress: address }))));
      expect(err.field).toBe("sender.local_address");
    },
  );

  it("accepts bracketed IPv6 and DNS addresses and an empty region", () => {
    const node = {
      ...encodeNodeInfo(sender),
      localAddress: "[::1]:7000",
      globalAddress: "a.b.c:1",
      region: "",
    };
    expect(decodePeerRequest({ method: "heartbeat", request: { sender: node } }).sender.region).toBe("");
  });

  it("refuses an incarnation a JavaScript number cannot hold exactly, on decode and on encode", () => {
    const err = rejection(() =>
      decodePeerRequest(senderSpoiled((n) => ({ ...n, incarnation: BigInt(Number.MAX_SAFE_INTEGER) + 1n }))),
    );
    expect(err.field).toBe("sender.incarnation");
    expect(() => encodeNodeInfo({ ...sender, incarnation: 1.5 })).toThrow(WireFormatError);
    expect(() => encodeNodeInfo({ ...sender, incarnation: -1 })).toThrow(WireFormatError);
  });

  it("refuses probe times that are not finite non-negative milliseconds", () => {
    for (const sentAtMs of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      const probe: PeerRequest = {
        method: "probe",
        request: { sender: encodeNodeInfo(sender), sentAtMs, joining: false },
      };
      expect(rejection(() => decodePeerRequest(probe)).field).toBe("sent_at_ms");
    }
  });

  it("reports unparseable protobuf bytes as WireFormatError too", () => {
    // Field 1 (sender) declared as a 100-byte message but only 2 bytes follow.
    const err = rejection(() => decodePeerRequestBytes("heartbeat", new Uint8Array([0x0a, 100, 1, 2])));
    expect(err.message).toContain("not a valid heartbeat request");
  });

  it("decodes the sender before the message kind's own fields, so a bad sender is always reported", () => {
    const request = encodePeerMessage(sender, { type: "rowRequest", row: 99 });
    const spoiled = { ...request, request: { ...request.request, sender: undefined } } as PeerRequest;
    expect(rejection(() => decodePeerRequest(spoiled)).field).toBe("sender");
  });
});

describe("RouteStream batches", () => {
  it("rejects bad messages one by one and keeps the good ones in order", () => {
    const batch = encodeRouteBatch(sender, [message, { ...message, id: "m-2" }, { ...message, id: "m-3" }]);
    const spoiled = batch.messages.map((m, i) => (i === 1 ? { ...m, key: Buffer.alloc(4) } : m));
    const decoded = decodeRouteBatch({ ...batch, messages: spoiled });
    expect(decoded.messages.map((m) => m.id)).toEqual(["m-1", "m-3"]);
    expect(decoded.rejected).toEqual([
      { messageId: "m-2", reason: expect.stringContaining("messages[1].key") },
    ]);
  });

  it("refuses the whole batch when the sender is bad or the batch is too large", () => {
    const batch = encodeRouteBatch(sender, [message]);
    expect(rejection(() => decodeRouteBatch({ ...batch, sender: undefined })).field).toBe("sender");
    const limits = { ...DEFAULT_WIRE_LIMITS, maxBatchMessages: 2 };
    const tooMany = encodeRouteBatch(sender, [message, message, message]);
    expect(rejection(() => decodeRouteBatch(tooMany, limits)).field).toBe("messages");
  });
});

describe("RouteStream responses' end-to-end acknowledgements", () => {
  const acks = [encodeAck({ messageId: "m-1", hops: 1 }), encodeAck({ messageId: "m-2", hops: 2 })];

  it("decodes them when there are at most as many as acknowledged hops, refusals included", () => {
    const refused = encodeAck({ messageId: "m-3", hops: 1, refusal: { code: 9, reason: "no application" } });
    expect(decodeResponseAcks([...acks, refused], 3)).toEqual([
      { messageId: "m-1", hops: 1 },
      { messageId: "m-2", hops: 2 },
      { messageId: "m-3", hops: 1, refusal: { code: 9, reason: "no application" } },
    ]);
  });

  it("refuses more of them than hops the response acknowledges, and a bad one by its index", () => {
    expect(() => decodeResponseAcks(acks, 1)).toThrow(WireFormatError);
    expect(() => decodeResponseAcks([acks[0]!, { ...acks[1]!, messageId: "" }], 2)).toThrow(/acks\[1\]/);
  });
});
