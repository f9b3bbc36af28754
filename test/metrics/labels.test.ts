import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { HealthService } from "../../src/gen/grpc/health/v1/health.js";
import { OverlayServiceService } from "../../src/gen/wendy/v1/overlay.js";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { AUTH_FAILURE_REASONS } from "../../src/server/auth/failures.js";
import {
  DEFAULT_AUTH_FAILURE_REASONS,
  DEFAULT_CLIENT_METHODS,
  DEFAULT_PEER_METHODS,
  LabelWhitelist,
  MethodWhitelist,
  OTHER,
  authFailureLabel,
  grpcCodeLabel,
} from "../../src/server/metrics/labels.js";

describe("label normalisers", () => {
  it("keep whitelisted values and turn everything else into 'other'", () => {
    const w = new LabelWhitelist(["a", "b"]);
    expect(w.normalise("a")).toBe("a");
    expect(w.normalise("c")).toBe(OTHER);
    expect(w.normalise("__proto__")).toBe(OTHER);
    fc.assert(fc.property(fc.string(), (s) => ["a", "b", OTHER].includes(w.normalise(s))));
  });

  it("read a method's last path segment", () => {
    const w = new MethodWhitelist(DEFAULT_PEER_METHODS);
    expect(w.normalise("/wendy.v1.PeerService/RequestLeafSet")).toBe("RequestLeafSet");
    expect(w.normalise("Hello")).toBe("Hello");
    expect(w.normalise("/wendy.v1.PeerService/")).toBe(OTHER);
    expect(w.normalise("hello")).toBe(OTHER);
  });

  it("label every RPC of the generated peer, overlay and health services by its own name, never 'other'", () => {
    const peer = new MethodWhitelist(DEFAULT_PEER_METHODS);
    const client = new MethodWhitelist(DEFAULT_CLIENT_METHODS);
    const cases: [MethodWhitelist, Readonly<Record<string, { readonly path: string }>>][] = [
      [peer, PeerServiceService],
      [client, OverlayServiceService],
      [client, HealthService],
    ];
    for (const [whitelist, service] of cases) {
      for (const { path } of Object.values(service)) {
        expect(whitelist.normalise(path)).toBe(path.slice(path.lastIndexOf("/") + 1));
      }
    }
    for (const name of ["RequestLeafSet", "ShareLeafSet", "RequestRow", "ShareRow", "RouteStream"]) {
      expect(peer.normalise(name)).toBe(name);
    }
    expect(client.normalise("/wendy.v1.OverlayService/SendStream")).toBe("SendStream");
    expect(client.normalise("/wendy.v1.OverlayService/NoSuchMethod")).toBe(OTHER);
  });

  it("label every authentication failure reason the auth module records by its own name", () => {
    const reasons = new LabelWhitelist(DEFAULT_AUTH_FAILURE_REASONS);
    for (const reason of AUTH_FAILURE_REASONS) {
      expect(reasons.normalise(authFailureLabel(reason))).toBe(reason.replaceAll("-", "_"));
    }
  });

  it("name gRPC status codes canonically", () => {
    expect(grpcCodeLabel(0)).toBe("OK");
    expect(grpcCodeLabel(14)).toBe("UNAVAILABLE");
    expect(grpcCodeLabel("unavailable")).toBe("UNAVAILABLE");
    expect(grpcCodeLabel(17)).toBe(OTHER);
    expect(grpcCodeLabel(-1)).toBe(OTHER);
    expect(grpcCodeLabel(1.5)).toBe(OTHER);
    expect(grpcCodeLabel("0")).toBe(OTHER);
    expect(grpcCodeLabel("constructor")).toBe(OTHER);
  });
});
