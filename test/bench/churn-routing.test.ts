// bench/sim/churn-routing.ts: the routing overrides of a churn run, checked, and named in its label.
import { describe, expect, it } from "vitest";
import { churnRouting } from "../../bench/sim/churn-routing.js";

describe("churnRouting", () => {
  it("overrides nothing by default, and --heartbeat-ms alone still sets the failure timeout to twice it", () => {
    expect(churnRouting({})).toEqual({ routing: {}, label: "" });
    expect(churnRouting({ heartbeatMs: "8000" })).toEqual({
      routing: { heartbeatIntervalMs: 8000, failureTimeoutMs: 16_000 },
      label: ", heartbeat 8000 ms",
    });
  });

  it("takes an explicit failure timeout and leaf-set size, and names each in the label", () => {
    expect(churnRouting({ heartbeatMs: "8000", failureTimeoutMs: "10000", leafSetSize: "16" })).toEqual({
      routing: { heartbeatIntervalMs: 8000, failureTimeoutMs: 10_000, leafSetSize: 16 },
      label: ", heartbeat 8000 ms, failure timeout 10000 ms, leaf set 16",
    });
  });

  it("refuses a failure timeout not above the heartbeat interval, an odd leaf set and non-positive numbers", () => {
    expect(() => churnRouting({ failureTimeoutMs: "4000" })).toThrow(/must exceed the heartbeat interval/);
    expect(() => churnRouting({ leafSetSize: "15" })).toThrow(RangeError);
    expect(() => churnRouting({ heartbeatMs: "0" })).toThrow("bad --heartbeat-ms 0");
    expect(() => churnRouting({ failureTimeoutMs: "soon" })).toThrow("bad --failure-timeout-ms soon");
  });
});
