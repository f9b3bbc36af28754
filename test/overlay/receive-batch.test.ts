// Receive with batch_deliveries and answers on the stream, on one in-process node (it owns every key):
// deliveries of one turn share a response, an idle stream gets each alone, acknowledgements still settle
// every send, and a call is answered on the subscriber's own stream.
import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { Cluster } from "../../src/server/cluster.js";
import { Node } from "../../src/server/node.js";
import { addOverlayService, overlayServerOptions } from "../../src/server/overlay/index.js";
import {
  OverlayServiceClient,
  type ReceiveRequest,
  type ReceiveResponse,
} from "../../src/gen/wendy/v1/overlay.js";
import { WendyClient } from "../../src/client/index.js";
import { nextWithin, waitFor } from "../helpers/wait.js";
import { startInProcessOverlay, type InProcessOverlay } from "../helpers/in-process-overlay.js";

let cluster: Cluster;
let address: string;
let client: WendyClient;
let purpose = 300;
let overlay: InProcessOverlay | undefined;

beforeAll(async () => {
  overlay = await startInProcessOverlay("receive-batch", { limits: { deliveryGraceMs: 2000 } });
  ({ cluster, address, client } = overlay);
});

afterAll(async () => {
  await overlay?.stop();
});

/** A raw Receive stream started with batch_deliveries; every response is recorded. */
function rawBatchedReceive(p: number): {
  raw: OverlayServiceClient;
  call: ReturnType<OverlayServiceClient["receive"]>;
  responses: ReceiveResponse[];
  ready: Promise<void>;
} {
  const raw = new OverlayServiceClient(address, credentials.createInsecure());
  const call = raw.receive(new Metadata());
  const responses: ReceiveResponse[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    call.on("data", (r: ReceiveResponse) => {
      responses.push(r);
      if (r.kind?.$case === "ready") resolve();
    });
    call.on("error", reject);
  });
  ready.catch(() => undefined);
  const start: ReceiveRequest = {
    kind: {
      $case: "start",
      start: { purposes: [p], group: "", copyAll: false, maxUnacknowledged: 256, batchDeliveries: true },
    },
  };
  call.write(start);
  return { raw, call, responses, ready };
}

describe("Receive with batch_deliveries", () => {
  it("puts the deliveries of one turn in one DeliveryBatch, and acking them all settles every waiting send", async () => {
    const p = ++purpose;
    const { raw, call, responses, ready } = rawBatchedReceive(p);
    try {
      await ready;
      const sends = Array.from({ length: 20 }, (_, i) =>
        cluster.send(cluster.newMessage(p, NodeId.fromString(`k${i}`), Buffer.from(`m${i}`)), {
          waitForAck: true,
          timeoutMs: 10_000,
        }),
      );
      const batches = await waitFor("20 deliveries", () => {
        const list = responses.flatMap((r) =>
          r.kind?.$case === "deliveries" ? [r.kind.deliveries.deliveries] : [],
        );
        return list.flat().length >= 20 ? list : undefined;
      });
      expect(responses.some((r) => r.kind?.$case === "delivery")).toBe(false);
      expect(Math.max(...batches.map((b) => b.length))).toBeGreaterThan(1);
      const payloads = batches.flat().map((d) => Buffer.from(d.payload).toString());
      expect(payloads.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
      call.write({ kind: { $case: "ack", ack: { messageIds: batches.flat().map((d) => d.messageId) } } });
      const results = await Promise.all(sends);
      expect(new Set(results.map((r) => r.messageId)).size).toBe(20);
    } finally {
      call.cancel();
      raw.close();
    }
  });

  it("says in ready that it takes answers on the stream, and gives a lone delivery on an idle stream a batch of its own", async () => {
    const p = ++purpose;
    const { raw, call, responses, ready } = rawBatchedReceive(p);
    try {
      await ready;
      const first = responses[0]?.kind;
      expect(first?.$case === "ready" && first.ready.acceptsReplies).toBe(true);
      await client.send("lone", p, "alone");
      const batch = await waitFor("the delivery", () => {
        const r = responses.find((x) => x.kind?.$case === "deliveries");
        return r?.kind?.$case === "deliveries" ? r.kind.deliveries.deliveries : undefined;
      });
      expect(batch.map((d) => Buffer.from(d.payload).toString())).toEqual(["alone"]);
    } finally {
      call.cancel();
      raw.close();
    }
  });
});

describe("a batched subscriber that stops reading", () => {
  it("is cut off with RESOURCE_EXHAUSTED once its unread deliveries pass the stream's bound", async () => {
    const p = ++purpose;
    // A node of its own: a second overlay service on the shared one would take over its call handlers.
    const alone = new Cluster(
      new Node({ id: NodeId.fromString("receive-batch-tight"), localAddress: "127.0.0.1" }),
      undefined,
      { bindHost: "127.0.0.1" },
    );
    await alone.listen();
    const tight = new Server(overlayServerOptions());
    const tightHandle = addOverlayService(tight, {
      cluster: alone,
      limits: { deliveryGraceMs: 2000, maxStreamBufferMessages: 8, maxStreamBufferBytes: 64 * 1024 },
    });
    const port = await new Promise<number>((resolve, reject) =>
      tight.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, x) =>
        e ? reject(e) : resolve(x),
      ),
    );
    const raw = new OverlayServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const call = raw.receive(new Metadata());
    try {
      const ended = new Promise<status>((resolve) => {
        call.on("error", (e: ServiceError) => resolve(e.code));
        call.on("end", () => resolve(status.OK));
      });
      const ready = new Promise<void>((resolve) =>
        call.once("data", () => {
          call.pause();
          resolve();
        }),
      );
      call.write({
        kind: {
          $case: "start",
          start: { purposes: [p], group: "", copyAll: false, maxUnacknowledged: 1024, batchDeliveries: true },
        },
      });
      await ready;
      // Far more than HTTP/2 flow control lets through to a reader that does not read.
      for (let i = 0; i < 400; i++) {
        alone
          .send(alone.newMessage(p, NodeId.fromString(`big${i}`), Buffer.alloc(16 * 1024, i)))
          .catch(() => undefined);
      }
      expect(await ended).toBe(status.RESOURCE_EXHAUSTED);
    } finally {
      call.cancel();
      raw.close();
      tightHandle.close();
      tight.forceShutdown();
      await alone.stop(200);
    }
  });
});

