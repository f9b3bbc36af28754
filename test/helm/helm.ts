// Runs helm on the chart and parses what it renders. Uses `helm` from the PATH; where none is installed, the
// stand-in of shared/tools/helm (same template engine and schema validation) is put on the PATH instead.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { ConfigMap, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { StatefulSet, type IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CHART_DIR = join(REPO_ROOT, "deploy/helm/wendy");
/** Names the folder of the helm stand-in when shared/ is not beside the checkout. */
export const STAND_IN_DIR_VARIABLE = "WENDY_HELM_STAND_IN_DIR";
/** The first run of the stand-in installs Go and builds it. */
export const HELM_SETUP_TIMEOUT_MS = 300_000;
export const RELEASE = "wendy";
export const NAMESPACE = "ring";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

let helmEnvironment: NodeJS.ProcessEnv | undefined;

/** The repository a local clone was made from (its origin is a path), if any. */
function localOrigin(): string | undefined {
  const origin = spawnSync("git", ["-C", REPO_ROOT, "config", "--get", "remote.origin.url"], {
    encoding: "utf8",
  });
  const url = origin.status === 0 ? origin.stdout.trim() : "";
  if (url.startsWith("/")) return url;
  if (url.startsWith("file://")) return fileURLToPath(url);
  return undefined;
}

/**
 * Where the stand-in is: $WENDY_HELM_STAND_IN_DIR; else shared/ beside the checkout, as CI and developers
 * have it; else shared/ beside the repository a local clone was made from (a clone under /tmp).
 */
function standInDir(): string {
  const named = process.env[STAND_IN_DIR_VARIABLE];
  const origin = localOrigin();
  const candidates =
    named !== undefined
      ? [resolve(named)]
      : [
          resolve(REPO_ROOT, "../shared/tools/helm"),
          ...(origin === undefined ? [] : [resolve(origin, "../shared/tools/helm")]),
        ];
  const found = candidates.find((dir) => existsSync(join(dir, "helm")));
  if (found === undefined) {
    throw new Error(
      `no helm on the PATH and no helm stand-in at ${candidates.join(" or ")}: install helm, or set ` +
        `${STAND_IN_DIR_VARIABLE} to the folder holding the stand-in (shared/tools/helm)`,
    );
  }
  return found;
}

function helmEnv(): NodeJS.ProcessEnv {
  if (helmEnvironment === undefined) {
    const installed = spawnSync("helm", ["version"], { encoding: "utf8" });
    helmEnvironment =
      installed.error === undefined && installed.status === 0
        ? process.env
        : { ...process.env, PATH: `${standInDir()}${delimiter}${process.env["PATH"] ?? ""}` };
  }
  return helmEnvironment;
}

export function runHelm(args: readonly string[]): HelmResult {
  const result = spawnSync("helm", args, {
    cwd: REPO_ROOT,
    env: helmEnv(),
    encoding: "utf8",
    timeout: HELM_SETUP_TIMEOUT_MS,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `helm <command> ... -f <values as a file>`; the values file is removed afterwards. */
function withValuesFile<T>(values: object, run: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "wendy-helm-"));
  try {
    const file = join(dir, "values.yaml");
    writeFileSync(file, stringify(values));
    return run(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The example of Wendy as a sidecar in an application's own StatefulSet. */
export const SIDECAR_CHART_DIR = join(REPO_ROOT, "deploy/helm/wendy-sidecar-example");

export function template(
  values: object = {},
  extraArgs: readonly string[] = [],
  chartDir: string = CHART_DIR,
): HelmResult {
  return withValuesFile(values, (file) =>
    runHelm(["template", RELEASE, chartDir, "-n", NAMESPACE, "-f", file, ...extraArgs]),
  );
}

export function lint(
  values: object = {},
  extraArgs: readonly string[] = [],
  chartDir: string = CHART_DIR,
): HelmResult {
  return withValuesFile(values, (file) => runHelm(["lint", chartDir, "-f", file, ...extraArgs]));
}

/** Renders and parses; throws with helm's message when rendering fails. */
export function render(
  values: object = {},
  extraArgs: readonly string[] = [],
  chartDir: string = CHART_DIR,
): KubeObject[] {
  const result = template(values, extraArgs, chartDir);
  if (result.status !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseManifests(result.stdout);
}

export function parseManifests(text: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    objects.push(value as KubeObject);
  }
  return objects;
}

/**
 * Validates each object against the Kubernetes OpenAPI schema of its kind (kubernetes-models); throws on the
 * first invalid one or on a kind this chart is not expected to render. ServiceMonitor and PrometheusRule
 * have no model there: they are returned for the caller to check by hand.
 */
export function validateAll(objects: readonly KubeObject[]): KubeObject[] {
  const unchecked: KubeObject[] = [];
  for (const object of objects) {
    const where = `${object.kind} ${object.metadata.name}`;
    const data = object as never;
    const model = (() => {
      switch (`${object.apiVersion} ${object.kind}`) {
        case "apps/v1 StatefulSet":
          return new StatefulSet(data);
        case "v1 Service":
          return new Service(data);
        case "v1 Secret":
          return new Secret(data);
        case "v1 ServiceAccount":
          return new ServiceAccount(data);
        case "v1 ConfigMap":
          return new ConfigMap(data);
        case "policy/v1 PodDisruptionBudget":
          return new PodDisruptionBudget(data);
        case "networking.k8s.io/v1 NetworkPolicy":
          return new NetworkPolicy(data);
        case "rbac.authorization.k8s.io/v1 ClusterRole":
          return new ClusterRole(data);
        case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
          return new ClusterRoleBinding(data);
        case "monitoring.coreos.com/v1 ServiceMonitor":
        case "monitoring.coreos.com/v1 PrometheusRule":
          return undefined;
        default:
          throw new Error(`unexpected object ${object.apiVersion} ${where}`);
      }
    })();
    if (model === undefined) {
      unchecked.push(object);
      continue;
    }
    try {
      model.validate();
    } catch (error) {
      throw new Error(`${where} is not a valid Kubernetes object: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return unchecked;
}

export function findObject(objects: readonly KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  }
  return found[0] as KubeObject;
}

/** The StatefulSet, typed (it has passed validateAll in the tests that use this). */
export function statefulSet(objects: readonly KubeObject[]): IStatefulSet {
  return findObject(objects, "StatefulSet") as unknown as IStatefulSet;
}

/** The wendy container's plain environment, name to value (valueFrom entries map to undefined). */
export function containerEnv(sts: IStatefulSet): Map<string, string | undefined> {
  const container = sts.spec?.template.spec?.containers.find((c) => c.name === "wendy");
  if (!container) throw new Error("no container named wendy");
  return new Map((container.env ?? []).map((e) => [e.name, e.value]));
}

export function wendyContainer(sts: IStatefulSet) {
  const container = sts.spec?.template.spec?.containers.find((c) => c.name === "wendy");
  if (!container) throw new Error("no container named wendy");
  return container;
}
