// Authentication failures reach the metric under their real reason (a replay, a Hello flood, a bad nonce...),
// never lumped together as "other".
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { NodeId } from "../../src/routing/id.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { AUTH_FAILURE_REASONS, type AuthFailureReason } from "../../src/server/auth/failures.js";
import { Cluster } from "../../src/server/cluster.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import {
  DEFAULT_AUTH_FAILURE_REASONS,
  LabelWhitelist,
  OTHER,
  authFailureLabel,
} from "../../src/server/metrics/labels.js";
import { Node } from "../../src/server/node.js";
import { PeerCaller, helloBody, wireNode } from "../fuzz/lib/peer-caller.js";
import { testSecret } from "../helpers/secrets.js";
import { valueOf } from "../metrics/scrape.js";

const COST = { N: 1024, r: 8, p: 1 };
const credentials = new PassphraseCredentials(testSecret("auth-failure-metrics"), COST);
const metrics = new WendyMetrics({ nodeId: "00", version: "test" });
let cluster: Cluster;

beforeAll(async () => {
  cluster = new Cluster(
    new Node({ id: NodeId.fromString("metrics-node"), localAddress: "127.0.0.1", port: 0 }),
    credentials,
    { bindHost: "127.0.0.1", metrics, maxHellosPerSecond: 5 },
  );
  await cluster.listen();
});

afterAll(() => cluster.kill());

const failures = (reason: string): Promise<number | undefined> =>
  valueOf(metrics.registry, "wendy_authentication_failures_total", { reason });

describe("authentication failure metrics", () => {
  it("give every failure reason its own whitelisted label", () => {
    const whitelist = new LabelWhitelist(DEFAULT_AUTH_FAILURE_REASONS);
    const labels = AUTH_FAILURE_REASONS.map((reason) => {
      const label = authFailureLabel(reason);
      expect(whitelist.normalise(label), reason).not.toBe(OTHER);
      return label;
    });
    expect(new Set(labels).size).toBe(labels.length);
  });

  it("count a replayed call as replayed_seq, a bad nonce as bad_nonce and a Hello flood as hello_rate_limited", async () => {
    const address = `127.0.0.1:${cluster.node.port}`;
    const caller = new PeerCaller(address, credentials.sharedKey);
    try {
      const body = PeerServiceService.heartbeat.requestSerialize({ sender: wireNode({}) });
      const original = await caller.signed(PeerServiceService.heartbeat.path, body);
      expect(original.code).toBe(status.OK);
      const replay = await caller.raw(original.call.path, original.call.body, original.call.entries);
      expect(replay.authFailure).toBe("replayed-seq" satisfies AuthFailureReason);
      const shortNonce = await caller.hello(helloBody(new Uint8Array(4)));
      expect(shortNonce.code).toBe(status.UNAUTHENTICATED);
      let limited = 0;
      for (let i = 0; i < 20; i++) {
        if ((await caller.hello()).code === status.RESOURCE_EXHAUSTED) limited++;
      }
      expect(limited).toBeGreaterThan(0);
      expect(await failures("replayed_seq")).toBe(1);
      expect(await failures("bad_nonce")).toBe(1);
      expect(await failures("hello_rate_limited")).toBe(limited);
      expect(await failures(OTHER)).toBeUndefined();
    } finally {
      caller.close();
    }
  });
});
