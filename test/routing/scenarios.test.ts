// Runs every protocol scenario in test/routing/testdata (format: test/routing/testdata/README.md). Each
// directive's output must equal the block written under it. WENDY_REWRITE_SCENARIOS=1 writes the actual
// outputs into the files instead (for a new scenario; read every block it wrote before committing it).
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ScenarioEnv, parseScenario, renderScenario, type Directive } from "./scenario-driver.js";

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
      const env = new ScenarioEnv();
      const actual = new Map<Directive, string>();
      for (const segment of segments) {
        if (segment.kind !== "directive") continue;
        const { directive } = segment;
        const where = `${file}:${directive.line}: ${directive.command}`;
        let output: string;
        try {
          output = env.run(directive);
        } catch (error) {
          throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
        }
        actual.set(directive, output);
        if (!REWRITE) expect(output, where).toBe(directive.expected ?? "");
      }
      if (REWRITE) writeFileSync(DIR + file, renderScenario(segments, actual));
    });
  }
});
