// The message-kind -> RPC table covers every kind, matches the generated service, and is one-to-one.
import { describe, expect, it } from "vitest";
import { PeerServiceClient, PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, PeerMessage } from "../../src/routing/types.js";
import {
  encodePeerMessage,
  PEER_METHOD_BY_TYPE,
  PEER_METHODS,
  PEER_TYPE_BY_METHOD,
  peerMethodFor,
  peerRpcPath,
} from "../../src/wire/index.js";

const sender: NodeInfo = {
  id: NodeId.fromString("n"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "",
  incarnation: 1,
};

describe("PeerMessage kind to RPC table", () => {
  it("maps the 13 kinds to 13 distinct unary RPCs of the generated service", () => {
    expect(new Set(PEER_METHODS).size).toBe(13);
    for (const method of PEER_METHODS) {
      expect(PeerServiceService[method].requestStream).toBe(false);
      expect(PeerServiceService[method].responseStream).toBe(false);
      expect(typeof PeerServiceClient.prototype[method]).toBe("function");
      expect(PEER_METHOD_BY_TYPE[PEER_TYPE_BY_METHOD[method]]).toBe(method);
    }
  });

  it("leaves only Hello and RouteStream outside the table", () => {
    const rest = Object.keys(PeerServiceService).filter(
      (m) => !(PEER_METHODS as readonly string[]).includes(m),
    );
    expect(rest.sort()).toEqual(["hello", "routeStream"]);
  });

  it("gives full gRPC paths and agrees with the encoder", () => {
    expect(peerRpcPath("leafSetRequest")).toBe("/wendy.v1.PeerService/RequestLeafSet");
    expect(peerRpcPath("row")).toBe("/wendy.v1.PeerService/ShareRow");
    const samples: PeerMessage[] = [
      { type: "heartbeat" },
      { type: "leafSetRequest" },
      { type: "rowRequest", row: 1 },
      { type: "ack", messageId: "x", hops: 1 },
    ];
    for (const m of samples) expect(encodePeerMessage(sender, m).method).toBe(peerMethodFor(m.type));
  });
});