describe("answering a call on the Receive stream", () => {
  it("returns the subscriber's answer to the caller, and a second answer is ignored with the stream still live", async () => {
    const p = ++purpose;
    const sub = client.receive([p]);
    try {
      await sub.ready;
      const answer = client.call("call-key", p, "question", { timeoutMs: 10_000 });
      const d = await nextWithin(sub, "the call");
      expect(d.callId).toBeDefined();
      d.reply("answer");
      d.reply("too late");
      expect(Buffer.from((await answer).payload).toString()).toBe("answer");
      const acked = client.send("after", p, "still live", { waitForAck: true });
      const next = await nextWithin(sub, "a delivery after the answers");
      expect(Buffer.from(next.payload).toString()).toBe("still live");
      next.ack();
      await acked;
    } finally {
      sub.close();
    }
  });

  it("refuses an answer to a delivery that carries no call", async () => {
    const p = ++purpose;
    const sub = client.receive([p]);
    try {
      await sub.ready;
      void client.send("plain", p, "not a call");
      const d = await nextWithin(sub, "the delivery");
      expect(() => d.reply("x")).toThrow(/no call/);
      d.ack();
    } finally {
      sub.close();
    }
  });

  it("says in ready that it takes several answers in one request, and returns each answer of a replies request to its own caller", async () => {
    const p = ++purpose;
    const { raw, call, responses, ready } = rawBatchedReceive(p);
    try {
      await ready;
      const first = responses[0]?.kind;
      expect(first?.$case === "ready" && first.ready.acceptsReplyBatches).toBe(true);
      const questions = ["q0", "q1", "q2"];
      const answers = questions.map((q) => client.call(`replies-${q}`, p, q, { timeoutMs: 10_000 }));
      const deliveries = (): { callId: string; payload: string }[] =>
        responses.flatMap((r) =>
          r.kind?.$case === "deliveries"
            ? r.kind.deliveries.deliveries.map((d) => ({
                callId: d.callId,
                payload: Buffer.from(d.payload).toString(),
              }))
            : [],
        );
      await waitFor("the three calls", () => deliveries().length === questions.length || undefined);
      call.write({
        kind: {
          $case: "replies",
          replies: {
            replies: deliveries().map((d) => ({ callId: d.callId, payload: Buffer.from(`a-${d.payload}`) })),
          },
        },
      });
      const got = await Promise.all(answers);
      expect(got.map((a) => Buffer.from(a.payload).toString())).toEqual(questions.map((q) => `a-${q}`));
    } finally {
      call.cancel();
      raw.close();
    }
  });

  it("ends the stream with INVALID_ARGUMENT for a replies request without answers", async () => {
    const p = ++purpose;
    const { raw, call, ready } = rawBatchedReceive(p);
    try {
      await ready;
      const code = await new Promise<status>((resolve) => {
        call.on("error", (e: ServiceError) => resolve(e.code));
        call.write({ kind: { $case: "replies", replies: { replies: [] } } });
      });
      expect(code).toBe(status.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
  });

  it("ends the stream with INVALID_ARGUMENT for a reply without a call_id", async () => {
    const p = ++purpose;
    const { raw, call, ready } = rawBatchedReceive(p);
    try {
      await ready;
      const code = await new Promise<status>((resolve) => {
        call.on("error", (e: ServiceError) => resolve(e.code));
        call.write({ kind: { $case: "reply", reply: { callId: "", payload: Buffer.alloc(0) } } });
      });
      expect(code).toBe(status.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
  });
});
