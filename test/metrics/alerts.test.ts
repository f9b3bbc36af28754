// The chart's alerting rules under Prometheus's own tools: `promtool check rules` finds them valid and
// `promtool test rules` runs alerts.test.yaml, in which every alert fires on the series that should fire it
// and none fires on a healthy cluster.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../helpers/node-processes.js";
import { findPromtool } from "./promtool.js";
import { RULES, alertNames } from "./rules.js";

const UNIT_TESTS = join(REPO_ROOT, "test/metrics/alerts.test.yaml");

interface UnitTests {
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

function promtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(findPromtool(), args, { encoding: "utf8", cwd: REPO_ROOT });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("alerting rules", () => {
  it("pass `promtool check rules`", () => {
    const result = promtool(["check", "rules", RULES]);
    expect(result.output).toContain(`SUCCESS: ${alertNames().length} rules found`);
    expect(result.status).toBe(0);
  });

  it("pass their `promtool test rules` unit tests", () => {
    const result = promtool(["test", "rules", UNIT_TESTS]);
    expect(result.output).toContain("SUCCESS");
    expect(result.status).toBe(0);
  });

  it("each have a unit test where they fire and one where they stay quiet", () => {
    const tests = (parse(readFileSync(UNIT_TESTS, "utf8")) as UnitTests).tests.flatMap(
      (t) => t.alert_rule_test,
    );
    const names = alertNames();
    expect(names.length).toBeGreaterThanOrEqual(7);
    for (const name of names) {
      const cases = tests.filter((t) => t.alertname === name);
      expect(
        cases.some((t) => t.exp_alerts.length > 0),
        `${name} fires somewhere`,
      ).toBe(true);
      expect(
        cases.some((t) => t.exp_alerts.length === 0),
        `${name} stays quiet somewhere`,
      ).toBe(true);
    }
  });
});
