// Turns the chart's rendered StatefulSet (and the image's Dockerfile) into what a kubelet would run for one
// pod: the command line, the environment with Kubernetes' substitutions, the volumes and the user. Anything
// the chart uses that this rehearsal cannot reproduce is an error naming it, never silently dropped.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IIoK8sApiCoreV1Container } from "kubernetes-models/v1/Container";
import type { IIoK8sApiCoreV1EnvVar } from "kubernetes-models/v1/EnvVar";
import type { IIoK8sApiCoreV1Probe } from "kubernetes-models/v1/Probe";
import type { IIoK8sApiCoreV1Volume } from "kubernetes-models/v1/Volume";
import { findObject, type KubeObject } from "../helm/helm.js";

/** Where the image keeps the program; a rehearsal mounts the checkout there in the pod's own root. */
export const IMAGE_APP_DIR = "/app";

export interface ImageConfig {
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly workdir: string;
  /** USER of the image as "uid[:gid]", if any. */
  readonly user?: string;
}

/** Reads ENTRYPOINT, CMD, ENV, WORKDIR and USER of the Dockerfile's last stage (the runtime image). */
export function readImageConfig(dockerfile: string): ImageConfig {
  const lines = dockerfile
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith("#"));
  const lastFrom = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  if (lastFrom < 0) throw new Error("the Dockerfile has no FROM");
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  let workdir = "/";
  let user: string | undefined;
  const env: Record<string, string> = {};
  for (const line of lines.slice(lastFrom + 1)) {
    const [instruction = "", ...rest] = line.split(/\s+/);
    const argument = rest.join(" ");
    switch (instruction.toUpperCase()) {
      case "ENTRYPOINT":
        entrypoint = execForm(argument, "ENTRYPOINT");
        break;
      case "CMD":
        cmd = execForm(argument, "CMD");
        break;
      case "WORKDIR":
        workdir = argument;
        break;
      case "USER":
        user = argument;
        break;
      case "ENV":
        for (const pair of rest) {
          const eq = pair.indexOf("=");
          if (eq <= 0) throw new Error(`ENV ${argument}: only the KEY=value form is understood`);
          env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
    }
  }
  return { entrypoint, cmd, env, workdir, ...(user === undefined ? {} : { user }) };
}

function execForm(argument: string, instruction: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(argument);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === "string")) {
    throw new Error(`${instruction} must be in exec (JSON array) form, got ${argument}`);
  }
  return parsed as string[];
}

/**
 * Kubernetes' `$(VAR)` expansion of env values, command and args: `$(NAME)` becomes NAME's value when it is
 * defined, and stays as written when not; `$$` is a literal `$`.
 */
export function expandKubernetes(text: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const next = text[i + 1];
    if (c !== "$" || next === undefined) {
      out += c;
      continue;
    }
    if (next === "$") {
      out += "$";
      i++;
      continue;
    }
    if (next === "(") {
      const close = text.indexOf(")", i + 2);
      if (close < 0) {
        out += text.slice(i);
        break;
      }
      const name = text.slice(i + 2, close);
      out += lookup(name) ?? `$(${name})`;
      i = close;
      continue;
    }
    out += c;
  }
  return out;
}

/** A volume as the pod sees it at its mount path; "image" stands for the image's own files (the checkout). */
export type PodMount =
  | { readonly kind: "image"; readonly mountPath: string; readonly source: string }
  | { readonly kind: "emptyDir"; readonly mountPath: string; readonly sizeLimitBytes?: number }
  | ({
      /** A Secret's items, or what a CSI driver wrote (cert-manager's: the pod's own certificate). */
      readonly kind: "secret" | "csi";
      readonly mountPath: string;
      readonly readOnly: boolean;
    } & CsiFiles);

export interface VolumeFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/** Files of a volume as its driver leaves them: owned by root and `group`, the directory of mode `dirMode`. */
export interface CsiFiles {
  readonly group: number;
  readonly dirMode: number;
  readonly files: readonly VolumeFile[];
}

