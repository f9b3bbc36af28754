import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DEFAULT_PEER_METHODS,
  LabelWhitelist,
  MethodWhitelist,
  OTHER,
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
    expect(w.normalise("/wendy.v1.PeerService/LeafSetRequest")).toBe("LeafSetRequest");
    expect(w.normalise("Hello")).toBe("Hello");
    expect(w.normalise("/wendy.v1.PeerService/")).toBe(OTHER);
    expect(w.normalise("hello")).toBe(OTHER);
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
