// The Helm chart, rendered with several value sets: every object is a valid Kubernetes object, and the
// pieces that must agree (ports, probes, DNS names, secrets) do.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IIoK8sApiCoreV1Container } from "kubernetes-models/v1/Container";
import {
  CHART_DIR,
  HELM_SETUP_TIMEOUT_MS,
  NAMESPACE,
  REPO_ROOT,
  containerEnv,
  findObject,
  lint,
  parseManifests,
  render,
  runHelm,
  statefulSet,
  template,
  validateAll,
  wendyContainer,
  RELEASE,
  type KubeObject,
} from "./helm.js";
import { NodeId } from "../../src/routing/id.js";
import { nodeIdOfCertificate } from "../../src/server/auth/node-identity.js";
import { testSecret } from "../helpers/secrets.js";

const POD_DOMAIN = `wendy-headless.${NAMESPACE}.svc.cluster.local`;

beforeAll(() => {
  // The stand-in builds itself on first use; do it here, once, with room for it.
  expect(runHelm(["version"]).status).toBe(0);
}, HELM_SETUP_TIMEOUT_MS);

function containerPort(container: IIoK8sApiCoreV1Container, name: string): number | undefined {
  return container.ports?.find((p) => p.name === name)?.containerPort;
}

function envNumber(sts: IStatefulSet, name: string): number {
  const value = containerEnv(sts).get(name);
  if (value === undefined) throw new Error(`${name} is not set to a plain value`);
  return Number(value);
}

/** The volume mounted at the directory of `file`, and the file's name within it. */
function volumeOfFile(sts: IStatefulSet, container: IIoK8sApiCoreV1Container, file: string) {
  const mount = container.volumeMounts?.find((m) => file.startsWith(m.mountPath + "/"));
  if (!mount) throw new Error(`no volume mounted above ${file}`);
  const volume = sts.spec?.template.spec?.volumes?.find((v) => v.name === mount.name);
  if (!volume) throw new Error(`mount ${mount.name} has no volume`);
  return { mount, volume, fileName: file.slice(mount.mountPath.length + 1) };
}

function decode(secret: KubeObject, key: string): string {
  const data = secret["data"] as Record<string, string>;
  const encoded = data[key];
  if (encoded === undefined) throw new Error(`Secret ${secret.metadata.name} has no key ${key}`);
  return Buffer.from(encoded, "base64").toString("utf8");
}