/** What the kubelet hands a CSI driver for a pod's inline volume. */
export interface CsiVolumeRequest {
  readonly driver: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly podName: string;
  readonly namespace: string;
  readonly serviceAccountName: string;
}

export interface PodProbe {
  readonly kind: "grpc" | "httpGet" | "tcpSocket";
  readonly port: number;
  /** grpc: the health service name; httpGet: the path. */
  readonly target: string;
}

export interface PodPlan {
  readonly podName: string;
  readonly podIP: string;
  /** FQDN of the pod under the headless service. */
  readonly fqdn: string;
  /** The program and its arguments, as the pod sees them (the image's paths). */
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly PodMount[];
  readonly runAsUser: number;
  readonly runAsGroup: number;
  readonly supplementalGroups: readonly number[];
  readonly dropAllCapabilities: boolean;
  readonly noNewPrivileges: boolean;
  /** The container's probes; an application container may have none. */
  readonly readinessProbe: PodProbe | undefined;
  readonly livenessProbe: PodProbe | undefined;
  readonly ports: ReadonlyMap<string, number>;
  readonly terminationGracePeriodSeconds: number;
}

export interface ClusterFacts {
  /** The Kubernetes namespace the chart was rendered for. */
  readonly namespace: string;
  readonly clusterDomain: string;
  /** What each container image holds: its config and the host directory standing for its files. */
  readonly images: (image: string) => RehearsalImage | undefined;
  /** PATH inside the "image": the host's, so `node` resolves. */
  readonly path: string;
  /** The CSI drivers installed (a stand-in for each); a csi volume of any other is an error. */
  readonly csi?: (request: CsiVolumeRequest) => CsiFiles;
}

/** A container image as the rehearsal stands it in: its config, and a host directory shown at `filesAt`. */
export interface RehearsalImage {
  readonly config: ImageConfig;
  readonly files: string;
  readonly filesAt: string;
}

/** The Wendy image: the Dockerfile's runtime stage, with the checkout where the image keeps the program. */
export function wendyImage(repoRoot: string): RehearsalImage {
  return {
    config: readImageConfig(readFileSync(join(repoRoot, "Dockerfile"), "utf8")),
    files: repoRoot,
    filesAt: IMAGE_APP_DIR,
  };
}

/**
 * One container (`containerName`, the node by default) of the pod `podName` at `podIP`, as the kubelet would
 * run it from the rendered objects.
 */
