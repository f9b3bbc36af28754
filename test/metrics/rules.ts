// The chart's alerting rules file, as the tests read it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../helpers/node-processes.js";

export const RULES = join(REPO_ROOT, "deploy/helm/wendy/files/alerts.yaml");

interface RulesFile {
  groups: { rules: { alert?: string; expr: string }[] }[];
}

export function alertNames(): string[] {
  const rules = parse(readFileSync(RULES, "utf8")) as RulesFile;
  return rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert === undefined ? [] : [r.alert])));
}
