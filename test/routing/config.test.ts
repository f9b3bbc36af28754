import { describe, expect, it } from "vitest";
import { routingConfig } from "../../src/routing/config.js";
import { PastryNode } from "../../src/routing/node.js";
import { NodeId } from "../../src/routing/id.js";
import { DEFAULT_ROUTING_CONFIG, MAX_LEAF_SET_SIZE } from "../../src/routing/types.js";
import { nodeInfo, seededRandom } from "./overlay-harness.js";

describe("routingConfig: the one place the core's configuration is checked", () => {
  it("fills in the defaults for what is left out and keeps what is given", () => {
    expect(routingConfig()).toEqual(DEFAULT_ROUTING_CONFIG);
    expect(routingConfig({ leafSetSize: 8, maxHops: 7 })).toEqual({
      ...DEFAULT_ROUTING_CONFIG,
      leafSetSize: 8,
      maxHops: 7,
    });
  });

  it("accepts every even leaf-set size from 2 to the cap", () => {
    for (let l = 2; l <= MAX_LEAF_SET_SIZE; l += 2)
      expect(routingConfig({ leafSetSize: l }).leafSetSize).toBe(l);
  });

  it("refuses odd, fractional, too small and above-cap leaf-set sizes with a RangeError naming the range", () => {
    for (const l of [0, 1, 3, 5.5, -2, MAX_LEAF_SET_SIZE + 2, Number.NaN]) {
      expect(() => routingConfig({ leafSetSize: l })).toThrow(RangeError);
      expect(() => routingConfig({ leafSetSize: l })).toThrow(`even integer in 2..${MAX_LEAF_SET_SIZE}`);
    }
  });

  it("refuses a table maintenance interval that is not positive; Infinity (never) is allowed", () => {
    for (const ms of [0, -1, Number.NaN]) {
      expect(() => routingConfig({ tableMaintenanceIntervalMs: ms })).toThrow(/must be positive/);
    }
    expect(routingConfig({ tableMaintenanceIntervalMs: Infinity }).tableMaintenanceIntervalMs).toBe(Infinity);
  });

  it("is what a PastryNode is built with: a node refuses the same configurations", () => {
    const self = nodeInfo(NodeId.fromBigInt(1n), 1);
    expect(() => new PastryNode(self, { random: seededRandom(1), config: { leafSetSize: 3 } })).toThrow(
      RangeError,
    );
    expect(
      new PastryNode(self, { random: seededRandom(1), config: { leafSetSize: 6 } }).config.leafSetSize,
    ).toBe(6);
  });
});
