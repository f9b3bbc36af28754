// The StatefulSet rehearsal without Kubernetes: the chart is rendered with five replicas and an application
// container (the Python example, subscribed through the pod's loopback) added with extraContainers, and each
// pod wendy-0 ... wendy-4 is run as the kubelet would run it from the rendered pod spec (pod-spec.ts,
// pod-process.ts), each in its own network namespace where the headless service's DNS names resolve to the
// pods' addresses. Probes and scrapes come from the "kubelet" namespace; messages are sent by a co-located
// client inside a pod's namespace, with the `wendy` program and with the TypeScript client.
//
// With per-node identities (statefulset-identities.test.ts) the chart is rendered with the values a user sets
// to turn them on (identity.enabled and a cert-manager issuer), and each pod's csi volume gets what
// cert-manager's csi-driver would write there (cert-manager-csi.ts): a certificate from a test CA naming the
// pod's node (wendy://name/<pod>) and its DNS name. The same scenarios must give the same verdicts.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkServerIdentity } from "node:tls";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { nodeIdOfCertificate } from "../../src/server/auth/node-identity.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { LOG_NODE_LEFT } from "../../src/server/daemon/event-log.js";
import { HELM_SETUP_TIMEOUT_MS, REPO_ROOT, findObject, render, type KubeObject } from "../helm/helm.js";
import { promtoolCheckMetrics } from "../metrics/promtool.js";
import { CertManagerCsi, type IssuerRef } from "./cert-manager-csi.js";
import { ownerOf, presenceDuring, rightfulOwners, type Absence, type Pod } from "./ownership.js";
import type { PodProcess } from "./pod-process.js";
import type { PodPlan } from "./pod-spec.js";
import { APP_IMAGE, APP_PYTHON, READY_LIMIT_MS, RehearsedPods } from "./rehearsed-pods.js";
import { describeFailures, misdeliveries, startStream, type StreamSend } from "./send-stream.js";
import { DAEMON_NODE_FLAGS } from "../../src/server/daemon/node-flags.js";

const run = promisify(execFile);
const REPLICAS = 5;
const PURPOSE = 16;
/** Each pod owns at least this many of the test keys, so every pod's share of the ring is exercised. */
const KEYS_PER_POD = 6;
const SEND_DEADLINE_MS = 8000;
const DELIVERY_GRACE_MS = 9000;
/** Deadline of a send that may wait out the delivery grace and then the node's answer. */
const GRACE_SEND_DEADLINE_MS = DELIVERY_GRACE_MS + 3000;
/** The application beside each node, exactly as a user adds it with the chart's extraContainers. */
const APP_VALUES = {
  extraContainers: [
    {
      name: "app",
      image: APP_IMAGE,
      args: ["--address", "127.0.0.1:7071", "subscribe", "--purpose", String(PURPOSE)],
      env: [{ name: "WENDY_PY_GEN_DIR", value: "/tmp/wendy-python" }],
      volumeMounts: [{ name: "app-tmp", mountPath: "/tmp" }],
      securityContext: {
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      },
    },
  ],
  extraVolumes: [{ name: "app-tmp", emptyDir: { sizeLimit: "16Mi" } }],
  // Room for the application container to restart (Python, gRPC) before its node gives up on a delivery;
  // below the node's acknowledgement timeout (10 s), so that a waiting sender hears the refusal.
  extraEnv: [{ name: "WENDY_DELIVERY_GRACE_MS", value: String(DELIVERY_GRACE_MS) }],
};

/** How the rehearsal runs. */
export interface RehearsalMode {
  /** Per-node identities (the chart's identity.enabled), certificates from cert-manager's csi-driver. */
  readonly identities: boolean;
  /**
   * "all" scenarios, or the "core" ones: the chart's declarations, every pod ready in one ring, routing
   * through the client API, delivery to the applications, a pod deleted and back (a rollout's step), a pod
   * killed and restarted, and a scale to six pods and back. "core" leaves out the `wendy` program run in each pod, the application
   * container's restarts and the promtool check of /metrics, none of which the shape of the ring changes.
   */
  readonly scenarios: "all" | "core";
}