describe("default values", () => {
  let objects: KubeObject[];
  let sts: IStatefulSet;
  let container: IIoK8sApiCoreV1Container;
  beforeAll(() => {
    objects = render();
    sts = statefulSet(objects);
    container = wendyContainer(sts);
  });

  it("renders only valid Kubernetes objects, and no optional ones", () => {
    expect(validateAll(objects)).toEqual([]);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "PodDisruptionBudget",
      "Secret",
      "Service",
      "ServiceAccount",
      "StatefulSet",
    ]);
    for (const o of objects) expect(o.metadata.namespace).toBe(NAMESPACE);
  });

  it("passes helm lint", () => {
    const result = lint();
    expect(result.stdout + result.stderr).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(result.status).toBe(0);
  });

  it("is a parallel StatefulSet governed by a headless Service that publishes joining pods", () => {
    const headless = findObject(objects, "Service", "wendy-headless");
    const spec = headless["spec"] as { clusterIP: string; publishNotReadyAddresses: boolean };
    expect(spec.clusterIP).toBe("None");
    expect(spec.publishNotReadyAddresses).toBe(true);
    expect(sts.spec?.serviceName).toBe("wendy-headless");
    expect(sts.spec?.podManagementPolicy).toBe("Parallel");
    expect(sts.spec?.replicas).toBe(3);
    const podLabels = sts.spec?.template.metadata?.labels ?? {};
    expect(podLabels).toMatchObject(sts.spec?.selector.matchLabels ?? { missing: "selector" });
    expect(podLabels).toMatchObject((headless["spec"] as { selector: Record<string, string> }).selector);
  });

  it("names the node after its pod and advertises the pod's stable DNS name", () => {
    const env = container.env ?? [];
    expect(env.find((e) => e.name === "WENDY_NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.name",
    );
    // $(POD_NAME) only expands when POD_NAME is defined earlier in the list.
    const podName = env.findIndex((e) => e.name === "POD_NAME");
    expect(env[podName]?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    env.forEach((e, index) => {
      if (e.value?.includes("$(POD_NAME)")) expect(index).toBeGreaterThan(podName);
    });
    const vars = containerEnv(sts);
    expect(vars.get("WENDY_LOCAL_ADDRESS")).toBe(`$(POD_NAME).${POD_DOMAIN}:7070`);
    expect(vars.get("WENDY_GLOBAL_ADDRESS")).toBe(`$(POD_NAME).${POD_DOMAIN}:7070`);
  });

  it("joins through the stable names of pods 0..2", () => {
    expect(containerEnv(sts).get("WENDY_JOIN")?.split(",")).toEqual([
      `wendy-0.${POD_DOMAIN}:7070`,
      `wendy-1.${POD_DOMAIN}:7070`,
      `wendy-2.${POD_DOMAIN}:7070`,
    ]);
  });

  it("probes grpc.health.v1 on the peer port, the port WENDY_PORT sets", () => {
    const peerPort = envNumber(sts, "WENDY_PORT");
    expect(containerPort(container, "grpc-peer")).toBe(peerPort);
    expect(container.readinessProbe?.grpc).toEqual({ port: peerPort, service: "wendy.v1.PeerService" });
    expect(container.livenessProbe?.grpc).toEqual({ port: peerPort, service: "liveness" });
    expect(container.readinessProbe?.httpGet).toBeUndefined();
  });

  it("declares the ports the WENDY_* variables set, and the services point at them", () => {
    expect(containerPort(container, "http-metrics")).toBe(envNumber(sts, "WENDY_METRICS_PORT"));
    expect(sts.spec?.template.metadata?.annotations?.["prometheus.io/port"]).toBe(
      String(envNumber(sts, "WENDY_METRICS_PORT")),
    );
    // The client port stays on loopback, so it is not declared.
    expect(containerEnv(sts).get("WENDY_CLIENT_HOST")).toBe("127.0.0.1");
    expect(containerPort(container, "grpc-client")).toBeUndefined();
    const headless = findObject(objects, "Service", "wendy-headless");
    const ports = (headless["spec"] as { ports: { port: number; targetPort: string }[] }).ports;
    for (const p of ports) expect(containerPort(container, p.targetPort)).toBe(p.port);
  });

  it("runs as non-root with a read-only root filesystem and no capabilities", () => {
    const pod = sts.spec?.template.spec;
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod?.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(pod?.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    // A writable scratch directory on a read-only root.
    expect(container.volumeMounts?.find((m) => m.mountPath === "/tmp")).toBeDefined();
  });

  it("gives the graceful leave time to finish before the kubelet kills the pod", () => {
    const graceMs = envNumber(sts, "WENDY_SHUTDOWN_GRACE_MS");
    expect((sts.spec?.template.spec?.terminationGracePeriodSeconds ?? 0) * 1000).toBeGreaterThan(graceMs);
  });

  it("mounts the generated cluster secret read-only where WENDY_SECRET_FILE points", () => {
    const file = containerEnv(sts).get("WENDY_SECRET_FILE") ?? "";
    const { mount, volume, fileName } = volumeOfFile(sts, container, file);
    expect(mount.readOnly).toBe(true);
    const secret = findObject(objects, "Secret", volume.secret?.secretName);
    const item = volume.secret?.items?.find((i) => i.path === fileName);
    expect(item).toBeDefined();
    expect(decode(secret, item?.key ?? "").length).toBe(48);
  });

  it("spreads pods across zones and nodes and allows one voluntary disruption at a time", () => {
    const constraints = sts.spec?.template.spec?.topologySpreadConstraints ?? [];
    expect(constraints.map((c) => c.topologyKey)).toEqual([
      "topology.kubernetes.io/zone",
      "kubernetes.io/hostname",
    ]);
    for (const c of constraints) expect(c.labelSelector?.matchLabels).toEqual(sts.spec?.selector.matchLabels);
    const pdb = findObject(objects, "PodDisruptionBudget")["spec"] as Record<string, unknown>;
    expect(pdb).toEqual({ maxUnavailable: 1, selector: sts.spec?.selector });
  });
});

describe("seeds", () => {
  const join = (values: object) =>
    containerEnv(statefulSet(render(values)))
      .get("WENDY_JOIN")
      ?.split(",");

  it("uses min(replicas, 3) pods and appends extra seeds", () => {
    expect(join({ replicaCount: 1 })).toEqual([`wendy-0.${POD_DOMAIN}:7070`]);
    expect(join({ replicaCount: 7, join: { extraSeeds: ["eu.example.net:7070"] } })).toEqual([
      `wendy-0.${POD_DOMAIN}:7070`,
      `wendy-1.${POD_DOMAIN}:7070`,
      `wendy-2.${POD_DOMAIN}:7070`,
      "eu.example.net:7070",
    ]);
  });

  it("follows the release name, namespace, cluster domain and peer port", () => {
    const values = { fullnameOverride: "dht", clusterDomain: "k8s.test", ports: { peer: 7000 } };
    const sts = statefulSet(render(values, ["-n", "other"]));
    expect(containerEnv(sts).get("WENDY_JOIN")?.split(",")[1]).toBe(
      "dht-1.dht-headless.other.svc.k8s.test:7000",
    );
    expect(sts.spec?.serviceName).toBe("dht-headless");
    expect(wendyContainer(sts).readinessProbe?.grpc?.port).toBe(7000);
  });
});

describe("TLS on", () => {
  const values = { tls: { enabled: true, existingSecret: "wendy-peer-tls", caKey: "root.pem" } };
  let objects: KubeObject[];
  let sts: IStatefulSet;
  let container: IIoK8sApiCoreV1Container;
  beforeAll(() => {
    objects = render(values);
    sts = statefulSet(objects);
    container = wendyContainer(sts);
  });

  it("renders valid objects and passes lint", () => {
    expect(validateAll(objects)).toEqual([]);
    expect(lint(values).status).toBe(0);
  });

  it("probes /readyz and /healthz on the metrics port, since kubelet gRPC probes cannot speak TLS", () => {
    expect(container.readinessProbe?.grpc).toBeUndefined();
    expect(container.livenessProbe?.grpc).toBeUndefined();
    expect(container.readinessProbe?.httpGet?.path).toBe("/readyz");
    expect(container.livenessProbe?.httpGet?.path).toBe("/healthz");
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(containerPort(container, String(probe?.httpGet?.port))).toBe(
        envNumber(sts, "WENDY_METRICS_PORT"),
      );
    }
  });

  it("mounts certificate, key and CA from the named Secret, read-only, where WENDY_TLS_* point", () => {
    const vars = containerEnv(sts);
    const expectedKeys: Record<string, string> = {
      WENDY_TLS_CERT_FILE: "tls.crt",
      WENDY_TLS_KEY_FILE: "tls.key",
      WENDY_TLS_CA_FILE: "root.pem",
    };
    for (const [name, secretKey] of Object.entries(expectedKeys)) {
      const { mount, volume, fileName } = volumeOfFile(sts, container, vars.get(name) ?? "");
      expect(mount.readOnly).toBe(true);
      expect(volume.secret?.secretName).toBe("wendy-peer-tls");
      expect(volume.secret?.items?.find((i) => i.path === fileName)?.key).toBe(secretKey);
    }
    expect(vars.get("WENDY_TLS_MUTUAL")).toBe("true");
  });
});

