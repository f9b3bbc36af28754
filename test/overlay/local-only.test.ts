import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import {
  REMOTE_STREAMS_VARIABLE,
  isLoopbackPeer,
  requireLocalClient,
} from "../../src/server/overlay/local-only.js";
import { OverlayRpcError } from "../../src/server/overlay/rpc-error.js";

describe("streams of this node's own view are for clients on the node", () => {
  it("counts 127.0.0.0/8, ::1, IPv4-mapped loopback and a Unix socket as the node's own machine", () => {
    for (const peer of ["127.0.0.1:50123", "127.3.4.5:1", "::1:50123", "::ffff:127.0.0.1:50123", "unknown"]) {
      expect(isLoopbackPeer(peer), peer).toBe(true);
    }
    for (const peer of ["10.0.0.7:50123", "::ffff:10.0.0.7:50123", "fd00::1:50123", "192.168.1.1:7071"]) {
      expect(isLoopbackPeer(peer), peer).toBe(false);
    }
  });

  it("refuses a remote client with FAILED_PRECONDITION naming the RPC, the peer and the setting", () => {
    let refused: unknown;
    try {
      requireLocalClient("Subscribe", "10.0.0.7:50123", false);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(OverlayRpcError);
    expect((refused as OverlayRpcError).code).toBe(status.FAILED_PRECONDITION);
    expect((refused as OverlayRpcError).message).toMatch(/^Subscribe .*10\.0\.0\.7:50123/);
    expect((refused as OverlayRpcError).message).toContain(`${REMOTE_STREAMS_VARIABLE}=true`);
  });

  it("serves a remote client when the operator allows it, and a local one always", () => {
    expect(() => requireLocalClient("Subscribe", "10.0.0.7:50123", true)).not.toThrow();
    expect(() => requireLocalClient("WatchOwnership", "127.0.0.1:50123", false)).not.toThrow();
  });
});
