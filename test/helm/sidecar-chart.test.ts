// The sidecar shape: an application's own StatefulSet (deploy/helm/wendy-sidecar-example) with Wendy added
// through the named templates of its templates/_wendy.tpl. Rendered by helm, every object valid, and the
// pieces that make each pod a node agree: headless Service, seeds, secret, probes, loopback client port.
import { beforeAll, describe, expect, it } from "vitest";
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import {
  HELM_SETUP_TIMEOUT_MS,
  NAMESPACE,
  RELEASE,
  SIDECAR_CHART_DIR,
  containerEnv,
  findObject,
  lint,
  render,
  runHelm,
  statefulSet,
  template,
  validateAll,
  wendyContainer,
  type KubeObject,
} from "./helm.js";

const WORKLOAD = `${RELEASE}-wendy-sidecar-example`;
const HEADLESS = `${WORKLOAD}-wendy`;
const POD_DOMAIN = `${HEADLESS}.${NAMESPACE}.svc.cluster.local`;

beforeAll(() => {
  expect(runHelm(["version"]).status).toBe(0);
}, HELM_SETUP_TIMEOUT_MS);

const renderSidecar = (values: object = {}): KubeObject[] => render(values, [], SIDECAR_CHART_DIR);

describe("Wendy as a sidecar of an application's own StatefulSet", () => {
  let objects: KubeObject[];
  let sts: IStatefulSet;
  beforeAll(() => {
    objects = renderSidecar();
    sts = statefulSet(objects);
  });

  it("renders only valid Kubernetes objects and passes helm lint", () => {
    expect(validateAll(objects)).toEqual([]);
    expect(objects.map((o) => `${o.kind} ${o.metadata.name}`).sort()).toEqual([
      `Secret ${WORKLOAD}-wendy-cluster-secret`,
      `Service ${HEADLESS}`,
      `StatefulSet ${WORKLOAD}`,
    ]);
    const linted = lint({}, [], SIDECAR_CHART_DIR);
    expect(linted.status, linted.stdout + linted.stderr).toBe(0);
  });

  it("runs the application and the wendy container in every pod", () => {
    const containers = sts.spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => c.name)).toEqual(["app", "wendy"]);
    const app = containers[0]!;
    expect(app.env?.find((e) => e.name === "WENDY_ADDRESS")?.value).toBe("127.0.0.1:7071");
  });

  it("is governed by a headless Service that selects its pods and publishes joining ones", () => {
    const service = findObject(objects, "Service", HEADLESS)["spec"] as {
      clusterIP: string;
      publishNotReadyAddresses: boolean;
      selector: Record<string, string>;
      ports: { name: string; port: number; targetPort: string }[];
    };
    expect(sts.spec?.serviceName).toBe(HEADLESS);
    expect(service.clusterIP).toBe("None");
    expect(service.publishNotReadyAddresses).toBe(true);
    expect(sts.spec?.template.metadata?.labels).toMatchObject(service.selector);
    const ports = wendyContainer(sts).ports ?? [];
    for (const p of service.ports) {
      expect(ports.find((c) => c.name === p.targetPort)?.containerPort, p.name).toBe(p.port);
    }
  });

  it("names each node after its pod, at its stable name, and seeds with pods 0..2", () => {
    const env = containerEnv(sts);
    expect(wendyContainer(sts).env?.find((e) => e.name === "WENDY_NODE_NAME")?.valueFrom).toEqual({
      fieldRef: { fieldPath: "metadata.name" },
    });
    expect(env.get("WENDY_LOCAL_ADDRESS")).toBe(`$(POD_NAME).${POD_DOMAIN}:7070`);
    expect(env.get("WENDY_JOIN")?.split(",")).toEqual(
      [0, 1, 2].map((i) => `${WORKLOAD}-${i}.${POD_DOMAIN}:7070`),
    );
    expect(renderSidecar({ replicaCount: 2 }).length).toBe(3);
    expect(
      containerEnv(statefulSet(renderSidecar({ replicaCount: 2 })))
        .get("WENDY_JOIN")
        ?.split(","),
    ).toHaveLength(2);
  });

  it("keeps the client port on the pod's loopback and probes gRPC health on the peer port", () => {
    const env = containerEnv(sts);
    expect(env.get("WENDY_CLIENT_HOST")).toBe("127.0.0.1");
    expect(env.has("WENDY_CLIENT_TOKEN")).toBe(false);
    const wendy = wendyContainer(sts);
    expect(wendy.readinessProbe?.grpc).toEqual({ port: 7070, service: "wendy.v1.PeerService" });
    expect(wendy.livenessProbe?.grpc).toEqual({ port: 7070, service: "liveness" });
    expect(Number(env.get("WENDY_PORT"))).toBe(7070);
  });

  it("mounts the cluster Secret read-only where WENDY_SECRET_FILE points", () => {
    const file = containerEnv(sts).get("WENDY_SECRET_FILE") ?? "";
    const mount = wendyContainer(sts).volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = sts.spec?.template.spec?.volumes?.find((v) => v.name === mount?.name);
    const secret = findObject(objects, "Secret", volume?.secret?.secretName);
    const key = file.slice((mount?.mountPath.length ?? 0) + 1);
    expect(Object.keys(secret["data"] as object)).toEqual([key]);
    expect(volume?.secret?.items).toEqual([{ key, path: key }]);
  });

  it("uses an existing cluster Secret by name and then creates none", () => {
    const withExisting = renderSidecar({ wendy: { clusterSecret: { existingSecret: "shared-ring" } } });
    expect(withExisting.filter((o) => o.kind === "Secret")).toEqual([]);
    const volumes = statefulSet(withExisting).spec?.template.spec?.volumes ?? [];
    expect(volumes.find((v) => v.secret !== undefined)?.secret?.secretName).toBe("shared-ring");
  });

  const bad: [string, object, RegExp][] = [
    ["an unknown key", { wendy: { replicas: 3 } }, /replicas/],
    ["a peer port out of range", { wendy: { ports: { peer: 70000 } } }, /peer/],
    ["an application without an image", { app: { image: "" } }, /image/],
    [
      "a termination grace shorter than the shutdown grace",
      { terminationGracePeriodSeconds: 5, wendy: { shutdownGraceMs: 8000 } },
      /terminationGracePeriodSeconds.*shutdownGraceMs/,
    ],
  ];
  it.each(bad)("rejects %s with a message naming it", (_name, values, message) => {
    const result = template(values, [], SIDECAR_CHART_DIR);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});
