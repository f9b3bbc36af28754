// The sidecar shape rehearsed: the example application chart (deploy/helm/wendy-sidecar-example), whose own
// StatefulSet adds Wendy through the named templates of _wendy.tpl, run pod by pod as the kubelet would run
// it. Every pod of the application becomes a node of one ring, through the headless Service's names, the
// seeds and the shared secret; each message reaches the application of the pod that owns its key.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { HELM_SETUP_TIMEOUT_MS, RELEASE, SIDECAR_CHART_DIR, render } from "../helm/helm.js";
import { ownerOf, type Pod } from "./ownership.js";
import { APP_IMAGE, READY_LIMIT_MS, RehearsedPods } from "./rehearsed-pods.js";

const REPLICAS = 3;
const PURPOSE = 16;
const KEYS = 18;
const SEND_DEADLINE_MS = 8000;
const WORKLOAD = `${RELEASE}-wendy-sidecar-example`;
/** The application's own values: the Python example as its container. */
const VALUES = {
  replicaCount: REPLICAS,
  app: {
    image: APP_IMAGE,
    args: ["--address", "127.0.0.1:7071", "subscribe", "--purpose", String(PURPOSE)],
    env: [{ name: "WENDY_PY_GEN_DIR", value: "/tmp/wendy-python" }],
  },
};
const CLIENT_POD = REPLICAS - 1;

const ring: Pod[] = Array.from({ length: REPLICAS }, (_, i) => ({
  podName: `${WORKLOAD}-${i}`,
  id: NodeId.fromString(`${WORKLOAD}-${i}`),
}));
let current: RehearsedPods | undefined;
function rehearsal(): RehearsedPods {
  if (current === undefined) throw new Error("the pods were not started");
  return current;
}

beforeAll(async () => {
  const objects = render(VALUES, [], SIDECAR_CHART_DIR);
  current = await RehearsedPods.start(
    objects,
    ring.map((p) => p.podName),
    "app",
    CLIENT_POD,
  );
}, HELM_SETUP_TIMEOUT_MS);

afterAll(() => current?.cleanUp(), 60_000);

describe("Wendy as a sidecar of the application's own StatefulSet, rehearsed with three pods", () => {
  it(
    "every pod's node joins one ring through the seeds and passes its readiness probe",
    async () => {
      const r = rehearsal();
      await Promise.all(ring.map((_, i) => r.waitReady(i)));
      ring.forEach((pod, i) => {
        expect(r.logRecord(i, 0, LOG_STARTED)["nodeId"]).toBe(pod.id.hex);
        expect(r.plans[i]!.env["WENDY_CLIENT_HOST"]).toBe("127.0.0.1");
      });
      expect(ring.map((_, i) => r.logRecord(i, 0, LOG_READY)["outcome"])).toEqual([
        "founded",
        "joined",
        "joined",
      ]);
    },
    READY_LIMIT_MS + 10_000,
  );

  it("each message sent from another pod reaches the application of the owning pod, and no other", async () => {
    const r = rehearsal();
    r.requireRunning();
    await r.waitAppsSubscribed();
    const sent = await Promise.all(
      Array.from({ length: KEYS }, async (_, n) => {
        const key = `sidecar-key-${n}`;
        const payload = `to the sidecar's application: ${key}`;
        const reply = await r.client.request({
          op: "send",
          clientAddress: r.clientPortAddress(),
          key,
          purpose: PURPOSE,
          payload,
          deadlineMs: SEND_DEADLINE_MS,
        });
        const at = reply.ok && "deliveredBy" in reply ? reply.deliveredBy : JSON.stringify(reply);
        return { key, payload, at };
      }),
    );
    await r.until("every message printed by an application", 20_000, () =>
      sent.every((s) => r.appsThatSaw(s.payload).length > 0),
    );
    const owners = new Set<string>();
    for (const { key, payload, at } of sent) {
      const owner = ownerOf(NodeId.fromString(key), ring);
      owners.add(owner.podName);
      expect(at, key).toBe(owner.id.hex);
      expect(r.appsThatSaw(payload), key).toEqual([owner.podName]);
    }
    // The keys were spread over the pods: every pod's application took part.
    expect(owners.size).toBe(REPLICAS);
  }, 120_000);
});
