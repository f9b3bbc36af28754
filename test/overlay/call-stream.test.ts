// CallStream on one in-process node (it owns every key): calls share one stream, each gets its own answer,
// a bad call fails alone while the stream goes on, and a node without CallStream gets unary Calls.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster } from "../../src/server/cluster.js";
import { addOverlayService, overlayServerOptions } from "../../src/server/overlay/index.js";
import { InvalidArgumentError, WendyClient, type ReceiveStream } from "../../src/client/index.js";
import { startInProcessOverlay, type InProcessOverlay } from "../helpers/in-process-overlay.js";

let cluster: Cluster;
let client: WendyClient;
let purpose = 400;
let overlay: InProcessOverlay | undefined;

beforeAll(async () => {
  overlay = await startInProcessOverlay("call-stream", { limits: { deliveryGraceMs: 2000 } });
  ({ cluster, client } = overlay);
});

afterAll(async () => {
  await overlay?.stop();
});

/** Answers every call with its own payload reversed, until closed. */
function answerAll(sub: ReceiveStream): void {
  void (async () => {
    try {
      for await (const d of sub) d.reply(Buffer.from(d.payload).reverse());
    } catch {
      // Closed by the test.
    }
  })();
}

describe("CallStream", () => {
  it("answers each of many calls made at once with its own answer", async () => {
    const p = ++purpose;
    const sub = client.receive([p]);
    try {
      await sub.ready;
      answerAll(sub);
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => client.call(`key-${i}`, p, `q${i}`, { timeoutMs: 10_000 })),
      );
      expect(answers.map((a) => Buffer.from(a.payload).toString())).toEqual(
        Array.from({ length: 30 }, (_, i) => [...`q${i}`].reverse().join("")),
      );
      for (const a of answers) expect(a.answeredBy.id.equals(cluster.info().id)).toBe(true);
    } finally {
      sub.close();
    }
  });

  it("fails a call on a reserved purpose alone: the next call on the stream is answered", async () => {
    const p = ++purpose;
    const sub = client.receive([p]);
    try {
      await sub.ready;
      answerAll(sub);
      await expect(client.call("bad", 5, "x")).rejects.toBeInstanceOf(InvalidArgumentError);
      const answer = await client.call("good", p, "ab", { timeoutMs: 10_000 });
      expect(Buffer.from(answer.payload).toString()).toBe("ba");
    } finally {
      sub.close();
    }
  });

  it("falls back to unary Call on a node that has no CallStream", async () => {
    const p = ++purpose;
    const old = new Server(overlayServerOptions());
    const oldHandle = addOverlayService(old, { cluster, limits: { deliveryGraceMs: 2000 } });
    // What a node that predates CallStream answers: the method does not exist.
    const definitions = old as unknown as { handlers: Map<string, unknown> };
    expect(definitions.handlers.delete("/wendy.v1.OverlayService/CallStream")).toBe(true);
    const port = await new Promise<number>((resolve, reject) =>
      old.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, x) =>
        e ? reject(e) : resolve(x),
      ),
    );
    const oldClient = new WendyClient(`127.0.0.1:${port}`);
    const sub = oldClient.receive([p]);
    try {
      await sub.ready;
      answerAll(sub);
      const answer = await oldClient.call("older", p, "xy", { timeoutMs: 10_000 });
      expect(Buffer.from(answer.payload).toString()).toBe("yx");
    } finally {
      sub.close();
      oldClient.close();
      oldHandle.close();
      old.forceShutdown();
    }
  });
});
