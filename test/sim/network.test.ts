import { describe, expect, it } from "vitest";
import { VirtualNetwork } from "../../src/sim/network.js";
import { Prng } from "../../src/sim/prng.js";

describe("VirtualNetwork", () => {
  it("has symmetric latency that grows with distance and obeys the triangle inequality", () => {
    const net = new VirtualNetwork({ baseLatencyMs: 2, latencyPerUnitMs: 100 });
    const p = new Prng(11);
    for (let i = 0; i < 50; i++) net.addHost(p);
    for (let a = 0; a < 50; a++) {
      for (let b = 0; b < 50; b++) {
        expect(net.latency(a, b)).toBe(net.latency(b, a));
        expect(net.latency(a, b)).toBeGreaterThanOrEqual(2);
        expect(net.latency(a, b)).toBeLessThanOrEqual(2 + 100 * Math.SQRT2);
      }
    }
    const near = new VirtualNetwork({ baseLatencyMs: 2, latencyPerUnitMs: 100 });
    near.addHostAt(0, 0);
    near.addHostAt(0.1, 0);
    near.addHostAt(0.9, 0.9);
    expect(near.latency(0, 1)).toBeCloseTo(12);
    expect(near.latency(0, 2)).toBeGreaterThan(near.latency(0, 1));
    expect(near.latency(0, 2)).toBeLessThanOrEqual(near.latency(0, 1) + near.latency(1, 2));
  });

  it("gives each host unique local and global addresses that resolve back to it, and a region by area", () => {
    const net = new VirtualNetwork({ regionsPerSide: 2 });
    const a = net.addHostAt(0.1, 0.1);
    const b = net.addHostAt(0.9, 0.1);
    const c = net.addHostAt(0.2, 0.3);
    expect(a.region).toBe(c.region);
    expect(a.region).not.toBe(b.region);
    expect(new Set([a, b, c].flatMap((h) => [h.localAddress, h.globalAddress])).size).toBe(6);
    for (const h of [a, b, c]) {
      expect(net.resolve(h.localAddress)).toBe(h.index);
      expect(net.resolve(h.globalAddress)).toBe(h.index);
    }
    expect(net.resolve("10.9.9.9:1")).toBeUndefined();
  });

  it("keeps 70,000 hosts' addresses unique", () => {
    const net = new VirtualNetwork();
    const p = new Prng(5);
    for (let i = 0; i < 70_000; i++) net.addHost(p);
    expect(net.resolve(net.host(69_999).localAddress)).toBe(69_999);
    expect(net.resolve(net.host(65_536).globalAddress)).toBe(65_536);
  });

  it("loses messages at the configured rate and never without loss", () => {
    const p = new Prng(9);
    const lossless = new VirtualNetwork();
    const lossy = new VirtualNetwork({ lossProbability: 0.2 });
    let lost = 0;
    for (let i = 0; i < 20_000; i++) {
      expect(lossless.isLost(p)).toBe(false);
      if (lossy.isLost(p)) lost++;
    }
    expect(lost / 20_000).toBeGreaterThan(0.18);
    expect(lost / 20_000).toBeLessThan(0.22);
    expect(() => new VirtualNetwork({ lossProbability: 1 })).toThrow(RangeError);
  });
});