/** The issuer of the rehearsed cluster, and the values a user sets to have the chart use it. */
const ISSUER: IssuerRef = { name: "wendy-ca", kind: "ClusterIssuer", group: "cert-manager.io" };
const IDENTITY_VALUES = { identity: { enabled: true, issuer: { name: ISSUER.name, kind: ISSUER.kind } } };
/** The authentication failures that would show an honest pod refused under identities. */
const IDENTITY_FAILURES = ["missing_identity", "identity_mismatch", "address_mismatch", "wrong_peer"];

const ring: Pod[] = Array.from({ length: REPLICAS }, (_, i) => ({
  podName: `wendy-${i}`,
  id: NodeId.fromString(`wendy-${i}`),
}));
/** The pod whose namespace holds the co-located client (never deleted by these tests). */
const CLIENT_POD = 4;

/** Test keys, in an order that mixes owners; at least KEYS_PER_POD owned by each pod. */
const keys: string[] = (() => {
  const owned = new Map<string, string[]>(ring.map((p) => [p.podName, []]));
  for (let n = 0; [...owned.values()].some((k) => k.length < KEYS_PER_POD); n++) {
    const key = `rehearsal-key-${n}`;
    const list = owned.get(ownerOf(NodeId.fromString(key), ring).podName)!;
    if (list.length < KEYS_PER_POD) list.push(key);
  }
  const lists = [...owned.values()];
  return lists[0]!.flatMap((_, j) => lists.map((l) => l[j]!));
})();

function idOf(podName: string): string {
  return NodeId.fromString(podName).hex;
}

