import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { METADATA_REFUSED } from "../../src/server/errors.js";
import { PeerCallError } from "../../src/server/transport/peer-client.js";
import { PeerFailure } from "../../src/server/transport/peer-failure.js";
import { RouteHopError } from "../../src/server/transport/route-stream.js";

function refusedMetadata(): Metadata {
  const metadata = new Metadata();
  metadata.set(METADATA_REFUSED, "leaving");
  return metadata;
}

describe("peer call failures", () => {
  it("a call that made no connection never arrived; one that timed out or broke mid-way may have", () => {
    const refused = new PeerCallError(
      status.UNAVAILABLE,
      "/wendy.v1.PeerService/Route to a:1: connect ECONNREFUSED",
    );
    const noChannel = new PeerCallError(
      status.UNAVAILABLE,
      "x to a:1: No connection established. Last error: y",
    );
    const broken = new PeerCallError(status.UNAVAILABLE, "x to a:1: Connection dropped");
    const late = new PeerCallError(status.DEADLINE_EXCEEDED, "x to a:1 timed out");
    expect([refused, noChannel].map((e) => e.neverArrived)).toEqual([true, true]);
    expect([broken, late].map((e) => e.neverArrived)).toEqual([false, false]);
    expect(refused).toBeInstanceOf(PeerFailure);
  });

  it("only a call whose connection closed under it is a broken connection: not a refusal, not a timeout", () => {
    const broken = new PeerCallError(status.UNAVAILABLE, "x to a:1: Connection dropped");
    const refused = new PeerCallError(
      status.UNAVAILABLE,
      "x to a:1: No connection established. Last error: y",
    );
    const late = new PeerCallError(status.DEADLINE_EXCEEDED, "x to a:1 timed out");
    const cancelled = new PeerCallError(status.CANCELLED, "x to a:1: Connection dropped");
    expect([broken, refused, late, cancelled].map((e) => e.connectionBroken)).toEqual([
      true,
      false,
      false,
      false,
    ]);
  });

  it("a call or hop the peer itself refused as UNAVAILABLE never arrived; other refusals say nothing of it", () => {
    expect(new PeerCallError(status.UNAVAILABLE, "x: leaving", refusedMetadata()).neverArrived).toBe(true);
    expect(new RouteHopError(status.UNAVAILABLE, "route hop m to a:1: leaving", true).neverArrived).toBe(
      true,
    );
    expect(new RouteHopError(status.RESOURCE_EXHAUSTED, "route hop m: full", true).neverArrived).toBe(false);
    expect(
      new RouteHopError(status.UNAVAILABLE, "route hop m to a:1: a:1 ended the route stream").neverArrived,
    ).toBe(false);
    expect(
      new RouteHopError(status.UNAVAILABLE, "route hop m to a:1: No connection established").neverArrived,
    ).toBe(true);
  });
});
