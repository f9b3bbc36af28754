// The pods of a rendered StatefulSet, run as the kubelet would run them: one network namespace per pod, the
// node's container and an application container in each (pod-spec.ts, pod-process.ts), a "kubelet" agent
// for probes and scrapes, and a client agent inside one pod. Shared by the rehearsals of the chart's own
// StatefulSet and of the sidecar shape.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NAMESPACE, REPO_ROOT, type KubeObject } from "../helm/helm.js";
import { Agent } from "./agent-process.js";
import { PodNetwork, requireRoot } from "./pod-network.js";
import { PodProcess } from "./pod-process.js";
import {
  planPod,
  wendyImage,
  type ClusterFacts,
  type PodPlan,
  type PodProbe,
  type RehearsalImage,
} from "./pod-spec.js";

const CLUSTER_DOMAIN = "cluster.local";
/** How long a pod may take to pass its readiness probe. */
export const READY_LIMIT_MS = 90_000;
const POLL_MS = 250;
/** The application image: Debian's Python with the checkout's examples/python, as a user would package it. */
export const APP_IMAGE = "wendy-python-example:rehearsal";
export const APP_PYTHON = "/usr/bin/python3";
const APP_RESTART_DELAY_MS = 1000;
/** The kubelet restarts an exited container; bounded here. */
const APP_MAX_RESTARTS = 60;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The images the rehearsal stands in for: Wendy's (the Dockerfile) and the Python application's. */
export function rehearsalImages(image: string): RehearsalImage | undefined {
  if (image.startsWith("wendy:")) return wendyImage(REPO_ROOT);
  if (image !== APP_IMAGE) return undefined;
  return {
    config: {
      entrypoint: [APP_PYTHON, "/app/examples/python/wendy_example.py"],
      cmd: [],
      env: {},
      workdir: "/app",
    },
    files: REPO_ROOT,
    filesAt: "/app",
  };
}