/** Registers the rehearsal's hooks and tests in `mode`; call once, at the top level of a test file. */
export function rehearseStatefulSet(mode: RehearsalMode): void {
  /** The chart's values for `replicas` pods, as the user sets them in this mode. */
  const values = (replicas: number): object => ({
    replicaCount: replicas,
    ...APP_VALUES,
    ...(mode.identities ? IDENTITY_VALUES : {}),
  });
  const extra = mode.scenarios === "all" ? it : it.skip;
  /** cert-manager's csi-driver and the issuer's CA, with identities; made in beforeAll. */
  let csi: CertManagerCsi | undefined;
  let objects: KubeObject[];
  let current: RehearsedPods | undefined;
  /** The running pods; set by beforeAll. */
  function rehearsal(): RehearsedPods {
    if (current === undefined) throw new Error("the pods were not started");
    return current;
  }
  // The node's plan and process, and the application's process, of each pod.
  let plans: readonly PodPlan[] = [];
  let pods: readonly PodProcess[] = [];
  let apps: readonly PodProcess[] = [];

  beforeAll(async () => {
    if (mode.identities) csi = new CertManagerCsi(ISSUER);
    const driver = csi;
    objects = render(values(REPLICAS));
    current = await RehearsedPods.start(
      objects,
      ring.map((p) => p.podName),
      "app",
      CLIENT_POD,
      {
        ...(driver === undefined ? {} : { csi: (request) => driver.publish(request) }),
        // A namespace for the pod the scale-up adds.
        sparePods: 1,
      },
    );
    ({ plans, pods, apps } = current);
  }, HELM_SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await current?.cleanUp();
    csi?.remove();
  }, 60_000);

  const shape = mode.identities ? "with per-node identities from cert-manager, " : "";
  describe(`the chart's StatefulSet, ${shape}rehearsed with five pods in network namespaces`, () => {
    it("runs what the chart declares: the image's entry point, the pod name as node name, DNS seeds", () => {
      const sts = findObject(objects, "StatefulSet");
      expect((sts["spec"] as { replicas: number }).replicas).toBe(REPLICAS);
      const plan = plans[1]!;
      // The image's own paths: the pod's root holds the checkout at /app, wherever the checkout lives.
      expect(plan.argv).toEqual(["node", ...DAEMON_NODE_FLAGS, "/app/bin/wendy.js", "start"]);
      expect(plan.cwd).toBe("/app");
      expect(plan.env["WENDY_NODE_NAME"]).toBe("wendy-1");
      expect(plan.env["WENDY_LOCAL_ADDRESS"]).toBe(`${plan.fqdn}:7070`);
      // The seeds are headless-service names of pods of this StatefulSet, resolved by the pods' hosts files.
      const seeds = (plan.env["WENDY_JOIN"] ?? "").split(",").map((s) => s.trim());
      expect(seeds.length).toBeGreaterThan(0);
      for (const seed of seeds) expect(plans.map((p) => `${p.fqdn}:7070`)).toContain(seed);
      expect(plan.runAsUser).not.toBe(0);
      // The application container, as extraContainers rendered it: the pod's user, its own /tmp volume.
      const app = apps[1]!.plan;
      expect(app.argv).toEqual([
        APP_PYTHON,
        "/app/examples/python/wendy_example.py",
        "--address",
        "127.0.0.1:7071",
        "subscribe",
        "--purpose",
        String(PURPOSE),
      ]);
      expect(app.runAsUser).toBe(plan.runAsUser);
      expect(app.mounts.map((m) => m.mountPath)).toEqual(["/app", "/tmp"]);
    });

    if (mode.identities)
      it(
        "each pod holds the certificate cert-manager's csi-driver issued it, where WENDY_TLS_* say: it " +
          "names the pod's own node and DNS name, chains to the issuer's CA, and is readable by the pod's group only",
        () => {
          for (const plan of plans) {
            expect(plan.env["WENDY_TLS_NODE_IDENTITY"]).toBe("true");
            expect(plan.env["WENDY_TLS_MUTUAL"]).toBe("true");
            const file = (variable: string) => {
              const path = plan.env[variable] ?? "";
              const mount = plan.mounts.find((m) => m.mountPath === dirname(path));
              if (mount?.kind !== "csi") throw new Error(`${variable} (${path}) is not on a csi volume`);
              const found = mount.files.find((f) => join(mount.mountPath, f.path) === path);
              if (found === undefined) throw new Error(`the csi volume holds no ${path}`);
              return { mount, found };
            };
            const { mount, found: cert } = file("WENDY_TLS_CERT_FILE");
            expect(file("WENDY_TLS_KEY_FILE").found.mode).toBe(0o440);
            expect(file("WENDY_TLS_CA_FILE").found.content).toBe(csi!.caCertificate);
            // Readable by the pod (its fsGroup), as the chart's fs-group attribute asks of the driver.
            expect(mount.group).toBe(plan.supplementalGroups.at(-1));
            const x509 = new X509Certificate(cert.content);
            expect(nodeIdOfCertificate({ subjectaltname: x509.subjectAltName }), plan.podName).toBe(
              idOf(plan.podName),
            );
            expect(x509.subjectAltName).toContain(`URI:wendy://name/${plan.podName}`);
            expect(
              checkServerIdentity(plan.fqdn, { subject: {}, subjectaltname: x509.subjectAltName } as never),
            ).toBeUndefined();
            expect(x509.verify(new X509Certificate(csi!.caCertificate).publicKey)).toBe(true);
          }
        },
      );

    it(
      "all five join through WENDY_JOIN and pass the chart's readiness and liveness probes; /readyz is 200",
      async () => {
        await Promise.all(plans.map((_, i) => rehearsal().waitReady(i)));
        for (const [i, plan] of plans.entries()) {
          // Under identities the peer port takes mutual TLS only, so the kubelet asks /readyz instead.
          expect(plan.readinessProbe).toMatchObject(
            mode.identities
              ? { kind: "httpGet", target: "/readyz" }
              : { kind: "grpc", target: "wendy.v1.PeerService" },
          );
          expect(await rehearsal().probePasses(i, plan.livenessProbe), `${plan.podName} liveness`).toBe(true);
          const readyz = await rehearsal().kubelet.httpGet(
            `http://${plan.podIP}:${rehearsal().metricsPort(i)}/readyz`,
          );
          expect(readyz.status, `${plan.podName} /readyz`).toBe(200);
          // Every declared container port answers on the pod's address; the client port stays on its loopback.
          for (const [portName, port] of plan.ports) {
            expect(
              await rehearsal().kubelet.tcpConnects(plan.podIP, port),
              `${plan.podName} ${portName}`,
            ).toBe(true);
          }
          const clientPort = Number(plan.env["WENDY_CLIENT_PORT"]);
          expect(
            await rehearsal().kubelet.tcpConnects(plan.podIP, clientPort),
            "client port from outside",
          ).toBe(false);
          // The pod's security context took effect: its user, no capabilities, no privilege escalation.
          const status = readFileSync(`/proc/${pods[i]!.pid}/status`, "utf8");
          expect(status).toMatch(new RegExp(`^Uid:\\s+${plan.runAsUser}\\s`, "m"));
          expect(status).toMatch(/^CapEff:\s+0+$/m);
          expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
          const started = rehearsal().logRecord(i, 0, LOG_STARTED);
          expect(started["nodeId"]).toBe(idOf(plan.podName));
          expect(started["localAddress"]).toBe(`${plan.fqdn}:7070`);
        }
        // Exactly one ring: the first seed founded it and every other pod joined.
        const outcomes = plans.map((_, i) => rehearsal().logRecord(i, 0, LOG_READY)["outcome"]);
        expect(outcomes).toEqual(["founded", "joined", "joined", "joined", "joined"]);
      },
      READY_LIMIT_MS + 10_000,
    );

    it("routes every key to the pod whose ID is numerically closest (the client API, from the client pod)", async () => {
      rehearsal().requireRunning();
      const viaClient = await Promise.all(
        keys.map(async (key) => {
          const reply = await rehearsal().client.request({
            op: "send",
            clientAddress: rehearsal().clientPortAddress(),
            key,
            purpose: PURPOSE,
            payload: "routing check",
            deadlineMs: SEND_DEADLINE_MS,
          });
          return { key, at: reply.ok && "deliveredBy" in reply ? reply.deliveredBy : JSON.stringify(reply) };
        }),
      );
      expect(viaClient.map((d) => d.at)).toEqual(keys.map((k) => ownerOf(NodeId.fromString(k), ring).id.hex));
    }, 60_000);

    extra(
      "the wendy program run inside each pod (`wendy send --ack`) reaches the owner of its key",
      async () => {
        rehearsal().requireRunning();
        // The `wendy send --ack` a co-located service would run, once inside each pod.
        const viaProgram = await Promise.all(
          plans.map(async (plan, i) => {
            const key = keys[(i + 1) % keys.length]!;
            const { stdout } = await run(
              "ip",
              [
                "netns",
                "exec",
                pods[i]!.netns,
                process.execPath,
                join(REPO_ROOT, "bin/wendy.js"),
                "send",
              ].concat([
                "--address",
                `${plan.env["WENDY_CLIENT_HOST"]}:${plan.env["WENDY_CLIENT_PORT"]}`,
                key,
                `from ${plan.podName}`,
                "--ack",
              ]),
              { cwd: REPO_ROOT, timeout: 30_000 },
            );
            const reply = JSON.parse(stdout) as { deliveredBy: { id: string } };
            return { key, at: reply.deliveredBy.id };
          }),
        );
        for (const { key, at } of viaProgram) {
          expect(at, key).toBe(ownerOf(NodeId.fromString(key), ring).id.hex);
        }
      },
      60_000,
    );

    it("each message sent from another pod reaches the Python application beside the owning node, and no other", async () => {
      rehearsal().requireRunning();
      // Every application has subscribed: its node counts one subscriber.
      await rehearsal().waitAppsSubscribed();
      const sent = await Promise.all(
        keys.map(async (key) => {
          const payload = `to the application: ${key}`;
          const reply = await rehearsal().client.request({
            op: "send",
            clientAddress: rehearsal().clientPortAddress(),
            key,
            purpose: PURPOSE,
            payload,
            deadlineMs: SEND_DEADLINE_MS,
          });
          return {
            key,
            payload,
            at: reply.ok && "deliveredBy" in reply ? reply.deliveredBy : JSON.stringify(reply),
          };
        }),
      );
      await rehearsal().until("every message printed by an application", 20_000, () =>
        sent.every((s) => rehearsal().appsThatSaw(s.payload).length > 0),
      );
      for (const { key, payload, at } of sent) {
        const owner = ownerOf(NodeId.fromString(key), ring);
        expect(at, key).toBe(owner.id.hex);
        expect(rehearsal().appsThatSaw(payload), key).toEqual([owner.podName]);
      }
    }, 120_000);

    extra(
      "with one pod's application container killed (its node running), sends for its keys fail clearly " +
        "after the delivery grace and none returns OK unseen; sends made while it restarts wait for it and " +
        "are acknowledged once it has them; once it is back they reach it",
      async () => {
        const r = rehearsal();
        r.requireRunning();
        await r.waitAppsSubscribed();
        const victim = 1;
        const name = plans[victim]!.podName;
        const owned = keys.filter((k) => ownerOf(NodeId.fromString(k), ring).podName === name);
        const send = async (key: string, payload: string) => {
          const reply = await r.client.request({
            op: "send",
            clientAddress: r.clientPortAddress(),
            key,
            purpose: PURPOSE,
            payload,
            deadlineMs: GRACE_SEND_DEADLINE_MS,
          });
          return { key, payload, reply };
        };
        r.appsHeld.add(victim);
        apps[victim]!.signal("SIGKILL");
        await apps[victim]!.exited();

        // Refused once the node's delivery grace is over, naming the purpose and the owner.
        const unseen = await Promise.all(owned.slice(0, 3).map((k) => send(k, `while away: ${k}`)));
        for (const { key, reply } of unseen) {
          expect(reply.ok, key).toBe(false);
          expect(reply.ok ? "" : reply.error, key).toMatch(
            new RegExp(`FailedPrecondition.*purpose ${PURPOSE}.*${idOf(name)}`, "s"),
          );
        }
        // Killed again, and restarted by the kubelet within the grace: sends made meanwhile wait at the node
        // for the application (it receives with acknowledgements) and are acknowledged once it has them.
        apps[victim]!.signal("SIGKILL");
        await apps[victim]!.exited();
        const waiting = Promise.all(owned.slice(3, 5).map((k) => send(k, `restarting: ${k}`)));
        r.appsHeld.delete(victim);
        r.runApp(victim, false);
        const waited = await waiting;
        for (const { key, payload, reply } of waited) {
          expect(reply.ok && "deliveredBy" in reply ? reply.deliveredBy : JSON.stringify(reply), key).toBe(
            idOf(name),
          );
          expect(r.appsThatSaw(payload), key).toEqual([name]);
        }
        // Subscribed again, it receives its keys' messages and they are acknowledged.
        await r.waitAppsSubscribed();
        const back = await Promise.all(owned.slice(5).map((k) => send(k, `back: ${k}`)));
        await r.until("the application to print what it was sent", 10_000, () =>
          back.every((b) => r.appsThatSaw(b.payload).length > 0),
        );
        for (const { key, payload, reply } of back) {
          expect(reply.ok && "deliveredBy" in reply ? reply.deliveredBy : JSON.stringify(reply), key).toBe(
            idOf(name),
          );
          expect(r.appsThatSaw(payload), key).toEqual([name]);
        }
        expect(unseen.flatMap((s) => r.appsThatSaw(s.payload))).toEqual([]);
      },
      120_000,
    );

    it(
      "a deleted pod (SIGTERM) leaves within its grace period and comes back under the same name and address " +
        "with the same ID; every acknowledged message of a stream meanwhile reaches the owner of that moment",
      async () => {
        rehearsal().requireRunning();
        const victim = 0;
        const name = plans[victim]!.podName;
        const stream = startStream(rehearsal(), keys, PURPOSE, SEND_DEADLINE_MS);
        await rehearsal().until(
          "20 acknowledged sends before the delete",
          20_000,
          () => stream.acked(0) >= 20,
        );

        const leavingAt = performance.now();
        rehearsal().appsHeld.add(victim);
        const [ended] = await Promise.all([pods[victim]!.terminate(), apps[victim]!.terminate()]);
        const goneAt = performance.now();
        const goneWallClock = Date.now();
        await rehearsal().until(
          "sends while the pod is away",
          20_000,
          () => stream.acked(goneAt) >= 3 * KEYS_PER_POD * 2,
          victim,
        );

        const restartedAt = performance.now();
        pods[victim]!.start(true);
        rehearsal().appsHeld.delete(victim);
        rehearsal().runApp(victim, true);
        await rehearsal().waitReady(victim);
        // Ready to take its keys' messages: its node is ready and its application has subscribed again.
        await rehearsal().waitAppsSubscribed();
        const readyAt = performance.now();
        await rehearsal().until(
          `sends delivered by the returned ${name}`,
          30_000,
          () => stream.acked(readyAt, name) >= 10,
        );
        const sends = await stream.stop();
        const absence: Absence = { podName: name, leavingAt, goneAt, restartedAt, readyAt };

        expect(ended, `${name} on SIGTERM`).toMatchObject({ code: 0, graceExpired: false });
        // Same name, same ID; it found a live seed, so it joined the ring instead of founding another.
        expect(rehearsal().logRecord(victim, 1, LOG_STARTED)["nodeId"]).toBe(idOf(name));
        expect(rehearsal().logRecord(victim, 1, LOG_READY)["outcome"]).toBe("joined");
        // The leave was announced: every other pod learnt of it before the process was gone, which failure
        // detection could not have done.
        for (const [i, pod] of pods.entries()) {
          if (i === victim) continue;
          const left = pod
            .records(pod.run)
            .find((r) => r["msg"] === LOG_NODE_LEFT && r["peer"] === idOf(name));
          expect(left, `${pod.plan.podName} logged "${LOG_NODE_LEFT}" for ${name}`).toBeDefined();
          expect(Number(left?.["time"])).toBeLessThanOrEqual(goneWallClock);
        }
        expect(misdeliveries(sends, ring, (send) => rightfulOwners(send, ring, absence))).toEqual([]);
        // Only sends that overlapped the pod leaving or coming back may have gone unacknowledged.
        const failed = sends.filter((s) => s.error !== undefined);
        expect(
          failed.filter((s) => presenceDuring(s, absence) !== "changing").length,
          describeFailures(sends, absence).join("\n"),
        ).toBe(0);
        // Its keys went to the others while it was away, and to it (a new incarnation) once back.
        const before = sends.find((s) => s.endedAt < leavingAt && s.deliveredBy === idOf(name));
        const away = sends.filter(
          (s) => presenceDuring(s, absence) === "absent" && s.deliveredBy !== undefined,
        );
        const returned = sends.filter((s) => s.startedAt > readyAt && s.deliveredBy === idOf(name));
        expect(away.some((s) => ownerOf(NodeId.fromString(s.key), ring).podName === name)).toBe(true);
        expect(returned.length).toBeGreaterThan(0);
        expect(returned[0]!.incarnation).not.toBe(before?.incarnation);
        process.stderr.write(
          `[rehearsal] SIGTERM of ${name}: exit ${ended.code} after ${ended.ms.toFixed(0)} ms; ` +
            `${sends.length} sends, ${failed.length} unacknowledged, ${away.length} acked while away; ` +
            `ready again ${(readyAt - restartedAt).toFixed(0)} ms after restart\n`,
        );
      },
      120_000,
    );

    it("a pod killed with SIGKILL restarts in place with the same ID and rejoins", async () => {
      rehearsal().requireRunning();
      const victim = 2;
      const name = plans[victim]!.podName;
      const runBefore = pods[victim]!.run;
      const stream = startStream(rehearsal(), keys, PURPOSE, SEND_DEADLINE_MS);
      await rehearsal().until("20 acknowledged sends before the kill", 20_000, () => stream.acked(0) >= 20);

      const leavingAt = performance.now();
      pods[victim]!.signal("SIGKILL");
      const exit = await pods[victim]!.exited();
      const goneAt = performance.now();
      // The kubelet restarts the container of the same pod at once (same pod, same address, same volumes).
      pods[victim]!.start(false);
      const restartedAt = goneAt;
      await rehearsal().waitReady(victim);
      // Ready to take its keys' messages: its node is ready and its application has subscribed again.
      await rehearsal().waitAppsSubscribed();
      const readyAt = performance.now();
      await rehearsal().until(
        `sends delivered by the restarted ${name}`,
        30_000,
        () => stream.acked(readyAt, name) >= 10,
      );
      const sends = await stream.stop();
      const absence: Absence = { podName: name, leavingAt, goneAt, restartedAt, readyAt };

      expect(exit.signal).toBe("SIGKILL");
      expect(pods[victim]!.run).toBe(runBefore + 1);
      expect(rehearsal().logRecord(victim, runBefore + 1, LOG_STARTED)["nodeId"]).toBe(idOf(name));
      expect(rehearsal().logRecord(victim, runBefore + 1, LOG_READY)["outcome"]).toBe("joined");
      expect(misdeliveries(sends, ring, (send) => rightfulOwners(send, ring, absence))).toEqual([]);
      const afterReady = sends.filter((s) => s.startedAt > readyAt);
      expect(afterReady.filter((s) => s.error !== undefined)).toEqual([]);
      process.stderr.write(
        `[rehearsal] SIGKILL of ${name}: ready again ${(readyAt - restartedAt).toFixed(0)} ms after restart; ` +
          `${sends.length} sends, ${sends.filter((s) => s.error !== undefined).length} unacknowledged\n`,
      );
    }, 120_000);

    it(
      "scaled to six, the new pod (a new ordinal, with its own certificate under identities) joins through " +
        "the seeds and takes the keys it owns; scaled back to five, it leaves and they go back; every " +
        "acknowledged message of a stream meanwhile reaches the owner of that moment",
      async () => {
        const r = rehearsal();
        r.requireRunning();
        const name = `wendy-${REPLICAS}`;
        const grown: Pod[] = [...ring, { podName: name, id: NodeId.fromString(name) }];
        // Keys the new pod will own, mixed into the stream's keys.
        const itsKeys: string[] = [];
        for (let n = 0; itsKeys.length < KEYS_PER_POD && n < 100_000; n++) {
          const key = `scale-key-${n}`;
          if (ownerOf(NodeId.fromString(key), grown).podName === name) itsKeys.push(key);
        }
        expect(itsKeys.length).toBe(KEYS_PER_POD);
        const stream = startStream(r, [...keys, ...itsKeys], PURPOSE, SEND_DEADLINE_MS);
        await r.until("20 acknowledged sends before the scale-up", 20_000, () => stream.acked(0) >= 20);

        // helm upgrade --set replicaCount=6: the StatefulSet controller creates the next ordinal. The upgrade
        // keeps the generated cluster secret (the chart reads it back with lookup, which a template render
        // cannot), so the cluster's Secrets stay those of the first render.
        const scaled = [
          ...render(values(REPLICAS + 1)).filter((o) => o.kind !== "Secret"),
          ...objects.filter((o) => o.kind === "Secret"),
        ];
        const startedAt = performance.now();
        const i = r.scaleUp(scaled, name);
        await r.waitReady(i);
        await r.waitAppsSubscribed();
        const readyAt = performance.now();
        await r.until(`sends delivered by the new ${name}`, 30_000, () => stream.acked(readyAt, name) >= 5);

        // helm upgrade --set replicaCount=5: the highest ordinal is deleted.
        const leavingAt = performance.now();
        r.appsHeld.add(i);
        const [ended] = await Promise.all([pods[i]!.terminate(), apps[i]!.terminate()]);
        const goneAt = performance.now();
        const goneWallClock = Date.now();
        await r.until("sends after the scale-down", 20_000, () => stream.acked(goneAt) >= 2 * keys.length, i);
        const sends = await stream.stop();
        const plan = plans[i]!;
        const records = pods[i]!.records(0);
        r.scaleDown();

        expect(records.find((l) => l["msg"] === LOG_STARTED)?.["nodeId"]).toBe(idOf(name));
        expect(records.find((l) => l["msg"] === LOG_READY)?.["outcome"]).toBe("joined");
        if (csi !== undefined) {
          // Its certificate was issued for it when it was created, naming its own node.
          const cert = plan.mounts
            .flatMap((m) => (m.kind === "csi" ? m.files : []))
            .find((f) => f.path === "tls.crt");
          const x509 = new X509Certificate(cert?.content ?? "");
          expect(nodeIdOfCertificate({ subjectaltname: x509.subjectAltName })).toBe(idOf(name));
        }
        expect(ended, `${name} on SIGTERM`).toMatchObject({ code: 0, graceExpired: false });
        for (const pod of pods) {
          const left = pod
            .records(pod.run)
            .find((l) => l["msg"] === LOG_NODE_LEFT && l["peer"] === idOf(name));
          expect(left, `${pod.plan.podName} logged "${LOG_NODE_LEFT}" for ${name}`).toBeDefined();
          expect(Number(left?.["time"])).toBeLessThanOrEqual(goneWallClock);
        }
        // Before it was ready it was not there (absent until it started); from its leave on, gone again.
        const arrival: Absence = {
          podName: name,
          leavingAt: -Infinity,
          goneAt: -Infinity,
          restartedAt: startedAt,
          readyAt,
        };
        const departure: Absence = {
          podName: name,
          leavingAt,
          goneAt,
          restartedAt: Infinity,
          readyAt: Infinity,
        };
        const owners = (send: StreamSend): Set<string> =>
          send.endedAt < leavingAt
            ? rightfulOwners(send, grown, arrival)
            : send.startedAt > readyAt
              ? rightfulOwners(send, grown, departure)
              : new Set([...rightfulOwners(send, grown, arrival), ...rightfulOwners(send, grown, departure)]);
        const wrong = misdeliveries(sends, grown, owners);
        expect(wrong).toEqual([]);
        // Only sends that overlapped its arrival or its leave may have gone unacknowledged.
        const steady = (s: StreamSend): boolean =>
          presenceDuring(s, arrival) !== "changing" && presenceDuring(s, departure) !== "changing";
        const failed = sends.filter((s) => s.error !== undefined);
        expect(
          failed.filter(steady).map((s) => `${s.key}: ${s.error}`),
          "unacknowledged sends outside the arrival and the leave",
        ).toEqual([]);
        // Its keys went to it while it was there, and to the others before and after.
        expect(
          sends.filter((s) => s.startedAt > readyAt && s.deliveredBy === idOf(name)).length,
        ).toBeGreaterThan(0);
        expect(
          sends.filter((s) => s.startedAt > goneAt && itsKeys.includes(s.key) && s.deliveredBy !== undefined)
            .length,
        ).toBeGreaterThan(0);
        process.stderr.write(
          `[rehearsal] scale to ${REPLICAS + 1} and back: ${name} ready ${(readyAt - startedAt).toFixed(0)} ms ` +
            `after creation; ${sends.length} sends, ${failed.length} unacknowledged\n`,
        );
      },
      120_000,
    );

    extra("promtool accepts a live daemon's /metrics, where the message counters have moved", async () => {
      rehearsal().requireRunning();
      const i = CLIENT_POD;
      const annotations = (
        findObject(objects, "StatefulSet")["spec"] as {
          template: { metadata: { annotations: Record<string, string> } };
        }
      ).template.metadata.annotations;
      expect(Number(annotations["prometheus.io/port"])).toBe(rehearsal().metricsPort(i));
      const scrape = await rehearsal().kubelet.httpGet(
        `http://${plans[i]!.podIP}:${rehearsal().metricsPort(i)}${annotations["prometheus.io/path"] ?? "/metrics"}`,
      );
      expect(scrape.status).toBe(200);
      const counter = (name: string): number => {
        const line = scrape.body.split("\n").find((l) => l.startsWith(`${name} `));
        if (line === undefined) throw new Error(`/metrics has no ${name}`);
        return Number(line.slice(name.length + 1));
      };
      // The client pod originated every send and owns some of the keys.
      expect(counter("wendy_messages_sent_total")).toBeGreaterThan(0);
      expect(counter("wendy_messages_delivered_total")).toBeGreaterThan(0);
      const lint = await promtoolCheckMetrics(scrape.body);
      expect(lint.problems).toEqual([]);
      expect(lint.exitCode).toBe(0);
    });

    if (mode.identities)
      it("through all of it no pod refused another: no identity failure is counted on any pod", async () => {
        rehearsal().requireRunning();
        for (const [i, plan] of plans.entries()) {
          const scrape = await rehearsal().kubelet.httpGet(
            `http://${plan.podIP}:${rehearsal().metricsPort(i)}/metrics`,
          );
          expect(scrape.status).toBe(200);
          for (const reason of IDENTITY_FAILURES) {
            const line = `wendy_authentication_failures_total{reason="${reason}"}`;
            const found = scrape.body.split("\n").find((l) => l.startsWith(`${line} `));
            // Counters of a reason never met are exported at 0 or not at all.
            expect(Number(found?.slice(line.length + 1) ?? 0), `${plan.podName} ${reason}`).toBe(0);
          }
        }
      });
  });
}