export function planPod(
  objects: readonly KubeObject[],
  podName: string,
  podIP: string,
  facts: ClusterFacts,
  containerName = "wendy",
): PodPlan {
  const sts = findObject(objects, "StatefulSet") as unknown as IStatefulSet;
  const podSpec = sts.spec?.template.spec;
  if (!podSpec) throw new Error("the StatefulSet has no pod template");
  if ((podSpec.initContainers ?? []).length > 0) {
    throw new Error("the pod has init containers: this rehearsal does not run them");
  }
  const container = podSpec.containers.find((c) => c.name === containerName);
  if (!container) throw new Error(`no container named ${containerName}`);
  const standIn = facts.images(container.image ?? "");
  if (standIn === undefined) throw new Error(`image ${container.image} is not known to this rehearsal`);
  const image = standIn.config;
  const fqdn = `${podName}.${sts.spec?.serviceName}.${facts.namespace}.svc.${facts.clusterDomain}`;
  const fields: Record<string, string> = {
    "metadata.name": podName,
    "metadata.namespace": facts.namespace,
    "status.podIP": podIP,
    "spec.serviceAccountName": podSpec.serviceAccountName ?? "default",
  };

  // The container's own variables, in order: each may refer to the ones before it.
  const containerEnv = new Map<string, string>();
  if ((container.envFrom ?? []).length > 0) throw new Error("envFrom is not simulated by this rehearsal");
  for (const variable of container.env ?? []) {
    const value =
      variable.value !== undefined
        ? expandKubernetes(variable.value, (n) => containerEnv.get(n))
        : valueFrom(objects, variable.name, variable.valueFrom, fields);
    containerEnv.set(variable.name, value);
  }
  const env: Record<string, string> = {
    PATH: facts.path,
    ...image.env,
    // What the runtime adds: the pod's hostname, and HOME for a user with no passwd entry.
    HOSTNAME: podName,
    HOME: "/",
    ...Object.fromEntries(containerEnv),
  };
  const expand = (s: string): string => expandKubernetes(s, (n) => containerEnv.get(n));
  // Kubernetes: `command` replaces the image's ENTRYPOINT, `args` its CMD.
  const entry = container.command?.map(expand) ?? image.entrypoint;
  const args = container.args?.map(expand) ?? (container.command ? [] : image.cmd);

  const pod = podSpec.securityContext ?? {};
  const own = container.securityContext ?? {};
  const [imageUid, imageGid] = (image.user ?? "0:0").split(":").map(Number);
  const runAsUser = own.runAsUser ?? pod.runAsUser ?? imageUid ?? 0;
  const runAsGroup = own.runAsGroup ?? pod.runAsGroup ?? imageGid ?? 0;
  if ((own.runAsNonRoot ?? pod.runAsNonRoot) === true && runAsUser === 0) {
    throw new Error(
      "runAsNonRoot is set but the pod would run as root: the kubelet would refuse to start it",
    );
  }
  const ports = new Map(
    (container.ports ?? []).map((p) => [p.name ?? String(p.containerPort), p.containerPort]),
  );
  return {
    podName,
    podIP,
    fqdn,
    argv: [...entry, ...args],
    cwd: container.workingDir ?? image.workdir,
    env,
    mounts: [
      { kind: "image", mountPath: standIn.filesAt, source: standIn.files },
      ...mountsOf(objects, podSpec.volumes ?? [], container, pod.fsGroup, (driver, attributes) => {
        if (facts.csi === undefined)
          throw new Error(`csi driver ${driver} is not installed in this rehearsal`);
        return facts.csi({
          driver,
          attributes,
          podName,
          namespace: facts.namespace,
          serviceAccountName: fields["spec.serviceAccountName"]!,
        });
      }),
    ],
    runAsUser,
    runAsGroup,
    supplementalGroups: [...new Set([runAsGroup, ...(pod.fsGroup === undefined ? [] : [pod.fsGroup])])],
    dropAllCapabilities: (own.capabilities?.drop ?? []).includes("ALL"),
    noNewPrivileges: own.allowPrivilegeEscalation === false,
    readinessProbe: probeOf(container.readinessProbe, ports, "readinessProbe"),
    livenessProbe: probeOf(container.livenessProbe, ports, "livenessProbe"),
    ports,
    terminationGracePeriodSeconds: podSpec.terminationGracePeriodSeconds ?? 30,
  };
}

function valueFrom(
  objects: readonly KubeObject[],
  name: string,
  source: IIoK8sApiCoreV1EnvVar["valueFrom"],
  fields: Readonly<Record<string, string>>,
): string {
  if (source?.fieldRef) {
    const value = fields[source.fieldRef.fieldPath];
    if (value === undefined)
      throw new Error(`${name}: fieldRef ${source.fieldRef.fieldPath} is not simulated`);
    return value;
  }
  if (source?.secretKeyRef) {
    return secretValue(objects, source.secretKeyRef.name ?? "", source.secretKeyRef.key);
  }
  if (source?.configMapKeyRef) {
    const map = findObject(objects, "ConfigMap", source.configMapKeyRef.name);
    const value = (map["data"] as Record<string, string> | undefined)?.[source.configMapKeyRef.key];
    if (value === undefined)
      throw new Error(`${name}: ConfigMap key ${source.configMapKeyRef.key} is missing`);
    return value;
  }
  throw new Error(`${name}: this kind of valueFrom is not simulated`);
}

