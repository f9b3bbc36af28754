// Runs every protocol scenario in test/routing/testdata (format: test/routing/testdata/README.md). Each
// directive's output must equal the block written under it. WENDY_REWRITE_SCENARIOS=1 writes the actual
// outputs into the files instead (for a new scenario; read every block it wrote before committing it).
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { mismatches, parseScenario, renderScenario, runScenario } from "./scenario-driver.js";

const DIR = fileURLToPath(new URL("./testdata/", import.meta.url));
const REWRITE = process.env.WENDY_REWRITE_SCENARIOS === "1";
const files = readdirSync(DIR)
  .filter((f) => f.endsWith(".txt"))
  .sort();

describe("protocol scenarios (test/routing/testdata)", () => {
  it("there are scenarios to run", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(file.replace(/\.txt$/, ""), () => {
      const segments = parseScenario(readFileSync(DIR + file, "utf8"));
      const actual = runScenario(segments, file);
      if (REWRITE) {
        writeFileSync(DIR + file, renderScenario(segments, actual));
        return;
      }
      for (const [directive, output] of actual) {
        expect(output, `${file}:${directive.line}: ${directive.command}`).toBe(directive.expected ?? "");
      }
    });
  }
});

describe("the scenario driver", () => {
  const scenario = (text: string) => {
    const segments = parseScenario(text);
    return mismatches(runScenario(segments, "inline")).map((d) => d.line);
  };

  it("accepts output equal to its block, and reports a block that differs and a command that printed unasked", () => {
    const ring = "config leafSetSize=4\n\nring 1 5 9\n\n";
    expect(scenario(`${ring}status 5\n----\n5 ready\n`)).toEqual([]);
    expect(scenario(`${ring}status 5\n----\n5 joining\n`)).toEqual([5]);
    expect(scenario(`${ring}leafset 5\n`)).toEqual([5]);
  });

  it("refuses unknown commands, kinds of output, message types and misspelt node names, naming the line", () => {
    expect(() => scenario("frobnicate 1\n")).toThrow(/inline:1: frobnicate 1: unknown command/);
    expect(() => scenario("bootstrap 1\n\nrun show=delivery\n")).toThrow(/inline:3: .*unknown kind delivery/);
    expect(() => scenario("bootstrap 1\n\nhold type=ping\n")).toThrow(/unknown message type ping/);
    expect(() => scenario("bootstrap 10\n")).toThrow(/write 10 as 1/);
    expect(() => scenario("bootstrap 1\n\ntick ms=1000 evry=100\n")).toThrow(/tick takes no argument evry=/);
    expect(() => scenario("bootstrap 1\n\ntick ms=1000 every=0\n")).toThrow(/never end/);
    expect(() => scenario("config leafSetSise=4\n")).toThrow(/config takes no argument leafSetSise=/);
  });

  it("rewrites only the blocks: comments and blank lines stay as they are", () => {
    const text = "# a comment\nbootstrap 1\n\nstatus 1\n----\nwrong\n\n# end\n";
    const segments = parseScenario(text);
    expect(renderScenario(segments, runScenario(segments, "inline"))).toBe(
      "# a comment\nbootstrap 1\n\nstatus 1\n----\n1 ready\n\n# end\n",
    );
  });
});
