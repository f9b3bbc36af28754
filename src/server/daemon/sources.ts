// Collects the raw text of every setting from flags, then environment, then config file (first one wins),
// remembering where each came from so that an error can name exactly what the operator has to fix.
import { readFileSync } from "node:fs";
import { ConfigError } from "./config-error.js";
import { OTHER_KNOWN_VARIABLES, VARIABLES, keyName } from "./variables.js";

export interface RawSetting {
  readonly value: string;
  /** Where it came from, for messages: "--port", "environment", "config file wendy.json (key port)". */
  readonly origin: string;
}

export interface SettingSources {
  /** Parsed flags by commander attribute name (camelCase); undefined for flags not given. */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface RawSettings {
  /** By variable name (WENDY_PORT). Empty values are absent (an empty variable counts as unset). */
  readonly values: ReadonlyMap<string, RawSetting>;
  /** Unknown WENDY_* environment variables (usually typos): logged as warnings, otherwise ignored. */
  readonly unknownEnv: readonly string[];
}

const KNOWN = new Set(VARIABLES.map((v) => v.env));

export function gatherSettings(sources: SettingSources): RawSettings {
  const values = new Map<string, RawSetting>();
  const fromFile = readConfigFile(sources);
  for (const spec of VARIABLES) {
    const key = keyName(spec.env);
    const flag = flagText(sources.flags[key]);
    const env = sources.env[spec.env];
    const file = fromFile.values.get(key);
    if (flag !== undefined && flag !== "") values.set(spec.env, { value: flag, origin: `--${flagOf(key)}` });
    else if (env !== undefined && env !== "") values.set(spec.env, { value: env, origin: "environment" });
    else if (file !== undefined && file !== "")
      values.set(spec.env, { value: file, origin: `config file ${fromFile.path} (key ${key})` });
  }
  const unknownEnv = Object.keys(sources.env)
    .filter((name) => name.startsWith("WENDY_") && !KNOWN.has(name) && !OTHER_KNOWN_VARIABLES.has(name))
    .sort();
  return { values, unknownEnv };
}

function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function flagText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value === true) return "true";
  if (value === false) return "false";
  return String(value);
}

interface FileSettings {
  readonly path: string;
  readonly values: ReadonlyMap<string, string>;
}

/** The config file named by --config or WENDY_CONFIG: a JSON object keyed like the flags, in camelCase. */
function readConfigFile(sources: SettingSources): FileSettings {
  const flagPath = flagText(sources.flags.config);
  const envPath = sources.env.WENDY_CONFIG;
  const variable = flagPath ? "--config" : "WENDY_CONFIG";
  const path = flagPath || envPath;
  if (!path) return { path: "", values: new Map() };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(variable, `cannot read ${variable} file "${path}": ${reason(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(variable, `${variable} file "${path}" is not valid JSON: ${reason(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(variable, `${variable} file "${path}" must hold a JSON object`);
  }
  const keys = new Map(VARIABLES.map((v) => [keyName(v.env), v]));
  const values = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    const spec = keys.get(key);
    if (spec === undefined) {
      throw new ConfigError(
        variable,
        `${variable} file "${path}" has an unknown key "${key}" (keys are the flags in camelCase, e.g. leafSetSize)`,
      );
    }
    values.set(key, fileValueText(value, spec.env, key, path));
  }
  return { path, values };
}

function fileValueText(value: unknown, env: string, key: string, path: string): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (env === "WENDY_JOIN" && Array.isArray(value) && value.every((v) => typeof v === "string")) {
    return value.join(",");
  }
  throw new ConfigError(
    env,
    `invalid ${env} (config file ${path}, key ${key}): expected a string, number or boolean`,
  );
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