describe("per-node identities from cert-manager's csi-driver", () => {
  const values = { identity: { enabled: true, issuer: { name: "wendy-ca", kind: "ClusterIssuer" } } };
  let objects: KubeObject[];
  let sts: IStatefulSet;
  let container: IIoK8sApiCoreV1Container;
  beforeAll(() => {
    objects = render(values);
    sts = statefulSet(objects);
    container = wendyContainer(sts);
  });

  it("renders valid objects and passes lint", () => {
    expect(validateAll(objects)).toEqual([]);
    expect(lint(values).status).toBe(0);
  });

  it("turns on mutual TLS with identities, the files read from the pod's own csi volume", () => {
    const vars = containerEnv(sts);
    expect(vars.get("WENDY_TLS_NODE_IDENTITY")).toBe("true");
    expect(vars.get("WENDY_TLS_MUTUAL")).toBe("true");
    for (const [name, file] of [
      ["WENDY_TLS_CERT_FILE", "tls.crt"],
      ["WENDY_TLS_KEY_FILE", "tls.key"],
      ["WENDY_TLS_CA_FILE", "ca.crt"],
    ] as const) {
      const { mount, volume, fileName } = volumeOfFile(sts, container, vars.get(name) ?? "");
      expect(mount.readOnly).toBe(true);
      expect(fileName).toBe(file);
      expect(volume.csi?.driver).toBe("csi.cert-manager.io");
    }
    expect(container.readinessProbe?.httpGet?.path).toBe("/readyz");
  });

  it("asks the issuer for a certificate naming the pod's node, its DNS name, and both TLS roles", () => {
    const vars = containerEnv(sts);
    const { volume } = volumeOfFile(sts, container, vars.get("WENDY_TLS_CERT_FILE") ?? "");
    const attributes = volume.csi?.volumeAttributes ?? {};
    expect(attributes["csi.cert-manager.io/issuer-name"]).toBe("wendy-ca");
    expect(attributes["csi.cert-manager.io/issuer-kind"]).toBe("ClusterIssuer");
    expect(attributes["csi.cert-manager.io/issuer-group"]).toBe("cert-manager.io");
    expect(attributes["csi.cert-manager.io/dns-names"]).toBe(`\${POD_NAME}.${POD_DOMAIN}`);
    expect(attributes["csi.cert-manager.io/key-usages"]?.split(",").sort()).toEqual([
      "client auth",
      "server auth",
    ]);
    expect(attributes["csi.cert-manager.io/fs-group"]).toBe("10001");
    // The URI the driver writes for pod wendy-2 names the node ID the daemon derives from its name
    // (WENDY_NODE_NAME is the pod name), so the daemon accepts its own certificate.
    const uri = (attributes["csi.cert-manager.io/uri-sans"] ?? "").replace("${POD_NAME}", "wendy-2");
    expect(nodeIdOfCertificate({ subjectaltname: `URI:${uri}` })).toBe(NodeId.fromString("wendy-2").hex);
    expect(containerEnv(sts).has("WENDY_NODE_NAME")).toBe(true);
  });
});

describe("existing cluster secret", () => {
  it("renders no Secret and mounts the named one's key", () => {
    const objects = render({ clusterSecret: { existingSecret: "corp-wendy", key: "shared" } });
    expect(validateAll(objects)).toEqual([]);
    expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    const sts = statefulSet(objects);
    const file = containerEnv(sts).get("WENDY_SECRET_FILE") ?? "";
    const { volume, fileName } = volumeOfFile(sts, wendyContainer(sts), file);
    expect(volume.secret?.secretName).toBe("corp-wendy");
    expect(volume.secret?.items).toEqual([{ key: "shared", path: fileName }]);
  });

  it("puts a given value into the created Secret", () => {
    const key = testSecret("chart");
    const objects = render({ clusterSecret: { value: key } });
    expect(decode(findObject(objects, "Secret", "wendy-cluster-secret"), "secret")).toBe(key);
  });
});

