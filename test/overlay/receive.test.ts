// Receive over gRPC on one in-process node (it owns every key): the ready signal, acknowledgement through
// the stream, redelivery when a subscriber's stream goes away, and the requests it refuses.
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../src/server/cluster.js";
import type { OverlayServiceHandle } from "../../src/server/overlay/index.js";
import { OverlayServiceClient, type ReceiveResponse } from "../../src/gen/wendy/v1/overlay.js";
import { FailedPreconditionError, WendyClient, type ReceivedDelivery } from "../../src/client/index.js";
import { nextWithin, waitFor } from "../helpers/wait.js";
import { startInProcessOverlay, type InProcessOverlay } from "../helpers/in-process-overlay.js";

const GRACE_MS = 400;
let cluster: Cluster;
let handle: OverlayServiceHandle;
let address: string;
let client: WendyClient;
let purpose = 100;
let overlay: InProcessOverlay | undefined;

beforeAll(async () => {
  overlay = await startInProcessOverlay("receive", { limits: { deliveryGraceMs: GRACE_MS } });
  ({ cluster, handle, address, client } = overlay);
});

afterAll(async () => {
  await overlay?.stop();
});

/** A fresh purpose per test, so that no subscriber of another test takes its messages. */
function freshPurpose(): number {
  return ++purpose;
}

describe("Receive", () => {
  it("says it is live with the node, and a waiting send completes only after the ack", async () => {
    const p = freshPurpose();
    const sub = client.receive([p]);
    try {
      const node = await sub.ready;
      expect(node.id.equals(cluster.info().id)).toBe(true);
      let acked = false;
      const sent = client.send("key-1", p, "hello", { waitForAck: true }).then((r) => {
        acked = true;
        return r;
      });
      const d = await nextWithin(sub, "the delivery");
      expect(Buffer.from(d.payload).toString()).toBe("hello");
      expect(d.attempt).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
      expect(acked).toBe(false);
      d.ack();
      const result = await sent;
      expect(result.messageId).toBe(d.messageId);
      expect(result.deliveredBy?.id.equals(cluster.info().id)).toBe(true);
    } finally {
      sub.close();
    }
  });

  it("a delivery left unacknowledged by a closed stream comes again, same id, to the next subscriber", async () => {
    const p = freshPurpose();
    const first = client.receive([p]);
    await first.ready;
    const sent = client.send("key-2", p, "again", { waitForAck: true });
    const d1 = await nextWithin(first, "the first delivery");
    first.close();
    const second = client.receive([p]);
    try {
      const d2 = await nextWithin(second, "the redelivery");
      expect(d2.messageId).toBe(d1.messageId);
      expect(d2.attempt).toBe(2);
      d2.ack();
      expect((await sent).messageId).toBe(d1.messageId);
    } finally {
      second.close();
    }
  });

  it("two members of one group split the deliveries, and every send is acknowledged", async () => {
    const p = freshPurpose();
    const members = [client.receive([p], { group: "svc" }), client.receive([p], { group: "svc" })];
    const seen: ReceivedDelivery[][] = [[], []];
    try {
      await Promise.all(members.map((m) => m.ready));
      members.forEach((m, i) => {
        void (async () => {
          for await (const d of m) {
            seen[i]?.push(d);
            d.ack();
          }
        })().catch(() => undefined);
      });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => client.send(`split-${i}`, p, `${i}`, { waitForAck: true })),
      );
      expect(results).toHaveLength(20);
      const [a, b] = seen.map((s) => s.length);
      expect((a ?? 0) + (b ?? 0)).toBe(20);
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
    } finally {
      for (const m of members) m.close();
    }
  });

  it("a send to a purpose nobody receives fails FAILED_PRECONDITION after the grace", async () => {
    const p = freshPurpose();
    const sent = client.send("key-3", p, "nobody", { waitForAck: true });
    await expect(sent).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(sent).rejects.toThrow(`purpose ${p} at node ${cluster.info().id.hex}`);
  });

  it("a subscriber attaching within the grace receives and acknowledges a waiting send", async () => {
    const p = freshPurpose();
    const sent = client.send("key-4", p, "early", { waitForAck: true });
    await new Promise((r) => setTimeout(r, GRACE_MS / 4));
    const sub = client.receive([p]);
    try {
      const d = await nextWithin(sub, "the waiting delivery");
      d.ack();
      expect((await sent).messageId).toBe(d.messageId);
    } finally {
      sub.close();
    }
  });

  it("a Call whose subscriber goes away without a Reply is answered by another subscriber", async () => {
    const p = freshPurpose();
    const quitter = client.receive([p]);
    await quitter.ready;
    const answer = client.call("call-key", p, "question", { timeoutMs: 5000 });
    const d1 = await nextWithin(quitter, "the call");
    expect(d1.callId).toBeDefined();
    const helper = client.receive([p]);
    try {
      await helper.ready;
      quitter.close();
      const d2 = await nextWithin(helper, "the call again");
      expect(d2.callId).toBe(d1.callId);
      await client.reply(d2.callId ?? "", "answer");
      expect(Buffer.from((await answer).payload).toString()).toBe("answer");
    } finally {
      helper.close();
    }
  });
});

