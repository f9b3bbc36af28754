// Property tests: lossless round trips through real protobuf bytes, and no crash on hostile input.
import { RouteBatch } from "../../src/gen/wendy/v1/peer.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import type { NodeInfo, PeerMessage } from "../../src/routing/types.js";
import {
  decodePeerRequest,
  decodePeerRequestBytes,
  decodeRouteBatch,
  encodePeerMessage,
  encodeRouteBatch,
  PEER_METHODS,
  WireFormatError,
  type PeerEnvelope,
  type PeerMethod,
  type PeerRequest,
} from "../../src/wire/index.js";
import { nodeInfoArb, peerMessageArb, peerMessageArbs, routeMessageArb } from "./arbitraries.js";

function serialize(request: PeerRequest): Buffer {
  const serializer = PeerServiceService[request.method].requestSerialize as (
    r: PeerRequest["request"],
  ) => Buffer;
  return serializer(request.request);
}

function roundTrip(sender: NodeInfo, message: PeerMessage): PeerEnvelope {
  const request = encodePeerMessage(sender, message);
  return decodePeerRequestBytes(request.method, serialize(request));
}

/** Runs `decode`; the only acceptable failure is WireFormatError. */
function decodesOrRejects(decode: () => PeerEnvelope): PeerEnvelope | WireFormatError {
  try {
    return decode();
  } catch (err) {
    expect(err).toBeInstanceOf(WireFormatError);
    return err as WireFormatError;
  }
}

describe("codec round trip", () => {
  for (const [type, arb] of Object.entries(peerMessageArbs)) {
    it(`encode -> bytes -> decode returns the same ${type} message and sender`, () => {
      fc.assert(
        fc.property(nodeInfoArb, arb, (sender, message) => {
          expect(roundTrip(sender, message)).toEqual({ sender, message });
        }),
        { numRuns: 60 },
      );
    });
  }

  it("round-trips a RouteStream batch (hops, acks and heartbeat ids) message by message", () => {
    fc.assert(
      fc.property(
        nodeInfoArb,
        fc.array(routeMessageArb, { maxLength: 8 }),
        fc.array(
          fc.record({ messageId: fc.string({ minLength: 1, maxLength: 40 }), hops: fc.nat({ max: 1024 }) }),
          { maxLength: 8 },
        ),
        fc.array(fc.string({ minLength: 1, maxLength: 40 }), { maxLength: 8 }),
        (sender, messages, acks, heartbeats) => {
          const bytes = RouteBatch.encode(
            encodeRouteBatch(sender, messages, acks, [], [], heartbeats),
          ).finish();
          expect(decodeRouteBatch(RouteBatch.decode(bytes))).toEqual({
            sender,
            messages,
            rejected: [],
            acks,
            direct: [],
            reverseAcks: [],
            heartbeats,
          });
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("decoding hostile input", () => {
  const methodArb = fc.constantFrom<PeerMethod>(...PEER_METHODS);

  it("random bytes for any RPC decode or raise WireFormatError, nothing else", () => {
    fc.assert(
      fc.property(methodArb, fc.uint8Array({ maxLength: 300 }), (method, bytes) => {
        decodesOrRejects(() => decodePeerRequestBytes(method, bytes));
      }),
      { numRuns: 1500 },
    );
  });

  it("corrupted valid encodings (byte flips, truncation) decode or raise WireFormatError", () => {
    const corruptionArb = fc.record({
      flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      cut: fc.nat(),
    });
    fc.assert(
      fc.property(nodeInfoArb, peerMessageArb, corruptionArb, (sender, message, { flips, cut }) => {
        const request = encodePeerMessage(sender, message);
        const bytes = Uint8Array.from(serialize(request));
        for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
        const truncated = bytes.subarray(0, cut % (bytes.length + 1));
        const result = decodesOrRejects(() => decodePeerRequestBytes(request.method, truncated));
        if (!(result instanceof WireFormatError)) {
          // Whatever got through is a valid message: it survives a second round trip unchanged.
          expect(roundTrip(result.sender, result.message)).toEqual(result);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("any structurally typed request with arbitrary field values decodes or raises WireFormatError", () => {
    const wireNodeArb = fc.record({
      // Biased towards valid 16-byte IDs so that some requests get past the ID checks to the others.
      id: fc
        .oneof(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 20 }))
        .map((b) => Buffer.from(b)),
      localAddress: fc.oneof(fc.string({ maxLength: 30 }), fc.constant("127.0.0.1:7000")),
      globalAddress: fc.oneof(fc.string({ maxLength: 30 }), fc.constant("127.0.0.1:7000")),
      region: fc.string({ maxLength: 80 }),
      incarnation: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    });
    const requestArb: fc.Arbitrary<PeerRequest> = fc.oneof(
      fc.record({
        method: fc.constant("join" as const),
        request: fc.record({
          sender: fc.option(wireNodeArb, { nil: undefined }),
          joiner: wireNodeArb,
          hops: fc.nat(),
        }),
      }),
      fc.record({
        method: fc.constant("shareLeafSet" as const),
        request: fc.record({
          sender: wireNodeArb,
          leafSet: fc.array(wireNodeArb, { maxLength: 4 }),
          removed: fc.array(
            fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
            { maxLength: 4 },
          ),
        }),
      }),
      fc.record({
        method: fc.constant("requestRow" as const),
        request: fc.record({ sender: wireNodeArb, row: fc.oneof(fc.nat(40), fc.nat()) }),
      }),
    );
    fc.assert(
      fc.property(requestArb, (request) => {
        const result = decodesOrRejects(() => decodePeerRequest(request));
        if (!(result instanceof WireFormatError)) {
          expect(roundTrip(result.sender, result.message)).toEqual(result);
        }
      }),
      { numRuns: 500 },
    );
  });
});