describe("cluster secret across renders (GitOps renders with helm template)", () => {
  const secretOf = (values: object): string =>
    decode(findObject(render(values), "Secret", "wendy-cluster-secret"), "secret");

  it("two renders with an explicit value give the same secret", () => {
    const values = { clusterSecret: { value: testSecret("gitops"), generate: false } };
    expect(secretOf(values)).toBe(secretOf(values));
  });

  it("two renders with an existing Secret mount the same one and create none", () => {
    const values = { clusterSecret: { existingSecret: "wendy-key", generate: false } };
    const [first, second] = [render(values), render(values)];
    for (const objects of [first, second]) expect(objects.filter((o) => o.kind === "Secret")).toEqual([]);
    const mounted = (objects: KubeObject[]) =>
      statefulSet(objects).spec?.template.spec?.volumes?.find((v) => v.name === "cluster-secret")?.secret;
    expect(mounted(first!)?.secretName).toBe("wendy-key");
    expect(mounted(second!)).toEqual(mounted(first!));
  });

  it("with generate=false and neither, rendering fails and says what to set", () => {
    const result = template({ clusterSecret: { generate: false } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/clusterSecret\.existingSecret.*split the ring/);
  });

  it("a generated secret differs between template renders, which is why GitOps needs generate=false", () => {
    expect(secretOf({})).not.toBe(secretOf({}));
  });
});

describe("NetworkPolicy", () => {
  interface Peer {
    podSelector?: { matchLabels?: Record<string, string> };
    namespaceSelector?: { matchExpressions?: { key: string; operator: string; values: string[] }[] };
  }
  interface Rule {
    from: Peer[];
    ports: { port: string; protocol: string }[];
  }
  const policyOf = (values: object) => {
    const objects = render(values);
    expect(validateAll(objects)).toEqual([]);
    const policy = findObject(objects, "NetworkPolicy")["spec"] as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: Rule[];
    };
    const byPort = new Map(policy.ingress.map((rule) => [rule.ports[0]?.port, rule]));
    return { policy, byPort, sts: statefulSet(objects) };
  };

  it("is not rendered unless enabled", () => {
    expect(render({}).filter((o) => o.kind === "NetworkPolicy")).toEqual([]);
  });

  it("admits the peer port from this release's pods only, and metrics from the release's namespace", () => {
    const { policy, byPort, sts } = policyOf({ networkPolicy: { enabled: true } });
    const podLabels = sts.spec?.template.metadata?.labels ?? {};
    expect(policy.policyTypes).toEqual(["Ingress"]);
    for (const [k, v] of Object.entries(policy.podSelector.matchLabels)) expect(podLabels[k]).toBe(v);
    expect([...byPort.keys()].sort()).toEqual(["grpc-peer", "http-metrics"]);
    const peers = byPort.get("grpc-peer")!.from;
    expect(peers).toEqual([{ podSelector: { matchLabels: policy.podSelector.matchLabels } }]);
    expect(policy.podSelector.matchLabels["app.kubernetes.io/instance"]).toBe(RELEASE);
    expect(byPort.get("http-metrics")!.from).toEqual([{ podSelector: {} }]);
    // Each named port exists on the container.
    for (const port of byPort.keys()) expect(containerPort(wendyContainer(sts), port ?? "")).toBeDefined();
  });

  it("admits the client port from the chosen namespaces only", () => {
    const { byPort, sts } = policyOf({
      networkPolicy: { enabled: true, clientNamespaces: ["apps", "web"], metricsNamespaces: ["monitoring"] },
      client: { service: { enabled: true }, token: { value: "t" }, tls: { existingSecret: "c" } },
    });
    const namespaces = (port: string) =>
      byPort.get(port)!.from.map((p) => p.namespaceSelector?.matchExpressions?.[0]);
    expect(namespaces("grpc-client")).toEqual([
      { key: "kubernetes.io/metadata.name", operator: "In", values: ["apps", "web"] },
    ]);
    expect(namespaces("http-metrics")).toEqual([
      { key: "kubernetes.io/metadata.name", operator: "In", values: ["monitoring"] },
    ]);
    expect(containerPort(wendyContainer(sts), "grpc-client")).toBeDefined();
  });

  it("refuses a namespace name that is not one", () => {
    const result = template({ networkPolicy: { enabled: true, clientNamespaces: ["Not A Namespace"] } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/clientNamespaces/);
  });
});

describe("ServiceMonitor", () => {
  it("is rendered only when enabled and the cluster serves monitoring.coreos.com/v1", () => {
    const without = render({ serviceMonitor: { enabled: true } });
    expect(without.filter((o) => o.kind === "ServiceMonitor")).toEqual([]);

    const objects = render({ serviceMonitor: { enabled: true, labels: { release: "prom" } } }, [
      "-a",
      "monitoring.coreos.com/v1",
    ]);
    const [monitor, ...others] = validateAll(objects);
    expect(others).toEqual([]);
    expect(monitor?.kind).toBe("ServiceMonitor");
    expect(monitor?.metadata.labels?.["release"]).toBe("prom");
    const spec = monitor?.["spec"] as {
      namespaceSelector: { matchNames: string[] };
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string; interval: string }[];
    };
    expect(spec.namespaceSelector.matchNames).toEqual([NAMESPACE]);
    // It selects exactly the Service whose named port it scrapes.
    const services = objects.filter(
      (o) =>
        o.kind === "Service" &&
        Object.entries(spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
    );
    expect(services.map((s) => s.metadata.name)).toEqual(["wendy-headless"]);
    const servicePorts = (services[0]?.["spec"] as { ports: { name: string }[] }).ports.map((p) => p.name);
    expect(spec.endpoints).toHaveLength(1);
    expect(servicePorts).toContain(spec.endpoints[0]?.port);
    expect(spec.endpoints[0]?.path).toBe("/metrics");
    expect(spec.endpoints[0]?.interval).toMatch(/^\d+s$/);
  });
});

describe("client Service", () => {
  it("listens on all interfaces behind a ClusterIP Service with the token from the created Secret", () => {
    const values = {
      client: {
        service: { enabled: true },
        token: { value: "s3cret-token" },
        tls: { existingSecret: "api-tls" },
      },
    };
    const objects = render(values);
    expect(validateAll(objects)).toEqual([]);
    expect(lint(values).status).toBe(0);
    const sts = statefulSet(objects);
    const container = wendyContainer(sts);
    expect(containerEnv(sts).get("WENDY_CLIENT_HOST")).toBe("0.0.0.0");
    const clientPort = envNumber(sts, "WENDY_CLIENT_PORT");
    expect(containerPort(container, "grpc-client")).toBe(clientPort);

    const service = findObject(objects, "Service", "wendy-client")["spec"] as {
      type: string;
      ports: { port: number; targetPort: string }[];
    };
    expect(service.type).toBe("ClusterIP");
    expect(service.ports).toHaveLength(1);
    expect(containerPort(container, service.ports[0]?.targetPort ?? "")).toBe(service.ports[0]?.port);

    // A mounted file (reloaded when the Secret changes), never a variable.
    expect(containerEnv(sts).has("WENDY_CLIENT_TOKEN")).toBe(false);
    const { volume, mount, fileName } = volumeOfFile(
      sts,
      container,
      containerEnv(sts).get("WENDY_CLIENT_TOKEN_FILE") ?? "",
    );
    expect(mount.readOnly).toBe(true);
    const key = volume.secret?.items?.find((i) => i.path === fileName)?.key ?? "";
    expect(decode(findObject(objects, "Secret", volume.secret?.secretName), key)).toBe("s3cret-token");
  });

  it("serves the client port with TLS from the named Secret, mounted read-only", () => {
    const sts = statefulSet(
      render({
        client: { service: { enabled: true }, token: { value: "t" }, tls: { existingSecret: "api-tls" } },
      }),
    );
    const env = containerEnv(sts);
    expect(env.has("WENDY_INSECURE")).toBe(false);
    for (const [variable, key] of [
      ["WENDY_CLIENT_TLS_CERT_FILE", "tls.crt"],
      ["WENDY_CLIENT_TLS_KEY_FILE", "tls.key"],
    ] as const) {
      const { volume, mount, fileName } = volumeOfFile(sts, wendyContainer(sts), env.get(variable) ?? "");
      expect(mount.readOnly).toBe(true);
      expect(volume.secret?.secretName).toBe("api-tls");
      expect(volume.secret?.items?.find((i) => i.path === fileName)?.key).toBe(key);
    }
  });

  it("without client TLS only with insecure=true, which sets WENDY_INSECURE", () => {
    const values = { client: { service: { enabled: true }, token: { value: "t" } } };
    expect(template(values).stderr).toMatch(/client\.tls\.existingSecret/);
    const env = containerEnv(statefulSet(render({ ...values, insecure: true })));
    expect(env.get("WENDY_INSECURE")).toBe("true");
    expect(env.has("WENDY_CLIENT_TLS_CERT_FILE")).toBe(false);
  });

  it("uses an existing token Secret by name", () => {
    const objects = render({
      client: {
        service: { enabled: true },
        token: { existingSecret: "api-token" },
        tls: { existingSecret: "api-tls" },
      },
    });
    expect(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name)).toEqual([
      "wendy-cluster-secret",
    ]);
    const sts = statefulSet(objects);
    const { volume, fileName } = volumeOfFile(
      sts,
      wendyContainer(sts),
      containerEnv(sts).get("WENDY_CLIENT_TOKEN_FILE") ?? "",
    );
    expect(volume.secret?.secretName).toBe("api-token");
    expect(volume.secret?.items?.find((i) => i.path === fileName)?.key).toBe("token");
  });
});

