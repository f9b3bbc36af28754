// Hostile input on the client port (OverlayService) of a real node process: calls without or with the
// wrong bearer token, random and malformed bodies, an oversized payload. The node answers each with the
// right status and keeps serving well-formed calls.
import { Client, Metadata, credentials, status, type ServiceError } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OverlayServiceService } from "../../src/gen/wendy/v1/overlay.js";
import { NodeProcesses, type StartedNode } from "../helpers/node-processes.js";

const TOKEN = "fuzz-client-token";
const nodes = new NodeProcesses();
let node: StartedNode;
let client: Client;

beforeAll(async () => {
  node = await nodes.start({ name: "fuzz-client-port", token: TOKEN });
  client = new Client(node.clientAddress, credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
}, 60_000);

afterAll(async () => {
  client?.close();
  await nodes.stopAll();
});

const identity = (b: Buffer): Buffer => b;

/** `token` null sends no authorization header at all; "" sends an empty one. */
function call(path: string, body: Buffer, token: string | null = TOKEN): Promise<status> {
  const metadata = new Metadata();
  if (token !== null) metadata.set("authorization", token === "" ? "" : `Bearer ${token}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      body,
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: ServiceError | null) => resolve(error === null ? status.OK : error.code),
    );
  });
}

const send = OverlayServiceService.send;
const validSend = (): Buffer =>
  send.requestSerialize({
    key: { kind: { $case: "name", name: "fuzz" } },
    purpose: 16,
    payload: Buffer.from("x"),
    waitForAck: false,
    timeoutMs: 0,
  });

describe("client port under hostile input", () => {
  it("refuses calls without the bearer token, with a wrong one or a malformed header", async () => {
    expect(status[await call(send.path, validSend(), null)]).toBe("UNAUTHENTICATED");
    expect(status[await call(send.path, validSend(), "not-the-token")]).toBe("UNAUTHENTICATED");
    expect(status[await call(send.path, validSend(), "")]).toBe("UNAUTHENTICATED");
    expect(status[await call(OverlayServiceService.status.path, Buffer.alloc(0), "x")]).toBe(
      "UNAUTHENTICATED",
    );
    expect(status[await call(send.path, validSend())]).toBe("OK");
  });

  it("answers random bodies on methods with required fields with INVALID_ARGUMENT", async () => {
    const bodies = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), { seed: 777, numRuns: 10 });
    const wrong: string[] = [];
    for (const method of ["send", "call", "reply", "lookup", "replicas"] as const) {
      for (const body of bodies) {
        const code = await call(OverlayServiceService[method].path, Buffer.from(body));
        if (code !== status.INVALID_ARGUMENT)
          wrong.push(`${method} ${Buffer.from(body).toString("hex").slice(0, 24)}: ${status[code]}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("Receive: refuses a missing token, and answers random first messages with INVALID_ARGUMENT or a live stream", async () => {
    const receive = OverlayServiceService.receive.path;
    /** The stream's verdict on `body` as its first message: a status code, or "live" when it answered. */
    const open = (body: Buffer, token: string | null = TOKEN): Promise<string> => {
      const metadata = new Metadata();
      if (token !== null) metadata.set("authorization", `Bearer ${token}`);
      return new Promise((resolve) => {
        const stream = client.makeBidiStreamRequest(receive, identity, identity, metadata, {
          deadline: Date.now() + 10_000,
        });
        stream.on("data", () => {
          resolve("live");
          stream.cancel();
        });
        stream.on("error", (e: ServiceError) => resolve(status[e.code] ?? String(e.code)));
        stream.on("end", () => resolve("ended"));
        stream.write(body);
      });
    };
    const start = Buffer.from([0x0a, 0x02, 0x0a, 0x00]); // ReceiveRequest{start{}}: no purposes
    expect(await open(start, null)).toBe("UNAUTHENTICATED");
    expect(await open(start)).toBe("INVALID_ARGUMENT");
    const bodies = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), { seed: 778, numRuns: 20 });
    const wrong: string[] = [];
    for (const body of bodies) {
      const verdict = await open(Buffer.from(body));
      if (verdict !== "INVALID_ARGUMENT" && verdict !== "live")
        wrong.push(`${Buffer.from(body).toString("hex").slice(0, 24)}: ${verdict}`);
    }
    expect(wrong).toEqual([]);
    expect(status[await call(OverlayServiceService.status.path, Buffer.alloc(0))]).toBe("OK");
  });

  it("refuses a reserved purpose and an oversized payload, then still serves", async () => {
    const reserved = send.requestSerialize({
      key: { kind: { $case: "name", name: "fuzz" } },
      purpose: 3,
      payload: Buffer.from("x"),
      waitForAck: false,
      timeoutMs: 0,
    });
    expect(status[await call(send.path, reserved)]).toBe("INVALID_ARGUMENT");
    const oversized = send.requestSerialize({
      key: { kind: { $case: "name", name: "fuzz" } },
      purpose: 16,
      payload: Buffer.alloc(6 * 1024 * 1024),
      waitForAck: false,
      timeoutMs: 0,
    });
    expect(["RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"]).toContain(status[await call(send.path, oversized)]);
    expect(status[await call(OverlayServiceService.status.path, Buffer.alloc(0))]).toBe("OK");
    expect(status[await call(send.path, validSend())]).toBe("OK");
  });
});