function secretValue(objects: readonly KubeObject[], secretName: string, key: string): string {
  const secret = findObject(objects, "Secret", secretName);
  const encoded = (secret["data"] as Record<string, string> | undefined)?.[key];
  if (encoded === undefined) throw new Error(`Secret ${secretName} has no key ${key}`);
  return Buffer.from(encoded, "base64").toString("utf8");
}

function mountsOf(
  objects: readonly KubeObject[],
  volumes: readonly IIoK8sApiCoreV1Volume[],
  container: IIoK8sApiCoreV1Container,
  fsGroup: number | undefined,
  csi: (driver: string, attributes: Readonly<Record<string, string>>) => CsiFiles,
): PodMount[] {
  return (container.volumeMounts ?? []).map((mount): PodMount => {
    if (mount.subPath !== undefined) throw new Error(`volume mount ${mount.name}: subPath is not simulated`);
    const volume = volumes.find((v) => v.name === mount.name);
    if (!volume) throw new Error(`volume mount ${mount.name} has no volume`);
    if (volume.emptyDir) {
      const size = volume.emptyDir.sizeLimit;
      return {
        kind: "emptyDir",
        mountPath: mount.mountPath,
        ...(size === undefined ? {} : { sizeLimitBytes: quantityBytes(String(size)) }),
      };
    }
    if (volume.secret) {
      const name = volume.secret.secretName ?? "";
      const secret = findObject(objects, "Secret", name);
      const data = (secret["data"] as Record<string, string> | undefined) ?? {};
      const items =
        volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
      const defaultMode = volume.secret.defaultMode ?? 0o644;
      if (fsGroup === undefined) throw new Error("a secret volume without fsGroup is not simulated");
      return {
        kind: "secret",
        mountPath: mount.mountPath,
        readOnly: mount.readOnly === true,
        group: fsGroup,
        dirMode: 0o755,
        files: items.map((item) => ({
          path: item.path,
          content: secretValue(objects, name, item.key),
          mode: item.mode ?? defaultMode,
        })),
      };
    }
    if (volume.csi) {
      // Inline CSI volumes are read-only here: the kubelet passes readOnly, and the drivers simulated write
      // their files themselves.
      if (volume.csi.readOnly !== true)
        throw new Error(`csi volume ${volume.name}: only read-only ones are simulated`);
      return {
        kind: "csi",
        mountPath: mount.mountPath,
        readOnly: true,
        ...csi(volume.csi.driver, volume.csi.volumeAttributes ?? {}),
      };
    }
    throw new Error(`volume ${volume.name}: only emptyDir, secret and csi volumes are simulated`);
  });
}

function quantityBytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!match) throw new Error(`quantity ${quantity} is not understood`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] ?? ""] ?? 1;
  return Number(match[1]) * unit;
}

function probeOf(
  probe: IIoK8sApiCoreV1Probe | undefined,
  ports: ReadonlyMap<string, number>,
  what: string,
): PodProbe | undefined {
  if (probe === undefined) return undefined;
  const port = (p: number | string): number => {
    const n = typeof p === "number" ? p : (ports.get(p) ?? Number(p));
    if (!Number.isInteger(n)) throw new Error(`${what}: port ${p} is not a container port`);
    return n;
  };
  if (probe?.grpc) return { kind: "grpc", port: probe.grpc.port, target: probe.grpc.service ?? "" };
  if (probe?.httpGet)
    return { kind: "httpGet", port: port(probe.httpGet.port), target: probe.httpGet.path ?? "/" };
  if (probe?.tcpSocket) return { kind: "tcpSocket", port: port(probe.tcpSocket.port), target: "" };
  throw new Error(`the container's ${what} is of a kind this rehearsal cannot run`);
}