describe("an application beside its node (extraContainers and friends)", () => {
  const app = {
    name: "app",
    image: "example/app:1",
    env: [{ name: "WENDY_ADDRESS", value: "127.0.0.1:7071" }],
    volumeMounts: [{ name: "app-data", mountPath: "/data" }],
  };
  const values = {
    extraContainers: [app],
    initContainers: [{ name: "migrate", image: "example/app:1", command: ["migrate"] }],
    extraVolumes: [{ name: "app-data", emptyDir: {} }],
    extraVolumeMounts: [{ name: "app-data", mountPath: "/var/lib/app", readOnly: true }],
  };

  it("renders the user's containers, init containers, volumes and mounts into every pod, valid and lint-clean", () => {
    const objects = render(values);
    expect(validateAll(objects)).toEqual([]);
    expect(lint(values).status).toBe(0);
    const pod = statefulSet(objects).spec?.template.spec;
    expect(pod?.containers.map((c) => c.name)).toEqual(["wendy", "app"]);
    expect(pod?.containers[1]).toEqual(app);
    expect(pod?.initContainers?.map((c) => c.name)).toEqual(["migrate"]);
    expect(pod?.volumes?.map((v) => v.name)).toEqual(["tmp", "cluster-secret", "app-data"]);
    expect(wendyContainer(statefulSet(objects)).volumeMounts?.at(-1)).toEqual(values.extraVolumeMounts[0]);
  });

  it("keeps the client port on the pod's loopback, where the application reaches it", () => {
    const sts = statefulSet(render(values));
    expect(containerEnv(sts).get("WENDY_CLIENT_HOST")).toBe("127.0.0.1");
    expect(envNumber(sts, "WENDY_CLIENT_PORT")).toBe(7071);
  });

  it("runs the user's init containers after the chart's own", () => {
    const pod = statefulSet(render({ ...values, region: { fromNodeLabel: { enabled: true } } })).spec
      ?.template.spec;
    expect(pod?.initContainers?.map((c) => c.name)).toEqual(["region-from-node-label", "migrate"]);
  });
});

