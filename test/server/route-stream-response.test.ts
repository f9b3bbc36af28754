import { describe, expect, it } from "vitest";
import { RouteStreamResponse } from "../../src/gen/wendy/v1/peer.js";
import { NO_MAC, unsignedPrefix } from "../../src/server/transport/route-stream.js";

const MAC = Buffer.alloc(32, 0xab);
const unsigned = RouteStreamResponse.encode({
  acceptedIds: ["a-1", "a-2", "a-3"],
  rejected: [{ messageId: "b-1", reason: "bad", code: 3 }],
  mac: NO_MAC,
  acks: [],
}).finish();

describe("unsignedPrefix (the bytes a RouteStream response's mac was made over)", () => {
  it("is the response's bytes before the mac appended to it, the same as encoding it again without mac", () => {
    const signed = Buffer.concat([
      unsigned,
      RouteStreamResponse.encode({ acceptedIds: [], rejected: [], mac: MAC, acks: [] }).finish(),
    ]);
    const decoded = RouteStreamResponse.decode(signed);
    const prefix = unsignedPrefix(signed, decoded.mac);
    expect(prefix).toBeDefined();
    expect(Buffer.from(prefix!).equals(Buffer.from(unsigned))).toBe(true);
    const again = RouteStreamResponse.encode({ ...decoded, mac: NO_MAC }).finish();
    expect(Buffer.from(prefix!).equals(Buffer.from(again))).toBe(true);
  });

  it("is undefined when anything follows the mac (bytes appended after signing), so the caller encodes again", () => {
    const signed = Buffer.concat([
      unsigned,
      RouteStreamResponse.encode({ acceptedIds: [], rejected: [], mac: MAC, acks: [] }).finish(),
      RouteStreamResponse.encode({ acceptedIds: ["forged"], rejected: [], mac: NO_MAC, acks: [] }).finish(),
    ]);
    expect(unsignedPrefix(signed, RouteStreamResponse.decode(signed).mac)).toBeUndefined();
  });

  it("is undefined for a response without mac and when the trailing bytes are not the decoded mac", () => {
    expect(unsignedPrefix(unsigned, NO_MAC)).toBeUndefined();
    const signed = Buffer.concat([
      unsigned,
      RouteStreamResponse.encode({ acceptedIds: [], rejected: [], mac: MAC, acks: [] }).finish(),
    ]);
    expect(unsignedPrefix(signed, Buffer.alloc(32, 0xcd))).toBeUndefined();
  });
});
