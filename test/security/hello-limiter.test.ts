// The per-source Hello budget under the global one, and how a grpc-js peer string names its source.
import { describe, expect, it } from "vitest";
import { HelloLimiter, sourceOfPeer } from "../../src/server/auth/hello-limiter.js";

describe("sourceOfPeer", () => {
  it("reads IPv4 addresses, IPv4-mapped IPv6, and the /64 of IPv6 addresses, with or without a port", () => {
    expect(sourceOfPeer("127.0.0.5:41234")).toBe("127.0.0.5");
    expect(sourceOfPeer("10.1.2.3")).toBe("10.1.2.3");
    expect(sourceOfPeer("[::ffff:10.1.2.3]:80")).toBe("10.1.2.3");
    expect(sourceOfPeer("[2001:db8:1:2:3:4:5:6]:80")).toBe("2001:db8:1:2::/64");
    expect(sourceOfPeer("2001:db8:1:2::9")).toBe("2001:db8:1:2::/64");
    expect(sourceOfPeer("[::1]:7070")).toBe("0:0:0:0::/64");
  });

  it("gives no source for what is not an address", () => {
    expect(sourceOfPeer("unknown")).toBeUndefined();
    expect(sourceOfPeer("")).toBeUndefined();
    expect(sourceOfPeer("unix:/tmp/sock")).toBeUndefined();
  });
});

describe("HelloLimiter", () => {
  it("refuses a source past its own rate without spending the global budget", () => {
    const limiter = new HelloLimiter({ perSecond: 10, perSecondPerSource: 3 }, 0);
    const flooder = Array.from({ length: 20 }, () => limiter.take("10.0.0.1", 0));
    expect(flooder.filter(Boolean)).toHaveLength(3);
    // The flooder took only 3 of the 10 global tokens: 7 are left for everyone else.
    const others = Array.from({ length: 10 }, (_, i) => limiter.take(`10.0.1.${i}`, 0));
    expect(others.filter(Boolean)).toHaveLength(7);
  });

  it("refills each source's bucket with time, and caps unknown sources by the global bucket alone", () => {
    const limiter = new HelloLimiter({ perSecond: 100, perSecondPerSource: 2 }, 0);
    expect([limiter.take("a", 0), limiter.take("a", 0), limiter.take("a", 0)]).toEqual([true, true, false]);
    expect(limiter.take("a", 500)).toBe(true);
    const unknown = Array.from({ length: 150 }, () => limiter.take(undefined, 500));
    expect(unknown.filter(Boolean).length).toBeLessThanOrEqual(100);
  });

  it("remembers a bounded number of sources", () => {
    const limiter = new HelloLimiter({ perSecond: Infinity, perSecondPerSource: 1, maxSources: 2 }, 0);
    expect(limiter.take("a", 0)).toBe(true);
    expect(limiter.take("a", 0)).toBe(false);
    limiter.take("b", 0);
    limiter.take("c", 0); // forgets "a", whose bucket starts full again
    expect(limiter.take("a", 0)).toBe(true);
  });
});
