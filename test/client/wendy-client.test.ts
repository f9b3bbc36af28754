// WendyClient against node processes: a subscription survives the node restarting, a subscriber that stops
// reading is cut off instead of growing the node's memory, and cancelling a call reaches the key's owner.
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closestTo, NodeId } from "../../src/routing/id.js";
import { OverlayServiceClient } from "../../src/gen/wendy/v1/overlay.js";
import { CancelledError, FailedPreconditionError, WendyClient } from "../../src/client/index.js";
import { NodeProcesses, type StartedNode } from "../helpers/node-processes.js";
import { nextWithin, waitFor } from "../helpers/wait.js";

const nodes = new NodeProcesses();
afterAll(() => nodes.stopAll());

describe("a subscription across a node restart", () => {
  let lone: StartedNode;
  beforeAll(async () => {
    lone = await nodes.start({ name: "wc-lone" });
  });

  it("resumes once the node is back on the same client port", async () => {
    const client = new WendyClient(lone.clientAddress, { reconnectWindowMs: 30_000 });
    const subscription = client.subscribe([50]);
    try {
      await waitFor("the subscription", async () =>
        (await client.status()).subscriberCount === 1 ? true : undefined,
      );
      await client.send("before", 50, "before restart");
      expect(Buffer.from((await nextWithin(subscription, "the first message")).payload).toString()).toBe(
        "before restart",
      );

      await nodes.stop(lone);
      const again = await nodes.start({
        name: "wc-lone",
        peerPort: lone.peerPort,
        clientPort: lone.clientPort,
      });
      expect(again.clientPort).toBe(lone.clientPort);
      await waitFor("the subscription to come back", async () =>
        (await client.status()).subscriberCount === 1 ? true : undefined,
      );
      await client.send("after", 50, "after restart");
      expect(
        Buffer.from((await nextWithin(subscription, "the message after the restart")).payload).toString(),
      ).toBe("after restart");
    } finally {
      subscription.close();
      client.close();
    }
  });
});

describe("a subscriber that stops reading", () => {
  let tight: StartedNode;
  beforeAll(async () => {
    tight = await nodes.start({
      name: "wc-tight",
      limits: { maxStreamBufferMessages: 8, maxStreamBufferBytes: 32 * 1024 },
    });
  });

  it("is dropped with RESOURCE_EXHAUSTED once its buffer on the node is full", async () => {
    const raw = new OverlayServiceClient(tight.clientAddress, credentials.createInsecure());
    const client = new WendyClient(tight.clientAddress);
    const stream = raw.subscribe({ purposes: [60] });
    const ended = new Promise<status>((resolve) => {
      stream.on("error", (e: ServiceError) => resolve(e.code));
      stream.on("end", () => resolve(status.OK));
    });
    stream.pause();
    try {
      await waitFor("the subscriber", async () =>
        (await client.status()).subscriberCount === 1 ? true : undefined,
      );
      const payload = Buffer.alloc(3000, 7);
      // Far more than the HTTP/2 window and the client's own buffer can absorb: the node must queue, then cut off.
      for (let i = 0; i < 200 && (await client.status()).subscriberCount === 1; i++) {
        await Promise.all(Array.from({ length: 10 }, () => client.send("self", 60, payload)));
      }
      await waitFor("the slow subscriber to be dropped", async () =>
        (await client.status()).subscriberCount === 0 ? true : undefined,
      );
      stream.on("data", () => undefined);
      stream.resume();
      expect(await ended).toBe(status.RESOURCE_EXHAUSTED);
    } finally {
      stream.cancel();
      raw.close();
      client.close();
    }
  });
});

describe("cancelling a call", () => {
  let a: StartedNode;
  let b: StartedNode;
  beforeAll(async () => {
    a = await nodes.start({ name: "wc-a" });
    b = await nodes.start({ name: "wc-b", seed: a.peerAddress });
  });

  it("makes the owner forget the call, so a later Reply is refused", async () => {
    const all = [a, b].map((s) => ({ id: NodeId.fromHex(s.id), s }));
    const key = Array.from({ length: 10_000 }, (_, i) => `cancel-${i}`).find(
      (k) => closestTo(NodeId.fromString(k), all)?.s === b,
    );
    if (key === undefined) throw new Error("no key owned by wc-b");
    const caller = new WendyClient(a.clientAddress);
    const answerer = new WendyClient(b.clientAddress);
    const subscription = answerer.subscribe([70]);
    try {
      await waitFor("the answerer", async () =>
        (await answerer.status()).subscriberCount === 1 ? true : undefined,
      );
      const abort = new AbortController();
      const pending = caller.call(key, 70, "wait for me", { signal: abort.signal, timeoutMs: 30_000 });
      const delivery = await nextWithin(subscription, "the call at the owner");
      abort.abort();
      await expect(pending).rejects.toBeInstanceOf(CancelledError);
      await waitFor("the owner to forget the cancelled call", async () => {
        const refused = await answerer.reply(delivery.callId ?? "", "too late").catch((e: unknown) => e);
        return refused instanceof FailedPreconditionError ? refused : undefined;
      });
    } finally {
      subscription.close();
      caller.close();
      answerer.close();
    }
  });
});