describe("the deprecated Subscribe", () => {
  it("sends its response headers once live, and a delivery written to it acknowledges a waiting send", async () => {
    const p = freshPurpose();
    const raw = new OverlayServiceClient(address, credentials.createInsecure());
    const stream = raw.subscribe({ purposes: [p] }, new Metadata());
    try {
      stream.on("error", () => undefined);
      const payloads: string[] = [];
      stream.on("data", (d: { payload: Buffer }) => payloads.push(d.payload.toString()));
      await new Promise<void>((resolve) => stream.once("metadata", () => resolve()));
      const sent = await client.send("legacy", p, "old client", { waitForAck: true });
      expect(sent.deliveredBy?.id.equals(cluster.info().id)).toBe(true);
      await waitFor("the delivery on the Subscribe stream", () => (payloads.length > 0 ? true : undefined));
      expect(payloads).toEqual(["old client"]);
    } finally {
      stream.cancel();
      raw.close();
    }
  });
});

describe("Receive refuses bad streams with INVALID_ARGUMENT", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["a first request that is an ack", { kind: { $case: "ack", ack: { messageIds: ["x"] } } }],
    [
      "copy_all with a group",
      {
        kind: { $case: "start", start: { purposes: [16], group: "g", copyAll: true, maxUnacknowledged: 0 } },
      },
    ],
    [
      "max_unacknowledged above 1024",
      {
        kind: {
          $case: "start",
          start: { purposes: [16], group: "", copyAll: false, maxUnacknowledged: 2000 },
        },
      },
    ],
    [
      "a reserved purpose",
      { kind: { $case: "start", start: { purposes: [3], group: "", copyAll: false, maxUnacknowledged: 0 } } },
    ],
  ];
  for (const [what, request] of cases) {
    it(what, async () => {
      const raw = new OverlayServiceClient(address, credentials.createInsecure());
      try {
        const call = raw.receive(new Metadata());
        const code = await new Promise<status>((resolve) => {
          call.on("data", (_: ReceiveResponse) => undefined);
          call.on("error", (e: ServiceError) => resolve(e.code));
          call.on("end", () => resolve(status.OK));
          call.write(request as never);
        });
        expect(code).toBe(status.INVALID_ARGUMENT);
      } finally {
        raw.close();
      }
    });
  }

  it("an ack of no message ids", async () => {
    const raw = new OverlayServiceClient(address, credentials.createInsecure());
    try {
      const call = raw.receive(new Metadata());
      const start = {
        purposes: [16],
        group: "",
        copyAll: false,
        maxUnacknowledged: 0,
        batchDeliveries: false,
      };
      const code = await new Promise<status>((resolve) => {
        call.on("data", () => call.write({ kind: { $case: "ack", ack: { messageIds: [] } } }));
        call.on("error", (e: ServiceError) => resolve(e.code));
        call.write({ kind: { $case: "start", start } });
      });
      expect(code).toBe(status.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
  });

  it("a second start on a live stream", async () => {
    const raw = new OverlayServiceClient(address, credentials.createInsecure());
    try {
      const call = raw.receive(new Metadata());
      const start = {
        purposes: [16],
        group: "",
        copyAll: false,
        maxUnacknowledged: 0,
        batchDeliveries: false,
      };
      const code = await new Promise<status>((resolve) => {
        call.on("data", () => call.write({ kind: { $case: "start", start } }));
        call.on("error", (e: ServiceError) => resolve(e.code));
        call.write({ kind: { $case: "start", start } });
      });
      expect(code).toBe(status.INVALID_ARGUMENT);
      await waitFor("the subscriber to be gone", () => (handle.subscriberCount === 0 ? true : undefined));
    } finally {
      raw.close();
    }
  });
});