describe("the client port on a Unix socket (client.socket)", () => {
  const socketValues = {
    client: { socket: { enabled: true, directory: "/var/run/wendy" } },
    extraContainers: [
      {
        name: "app",
        image: "example/app:1",
        env: [{ name: "WENDY_ADDRESS", value: "unix:///var/run/wendy/client.sock" }],
        volumeMounts: [{ name: "client-socket", mountPath: "/var/run/wendy" }],
      },
    ],
  };

  it("puts WENDY_CLIENT_SOCKET on an in-memory emptyDir the application mounts too, valid and lint-clean", () => {
    const objects = render(socketValues);
    expect(validateAll(objects)).toEqual([]);
    expect(lint(socketValues).status).toBe(0);
    const sts = statefulSet(objects);
    const socket = containerEnv(sts).get("WENDY_CLIENT_SOCKET") ?? "";
    expect(socket).toBe("/var/run/wendy/client.sock");
    const { mount, volume, fileName } = volumeOfFile(sts, wendyContainer(sts), socket);
    expect(fileName).toBe("client.sock");
    expect(mount.readOnly).not.toBe(true);
    expect(volume.name).toBe("client-socket");
    expect(volume.emptyDir).toEqual({ medium: "Memory", sizeLimit: "1Mi" });
    const app = sts.spec?.template.spec?.containers.find((c) => c.name === "app");
    expect(app?.volumeMounts?.find((m) => m.name === volume.name)?.mountPath).toBe(mount.mountPath);
    // The socket is 0660: every container of the pod has the pod's group.
    expect(sts.spec?.template.spec?.securityContext?.fsGroup).toBeDefined();
  });

  it("is off by default: no WENDY_CLIENT_SOCKET and no socket volume", () => {
    const sts = statefulSet(render());
    expect(containerEnv(sts).has("WENDY_CLIENT_SOCKET")).toBe(false);
    expect(sts.spec?.template.spec?.volumes?.some((v) => v.name === "client-socket")).toBe(false);
  });

  it("refuses a directory that is not an absolute path", () => {
    const result = template({ client: { socket: { enabled: true, directory: "run/wendy" } } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/directory/);
  });
});

describe("region", () => {
  it("sets WENDY_REGION from values", () => {
    expect(containerEnv(statefulSet(render({ region: { name: "eu-west" } }))).get("WENDY_REGION")).toBe(
      "eu-west",
    );
  });

  it("can read the node's region label through an init container with its own token", () => {
    const values = { region: { name: "unknown", fromNodeLabel: { enabled: true } } };
    const objects = render(values);
    expect(validateAll(objects)).toEqual([]);
    expect(lint(values).status).toBe(0);
    const sts = statefulSet(objects);
    const pod = sts.spec?.template.spec;
    const init = pod?.initContainers?.[0];
    const initEnv = new Map((init?.env ?? []).map((e) => [e.name, e]));
    expect(initEnv.get("NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expect(initEnv.get("REGION_LABEL")?.value).toBe("topology.kubernetes.io/region");
    expect(initEnv.get("REGION_FALLBACK")?.value).toBe("unknown");

    // The file the init container writes is the one the daemon reads, on a volume both mount.
    const regionFile = containerEnv(sts).get("WENDY_REGION_FILE") ?? "";
    expect(initEnv.get("REGION_FILE")?.value).toBe(regionFile);
    expect(containerEnv(sts).has("WENDY_REGION")).toBe(false);
    const container = wendyContainer(sts);
    const { volume } = volumeOfFile(sts, container, regionFile);
    expect(init?.volumeMounts?.some((m) => m.name === volume.name && !m.readOnly)).toBe(true);
    expect(init?.securityContext?.readOnlyRootFilesystem).toBe(true);

    // The script comes from the chart's file through a ConfigMap.
    const script = init?.command?.[1] ?? "";
    const scriptMount = init?.volumeMounts?.find((m) => script.startsWith(m.mountPath + "/"));
    const scriptVolume = pod?.volumes?.find((v) => v.name === scriptMount?.name);
    const configMap = findObject(objects, "ConfigMap", scriptVolume?.configMap?.name);
    const data = configMap["data"] as Record<string, string>;
    expect(data[script.slice((scriptMount?.mountPath.length ?? 0) + 1)]).toBe(
      readFileSync(join(CHART_DIR, "files/region-from-node-label.mjs"), "utf8"),
    );

    // Only the init container holds an API token; the binding lets it get nodes, nothing more.
    expect(pod?.automountServiceAccountToken).toBe(false);
    expect(
      container.volumeMounts?.some((m) => m.mountPath.startsWith("/var/run/secrets/kubernetes.io")),
    ).toBe(false);
    const role = findObject(objects, "ClusterRole");
    expect(role["rules"]).toEqual([{ apiGroups: [""], resources: ["nodes"], verbs: ["get"] }]);
    const binding = findObject(objects, "ClusterRoleBinding");
    expect(binding["roleRef"]).toMatchObject({ kind: "ClusterRole", name: role.metadata.name });
    expect(binding["subjects"]).toEqual([
      { kind: "ServiceAccount", name: pod?.serviceAccountName, namespace: NAMESPACE },
    ]);
  });
});

describe("delivery grace", () => {
  const VARIABLE = "WENDY_DELIVERY_GRACE_MS";
  const env = (values: object) => containerEnv(statefulSet(render(values))).get(VARIABLE);

  it("leaves the daemon's default when null, and sets a given grace, 0 included", () => {
    expect(containerEnv(statefulSet(render())).has(VARIABLE)).toBe(false);
    expect(env({ config: { deliveryGraceMs: 30000 } })).toBe("30000");
    expect(env({ config: { deliveryGraceMs: 0 } })).toBe("0");
  });

  it("is refused by the schema outside 0..3600000", () => {
    expect(() => render({ config: { deliveryGraceMs: -1 } })).toThrow(/deliveryGraceMs/);
    expect(() => render({ config: { deliveryGraceMs: 3_600_001 } })).toThrow(/deliveryGraceMs/);
  });
});

describe("routing-table maintenance", () => {
  const VARIABLE = "WENDY_TABLE_MAINTENANCE_INTERVAL_MS";
  const env = (values: object, extraArgs: readonly string[] = []) =>
    containerEnv(statefulSet(render(values, extraArgs))).get(VARIABLE);

  it("leaves the daemon's default when null, and sets a given interval", () => {
    expect(containerEnv(statefulSet(render())).has(VARIABLE)).toBe(false);
    expect(env({ config: { tableMaintenanceIntervalMs: 30000 } })).toBe("30000");
    // A day in ms, not "8.64e+07": the daemon accepts plain integers only.
    expect(env({ config: { tableMaintenanceIntervalMs: 86_400_000 } })).toBe("86400000");
  });

  it("renders off for the string off and for false, which YAML 1.1 makes of an unquoted off", () => {
    expect(env({}, ["--set-string", "config.tableMaintenanceIntervalMs=off"])).toBe("off");
    expect(env({ config: { tableMaintenanceIntervalMs: false } })).toBe("off");
    const dir = mkdtempSync(join(tmpdir(), "wendy-values-"));
    try {
      const unquoted = join(dir, "values.yaml");
      writeFileSync(unquoted, "config:\n  tableMaintenanceIntervalMs: off\n");
      expect(env({}, ["-f", unquoted])).toBe("off");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("key-value persistence", () => {
  const persistent = { kv: { persistence: { enabled: true, size: "5Gi", storageClassName: "fast-ssd" } } };

  it("is off by default: no claim template, no data directory, the store stays in memory", () => {
    const sts = statefulSet(render());
    expect(sts.spec?.volumeClaimTemplates).toBeUndefined();
    expect(containerEnv(sts).has("WENDY_KV_DATA_DIR")).toBe(false);
    expect(wendyContainer(sts).volumeMounts?.some((m) => m.name === "kv-data")).toBe(false);
  });

  it("when on, renders valid objects that pass lint, with one claim per pod of the asked size and class", () => {
    const objects = render(persistent);
    expect(validateAll(objects)).toEqual([]);
    expect(lint(persistent).status).toBe(0);
    const claims = statefulSet(objects).spec?.volumeClaimTemplates ?? [];
    expect(claims).toHaveLength(1);
    expect(claims[0]!.metadata?.name).toBe("kv-data");
    expect(claims[0]!.spec?.accessModes).toEqual(["ReadWriteOnce"]);
    expect(claims[0]!.spec?.storageClassName).toBe("fast-ssd");
    expect(claims[0]!.spec?.resources?.requests?.["storage"]).toBe("5Gi");
    // No class given: the field is left out, so the cluster's default class applies.
    const defaultClass = statefulSet(render({ kv: { persistence: { enabled: true } } }));
    expect(defaultClass.spec?.volumeClaimTemplates?.[0]!.spec).not.toHaveProperty("storageClassName");
  });

  it("when on, points WENDY_KV_DATA_DIR into the claim, mounted writable in the wendy container", () => {
    const sts = statefulSet(render(persistent));
    const container = wendyContainer(sts);
    const dataDir = containerEnv(sts).get("WENDY_KV_DATA_DIR");
    expect(dataDir).toBe("/var/lib/wendy/kv");
    const mount = container.volumeMounts?.find((m) => dataDir!.startsWith(m.mountPath + "/"));
    expect(mount?.name).toBe("kv-data");
    expect(mount?.readOnly).not.toBe(true);
    // Mounted from the claim template, not from a pod volume of the same name.
    expect(sts.spec?.template.spec?.volumes?.some((v) => v.name === "kv-data")).toBe(false);
  });

  it("is refused by the schema with a size that is no quantity or a relative mount path", () => {
    expect(() => render({ kv: { persistence: { enabled: true, size: "lots" } } })).toThrow(/size/);
    expect(() => render({ kv: { persistence: { enabled: true, mountPath: "data" } } })).toThrow(/mountPath/);
  });
});

describe("bad values are rejected with a message that names the value", () => {
  const cases: [string, object, RegExp][] = [
    ["no replicas", { replicaCount: 0 }, /replicaCount/],
    ["an unknown top-level key", { replicas: 3 }, /replicas/],
    ["an unknown nested key", { tls: { enable: true } }, /enable/],
    ["a port of the wrong type", { ports: { peer: "seventy" } }, /peer/],
    [
      "a client Service without a token",
      { client: { service: { enabled: true } } },
      /client\.token\.existingSecret/,
    ],
    [
      "a client Service without TLS",
      { client: { service: { enabled: true }, token: { value: "t" } } },
      /client\.tls\.existingSecret.*insecure=true/,
    ],
    ["no cluster secret without insecure", { clusterSecret: { enabled: false } }, /insecure=true/],
    ["TLS without a Secret", { tls: { enabled: true } }, /tls\.existingSecret/],
    ["identities without an issuer", { identity: { enabled: true } }, /identity\.issuer\.name/],
    [
      "identities and a shared peer certificate at once",
      { identity: { enabled: true, issuer: { name: "ca" } }, tls: { enabled: true, existingSecret: "t" } },
      /tls\.enabled/,
    ],
    ["an issuer of an unknown kind", { identity: { issuer: { kind: "Vault" } } }, /kind/],
    [
      "a termination grace shorter than the shutdown grace",
      { terminationGracePeriodSeconds: 5, config: { shutdownGraceMs: 8000 } },
      /terminationGracePeriodSeconds.*shutdownGraceMs/,
    ],
    [
      "a table maintenance interval below a second",
      { config: { tableMaintenanceIntervalMs: 500 } },
      /tableMaintenanceIntervalMs/,
    ],
    [
      "a table maintenance interval of 0 (off is spelled off)",
      { config: { tableMaintenanceIntervalMs: 0 } },
      /tableMaintenanceIntervalMs/,
    ],
    [
      "a table maintenance interval that is neither an integer nor off",
      { config: { tableMaintenanceIntervalMs: "never" } },
      /tableMaintenanceIntervalMs/,
    ],
    ["an extra container without an image", { extraContainers: [{ name: "app" }] }, /image/],
    ["an init container with a bad name", { initContainers: [{ name: "Init_1", image: "x" }] }, /name/],
    ["an extra volume without a name", { extraVolumes: [{ emptyDir: {} }] }, /name/],
    [
      "a volume mount with a relative path",
      { extraVolumeMounts: [{ name: "v", mountPath: "data" }] },
      /mountPath/,
    ],
    [
      "a table maintenance interval of true",
      { config: { tableMaintenanceIntervalMs: true } },
      /tableMaintenanceIntervalMs/,
    ],
  ];
  it.each(cases)("%s", (_name, values, message) => {
    const result = template(values);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});

describe("the environment contract", () => {
  it("documents every WENDY_* variable the chart sets in docs/configuration.md", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs/configuration.md"), "utf8");
    const documented = new Set(doc.match(/\bWENDY_[A-Z_]+\b/g));
    const valueSets: object[] = [
      {},
      { tls: { enabled: true, existingSecret: "t" } },
      { client: { service: { enabled: true }, token: { value: "x" }, tls: { existingSecret: "c" } } },
      { clusterSecret: { enabled: false }, insecure: true },
      { region: { name: "r" } },
      { region: { fromNodeLabel: { enabled: true } } },
      {
        config: {
          leafSetSize: 16,
          heartbeatIntervalMs: 500,
          failureTimeoutMs: 2000,
          regionMultiplier: 4,
          tableMaintenanceIntervalMs: 30000,
          maxPayloadBytes: 65536,
        },
      },
      { kv: { persistence: { enabled: true } } },
    ];
    const used = new Set<string>();
    for (const values of valueSets) {
      for (const name of containerEnv(statefulSet(render(values))).keys()) {
        if (name.startsWith("WENDY_")) used.add(name);
      }
    }
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((name) => !documented.has(name))).toEqual([]);
  });
  it("documents the health service names the gRPC probes ask for", () => {
    const doc = readFileSync(join(REPO_ROOT, "docs/configuration.md"), "utf8");
    const container = wendyContainer(statefulSet(render()));
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(doc).toContain("`" + (probe?.grpc?.service ?? "(no service)") + "`");
    }
  });
});

describe("the chart's README", () => {
  it("has a row for every value, and none for values that do not exist", () => {
    const readme = readFileSync(join(CHART_DIR, "README.md"), "utf8");
    const documented = new Set([...readme.matchAll(/^\| `([A-Za-z.]+)` \|/gm)].map((m) => m[1] as string));
    const values = parse(readFileSync(join(CHART_DIR, "values.yaml"), "utf8")) as Record<string, unknown>;
    const keys: string[] = [];
    const walk = (node: Record<string, unknown>, prefix: string) => {
      for (const [key, value] of Object.entries(node)) {
        const path = prefix + key;
        const isTable = value !== null && typeof value === "object" && !Array.isArray(value);
        if (isTable && Object.keys(value).length > 0) walk(value as Record<string, unknown>, path + ".");
        else keys.push(path);
      }
    };
    walk(values, "");
    // A key is covered by its own row or an ancestor's (e.g. `resources` covers resources.limits.memory).
    const covered = (key: string) =>
      key.split(".").some((_, i, parts) => documented.has(parts.slice(0, i + 1).join(".")));
    expect(keys.filter((key) => !covered(key))).toEqual([]);
    expect([...documented].filter((key) => !keys.some((k) => k === key || k.startsWith(key + ".")))).toEqual(
      [],
    );
  });
});

describe("NOTES.txt", () => {
  // helm template does not print NOTES.txt, so a copy of the chart wraps its rendering in a ConfigMap.
  function notes(values: object): string {
    const dir = mkdtempSync(join(tmpdir(), "wendy-notes-"));
    try {
      const chart = join(dir, "wendy");
      cpSync(CHART_DIR, chart, { recursive: true });
      writeFileSync(
        join(chart, "templates/notes-probe.yaml"),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "wendy/templates/NOTES.txt" . | toJson }}\n',
      );
      const file = join(dir, "values.yaml");
      writeFileSync(file, JSON.stringify(values));
      const result = runHelm(["template", RELEASE, chart, "-n", NAMESPACE, "-f", file]);
      if (result.status !== 0) throw new Error(result.stderr);
      const configMap = findObject(parseManifests(result.stdout), "ConfigMap", "notes");
      return (configMap["data"] as { notes: string }).notes;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("tells how to reach the nodes, with or without the client Service", () => {
    const plain = notes({});
    expect(plain).toContain(
      `wendy-0.${POD_DOMAIN}:7070,wendy-1.${POD_DOMAIN}:7070,wendy-2.${POD_DOMAIN}:7070`,
    );
    expect(plain).toContain(`kubectl -n ${NAMESPACE} port-forward pod/wendy-0 7071`);
    expect(plain).toContain("The cluster secret was generated into Secret wendy-cluster-secret");

    const exposed = notes({
      client: { service: { enabled: true }, token: { existingSecret: "t" }, tls: { existingSecret: "c" } },
    });
    expect(exposed).toContain(`wendy-client.${NAMESPACE}.svc.cluster.local:7071`);
    expect(exposed).not.toContain("port-forward pod/wendy-0 7071");
    expect(notes({ tls: { enabled: true, existingSecret: "t" } })).toContain(
      "Probes use /readyz and /healthz",
    );
  });
});
