import { describe, expect, it } from "vitest";
import { leafSetSizeProblem } from "../../src/server/cluster/options.js";
import { applicationPurposeProblem, payloadProblem } from "../../src/wire/limits.js";

describe("the rules every edge applies", () => {
  it("application purposes are the integers 16..maxPurpose; each refusal says why", () => {
    expect([16, 17, 65535].map((p) => applicationPurposeProblem(p, 65535))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(applicationPurposeProblem(15, 65535)).toMatch(
      /15 is reserved for the protocol \(application purposes are 16\.\.65535\)/,
    );
    expect(applicationPurposeProblem(0, 65535)).toMatch(/reserved for the protocol/);
    expect(applicationPurposeProblem(70, 64)).toMatch(/70 is above the highest purpose 64/);
    expect(applicationPurposeProblem(16.5, 65535)).toMatch(/16.5 is not an integer/);
  });

  it("a payload may be as large as the limit and no larger", () => {
    expect(payloadProblem(1024, 1024)).toBeUndefined();
    expect(payloadProblem(1025, 1024)).toBe("1025 bytes exceeds the limit of 1024 bytes");
  });

  it("leaf-set sizes are even, 4..128", () => {
    expect([4, 32, 128].map(leafSetSizeProblem)).toEqual([undefined, undefined, undefined]);
    expect(leafSetSizeProblem(2)).toMatch(/at least 4 .*one failed neighbour/);
    expect(leafSetSizeProblem(0)).toMatch(/at least 4/);
    for (const bad of [5, 130, 4.5]) expect(leafSetSizeProblem(bad)).toMatch(/even integer in 4\.\.128/);
  });
});
