import { describe, expect, it } from "vitest";
import { freePorts, ownPortSpan, portSpan } from "../../src/server/daemon/demo/free-ports.js";

describe("free ports for daemons", () => {
  it("are drawn from below the ephemeral range, one slice per vitest worker, slices disjoint", () => {
    expect(portSpan(32768, undefined)).toEqual([20000, 32767]);
    const slices = Array.from({ length: 16 }, (_, i) => portSpan(32768, String(i + 1))!);
    for (const [first, last] of slices) {
      expect(first).toBeGreaterThanOrEqual(20000);
      expect(last - first).toBeGreaterThan(700);
    }
    for (let i = 1; i < slices.length; i++) expect(slices[i]![0]).toBeGreaterThan(slices[i - 1]![1]);
  });

  it("are drawn from disjoint slices by the workers of one run whatever the run's turn of the slices", () => {
    for (const run of [0, 5, 12345]) {
      const firsts = Array.from({ length: 16 }, (_, i) => portSpan(32768, String(i + 1), run)![0]);
      expect(new Set(firsts).size).toBe(16);
    }
    expect(portSpan(32768, "1", 1)).toEqual(portSpan(32768, "2", 0));
  });

  it("are not drawn at all when the ephemeral range leaves no room below it", () => {
    expect(portSpan(1024, "1")).toBeUndefined();
  });

  it("are distinct, below the ephemeral range and in this worker's slice", async () => {
    const ports = await freePorts(20);
    expect(new Set(ports).size).toBe(20);
    const [first, last] = ownPortSpan()!;
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(first);
      expect(port).toBeLessThanOrEqual(last);
    }
  });
});