/** Fails with a clear message unless this process can run the pods and their Python application. */
export function requireRehearsalTools(): void {
  requireRoot();
  const python = spawnSync(APP_PYTHON, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
  if (python.status !== 0) {
    throw new Error(
      `the rehearsal's application container needs ${APP_PYTHON} with grpc and grpc_tools ` +
        `(python3-grpcio python3-grpc-tools; .ci/run installs them): ${python.stderr}`,
    );
  }
}

/** What the pods are started with besides the rendered objects. */
export interface RehearsalOptions {
  /** The CSI drivers the cluster has (cert-manager's, for per-node identities). */
  readonly csi?: ClusterFacts["csi"];
  /** Namespaces kept for pods a scale-up adds (scaleUp). Default 0. */
  readonly sparePods?: number;
}

export class RehearsedPods {
  /** The node's container of each pod (the StatefulSet's ordinals; scaleUp adds, scaleDown removes). */
  readonly pods: PodProcess[] = [];
  /** The application container of each pod. */
  readonly apps: PodProcess[] = [];
  /** Pods whose application the "kubelet" does not restart now (the pod is being deleted, or tests are over). */
  readonly appsHeld = new Set<number>();
  private readonly planList: PodPlan[] = [];
  private readonly appPlanList: PodPlan[] = [];
  /** Containers of pods a scale-down removed, killed again at clean-up in case. */
  private readonly retired: PodProcess[] = [];

  private constructor(
    private readonly network: PodNetwork,
    private readonly facts: ClusterFacts,
    private readonly appContainer: string,
    private readonly workDir: string,
    readonly kubelet: Agent,
    readonly client: Agent,
    private readonly clientPod: number,
  ) {}

  /** The node container's plan of each pod. */
  get plans(): readonly PodPlan[] {
    return this.planList;
  }

  /** The application container's plan of each pod. */
  get appPlans(): readonly PodPlan[] {
    return this.appPlanList;
  }

  /**
   * Plans every pod of `objects` (`podNames` in order), starts them all at once (podManagementPolicy:
   * Parallel) with their `appContainer`, and a client agent inside pod `clientPod`.
   */
  static async start(
    objects: readonly KubeObject[],
    podNames: readonly string[],
    appContainer: string,
    clientPod: number,
    options: RehearsalOptions = {},
  ): Promise<RehearsedPods> {
    requireRehearsalTools();
    const network = await PodNetwork.create(podNames.length + (options.sparePods ?? 0));
    const agents: Agent[] = [];
    let workDir: string | undefined;
    try {
      const facts: ClusterFacts = {
        namespace: NAMESPACE,
        clusterDomain: CLUSTER_DOMAIN,
        images: rehearsalImages,
        path: process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
        ...(options.csi === undefined ? {} : { csi: options.csi }),
      };
      workDir = mkdtempSync(join(tmpdir(), "wendy-rehearsal-"));
      agents.push(
        ...(await Promise.all([
          Agent.start("kubelet", ["ip", "netns", "exec", network.kubeletNs]),
          Agent.start("client", ["ip", "netns", "exec", network.pod(clientPod).ns]),
        ])),
      );
      const [kubelet, client] = agents as [Agent, Agent];
      const pods = new RehearsedPods(network, facts, appContainer, workDir, kubelet, client, clientPod);
      podNames.forEach((name) => pods.plan(objects, name));
      network.publishNames(pods.planList);
      for (const pod of pods.pods) pod.start(true);
      pods.apps.forEach((_, i) => pods.runApp(i, true));
      return pods;
    } catch (error) {
      for (const agent of agents) agent.close();
      await network.destroy();
      if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * What a scale-up does: pod `podName` (the next ordinal) is planned from `objects` (the StatefulSet as
   * rendered with more replicas), its DNS name published, and it is started with its application. Returns
   * its index.
   */
  scaleUp(objects: readonly KubeObject[], podName: string): number {
    if (this.planList.length >= this.network.size)
      throw new Error("no namespace left for another pod: start the rehearsal with sparePods");
    const i = this.plan(objects, podName);
    this.network.publishNames(this.planList);
    this.appsHeld.delete(i);
    this.pods[i]!.start(true);
    this.runApp(i, true);
    return i;
  }

  /** What a scale-down leaves once the last pod has ended: it is gone from the pods, and from DNS. */
  scaleDown(): void {
    const i = this.planList.length - 1;
    const [pod, app] = [this.pods[i]!, this.apps[i]!];
    if (pod.running || app.running) throw new Error(`${pod.plan.podName} must be terminated first`);
    this.appsHeld.add(i);
    this.retired.push(pod, app);
    for (const list of [this.planList, this.appPlanList, this.pods, this.apps]) list.pop();
    this.network.publishNames(this.planList);
  }

  /**
   * Starts pod i's application container and, as the kubelet does for a container that exits (it may start
   * before its node listens, or lose its node when that restarts), starts it again after a pause.
   */
  runApp(i: number, freshPod: boolean): void {
    const app = this.apps[i]!;
    app.start(freshPod);
    void (async () => {
      for (let restarts = 0; restarts < APP_MAX_RESTARTS; restarts++) {
        await app.exited();
        await sleep(APP_RESTART_DELAY_MS);
        if (this.appsHeld.has(i) || app.running || this.apps[i] !== app) return;
        app.start(false);
      }
    })();
  }

  /** Runs one of the pod spec's probes from the kubelet's namespace, as the kubelet would. */
  async probePasses(i: number, probe: PodProbe | undefined): Promise<boolean> {
    if (probe === undefined) throw new Error(`${this.plans[i]!.podName}'s wendy container has no such probe`);
    const host = this.plans[i]!.podIP;
    switch (probe.kind) {
      case "grpc":
        return (await this.kubelet.grpcHealth(`${host}:${probe.port}`, probe.target)) === "SERVING";
      case "httpGet": {
        const { status } = await this.kubelet.httpGet(`http://${host}:${probe.port}${probe.target}`);
        return status >= 200 && status < 400;
      }
      case "tcpSocket":
        return this.kubelet.tcpConnects(host, probe.port);
    }
  }

  /** Waits until pod i passes its readiness probe; fails at once if its process exits. */
  async waitReady(i: number): Promise<void> {
    const pod = this.pods[i]!;
    const deadline = performance.now() + READY_LIMIT_MS;
    while (performance.now() < deadline) {
      if (!pod.running) {
        const exit = await pod.exited();
        throw new Error(
          `${pod.plan.podName} exited (${exit.code ?? exit.signal}) before ready:\n${pod.stderr}`,
        );
      }
      if (await this.probePasses(i, pod.plan.readinessProbe)) return;
      this.requireRunning();
      await sleep(POLL_MS);
    }
    // Its last log records say why (a join that keeps failing, a peer refusing it).
    const lastRecords = pod.logs.slice(-8).map((l) => JSON.stringify(l.fields));
    throw new Error(
      `${pod.plan.podName} was not ready within ${READY_LIMIT_MS} ms:\n${pod.stderr}\n${lastRecords.join("\n")}`,
    );
  }

  /** Throws, with its stderr, if a node other than `except` is no longer running: no test expects that. */
  requireRunning(except?: number): void {
    for (const [i, pod] of this.pods.entries()) {
      if (i === except || pod.running) continue;
      throw new Error(`${pod.plan.podName} stopped unexpectedly; the end of its stderr:\n${pod.stderr}`);
    }
  }

  /** Polls `condition` until true; fails naming `what` after `limitMs`, or at once if a node dies. */
  async until(what: string, limitMs: number, condition: () => boolean, except?: number): Promise<void> {
    const deadline = performance.now() + limitMs;
    while (!condition()) {
      this.requireRunning(except);
      if (performance.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
      await sleep(POLL_MS);
    }
  }

  metricsPort(i: number): number {
    const port = this.plans[i]!.ports.get("http-metrics");
    if (port === undefined) throw new Error("the container declares no http-metrics port");
    return port;
  }

  /** The value of an unlabelled gauge or counter in pod i's /metrics. */
  async metric(i: number, name: string): Promise<number> {
    const scrape = await this.kubelet.httpGet(
      `http://${this.plans[i]!.podIP}:${this.metricsPort(i)}/metrics`,
    );
    const line = scrape.body.split("\n").find((l) => l.startsWith(`${name} `));
    if (line === undefined) throw new Error(`/metrics of ${this.plans[i]!.podName} has no ${name}`);
    return Number(line.slice(name.length + 1));
  }

  /** Waits until every pod's node counts exactly one subscriber: its application has subscribed. */
  async waitAppsSubscribed(limitMs = 60_000): Promise<void> {
    const deadline = performance.now() + limitMs;
    // A node that does not serve /metrics yet counts no subscriber.
    const count = (i: number) => this.metric(i, "wendy_subscribers").catch(() => 0);
    const counts = () => Promise.all(this.plans.map((_, i) => count(i)));
    for (let now = await counts(); !now.every((n) => n === 1); now = await counts()) {
      this.requireRunning();
      if (performance.now() > deadline) {
        const errors = this.apps.map((a) => `${a.plan.podName}: ${a.stderr}`).join("\n");
        throw new Error(`subscribers per pod stayed ${now.join(", ")}; applications:\n${errors}`);
      }
      await sleep(POLL_MS);
    }
  }

  /** The pods whose application printed a delivery with this payload. */
  appsThatSaw(payload: string): string[] {
    return this.apps.flatMap((app, i) =>
      app.logs.some((l) => l.fields["payload"] === payload) ? [this.plans[i]!.podName] : [],
    );
  }

  /** The fields of the first record with message `msg` in a container run's log of pod i's node. */
  logRecord(i: number, run: number, msg: string): Readonly<Record<string, unknown>> {
    const found = this.pods[i]!.records(run).find((r) => r["msg"] === msg);
    if (found === undefined) throw new Error(`${this.plans[i]!.podName} (run ${run}) never logged "${msg}"`);
    return found;
  }

  /** The client port as the application in the client pod reaches it (on the pod's loopback). */
  clientPortAddress(): string {
    const env = this.plans[this.clientPod]!.env;
    return `${env["WENDY_CLIENT_HOST"]}:${env["WENDY_CLIENT_PORT"]}`;
  }

  /** Kills what is left, removes namespaces and files; safe to call whatever state the tests left. */
  async cleanUp(): Promise<void> {
    this.apps.forEach((_, i) => this.appsHeld.add(i));
    const all = [...this.pods, ...this.apps, ...this.retired];
    for (const pod of all) pod.signal("SIGKILL");
    await Promise.all(
      all.map((p) => (p.pid === undefined ? undefined : Promise.race([p.exited(), sleep(10_000)]))),
    );
    this.kubelet.close();
    this.client.close();
    await this.network.destroy();
    // For debugging: WENDY_REHEARSAL_KEEP_LOGS=1 keeps every container's log (<dir>/<pod>/container.log).
    if (process.env["WENDY_REHEARSAL_KEEP_LOGS"] === "1")
      process.stderr.write(`[rehearsal] logs kept in ${this.workDir}\n`);
    else rmSync(this.workDir, { recursive: true, force: true });
  }

  /** Plans the next pod, `podName`, from `objects`: its node's and application's containers. */
  private plan(objects: readonly KubeObject[], podName: string): number {
    const i = this.planList.length;
    const address = this.network.pod(i).address;
    const plan = planPod(objects, podName, address, this.facts);
    const appPlan = planPod(objects, podName, address, this.facts, this.appContainer);
    this.planList.push(plan);
    this.appPlanList.push(appPlan);
    this.pods.push(this.process(plan, i, podName));
    this.apps.push(this.process(appPlan, i, `${podName}-app`));
    return i;
  }

  private process(plan: PodPlan, i: number, dirName: string): PodProcess {
    const dir = join(this.workDir, dirName);
    mkdirSync(dir, { recursive: true });
    return new PodProcess(plan, this.network.pod(i).ns, dir);
  }
}
