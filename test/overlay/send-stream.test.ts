// SendStream on the client port, driven through the raw generated client: results correlated by request id,
// a bad send failing alone, the in-flight bound, per-send deadlines, and streams ended when the service
// closes. In-process nodes: a lone one (deliveries are local), and a pair whose first node holds hops of one
// purpose for a watcher's decision (so their acknowledgements wait as long as a test needs).
import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ClientDuplexStream,
  type ServiceError,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { Cluster } from "../../src/server/cluster.js";
import { Node } from "../../src/server/node.js";
import {
  addOverlayService,
  overlayServerOptions,
  type OverlayServiceHandle,
} from "../../src/server/overlay/index.js";
import {
  OverlayServiceClient,
  SendStreamRequest,
  type SendRequest,
  type SendStreamItem,
  type SendStreamResponse,
  type SendStreamResult,
} from "../../src/gen/wendy/v1/overlay.js";
import { WendyClient, type ClientStream, type Delivery, type OverlayEvent } from "../../src/client/index.js";
import { nextWithin, waitFor } from "../helpers/wait.js";

const PURPOSE = 30;
/** Hops of this purpose wait for a DecideForward that never comes (up to HOLD_MS). */
const HELD = 31;
const HOLD_MS = 30_000;
const IN_FLIGHT_LIMIT = 4;
const PAYLOAD_LIMIT = 1024;

interface Served {
  readonly cluster: Cluster;
  readonly server: Server;
  readonly handle: OverlayServiceHandle;
  readonly address: string;
}

async function serve(name: string, joinThrough?: string): Promise<Served> {
  const cluster = new Cluster(
    new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1" }),
    undefined,
    { bindHost: "127.0.0.1" },
  );
  const limits = {
    maxSendStreamInFlight: IN_FLIGHT_LIMIT,
    maxPayloadBytes: PAYLOAD_LIMIT,
    forwardDecisionTimeoutMs: HOLD_MS,
  };
  const server = new Server(overlayServerOptions(limits));
  const handle = addOverlayService(server, { cluster, limits, healthAndReflection: false });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  await cluster.listen();
  if (joinThrough !== undefined) await cluster.join([joinThrough]);
  return { cluster, server, handle, address: `127.0.0.1:${port}` };
}

let ready: Served;
/** `holding` has a peer, `other`, and a watcher that holds every hop of purpose HELD. */
let holding: Served;
let other: Served;
let watcher: WendyClient;
let watch: ClientStream<OverlayEvent>;
let raw: OverlayServiceClient;
let subscriber: WendyClient;
let deliveries: ClientStream<Delivery>;

beforeAll(async () => {
  ready = await serve("send-stream-ready");
  holding = await serve("send-stream-holding");
  other = await serve("send-stream-other", holding.cluster.info().localAddress);
  watcher = new WendyClient(holding.address);
  watch = watcher.watchEvents({ interceptPurposes: [HELD] });
  await waitFor("the watcher", () => (holding.handle.watcherCount === 1 ? true : undefined));
  raw = new OverlayServiceClient(ready.address, credentials.createInsecure());
  subscriber = new WendyClient(ready.address, { sendStream: false });
  deliveries = subscriber.subscribe([PURPOSE]);
  await waitFor("the subscription", async () =>
    (await subscriber.status()).subscriberCount === 1 ? true : undefined,
  );
});

afterAll(async () => {
  deliveries?.close();
  subscriber?.close();
  watch?.close();
  watcher?.close();
  raw?.close();
  for (const s of [ready, holding, other]) {
    s?.handle.close();
    await s?.cluster.stop(200);
    s?.server.forceShutdown();
  }
});

function send(overrides: Partial<SendRequest> = {}): SendRequest {
  return {
    key: { kind: { $case: "name", name: "some-key" } },
    purpose: PURPOSE,
    payload: Buffer.from("hello"),
    waitForAck: false,
    timeoutMs: 0,
    ...overrides,
  };
}

/** A send that waits: owned by `other`, so its first hop is held at `holding`. */
function held(overrides: Partial<SendRequest> = {}): SendRequest {
  const otherId = other.cluster.info().id;
  for (let i = 0; i < 10_000; i++) {
    const name = `held-${i}`;
    if (holding.cluster.owner(NodeId.fromString(name)).id.equals(otherId))
      return send({ key: { kind: { $case: "name", name } }, purpose: HELD, waitForAck: true, ...overrides });
  }
  throw new Error("no key owned by the other node");
}

function item(requestId: number, request: SendRequest | undefined, deadlineMs = 0): SendStreamItem {
  return { requestId: BigInt(requestId), send: request, deadlineMs };
}

/** A raw stream that collects results by request id and remembers how it ended. */
class RawStream {
  readonly results = new Map<bigint, SendStreamResult>();
  ended: ServiceError | "ok" | undefined;
  readonly call: ClientDuplexStream<SendStreamRequest, SendStreamResponse>;

  constructor(client: OverlayServiceClient, metadata = new Metadata()) {
    this.call = client.sendStream(metadata);
    this.call.on("data", (r: SendStreamResponse) => {
      for (const result of r.results) this.results.set(result.requestId, result);
    });
    this.call.on("error", (e: ServiceError) => (this.ended = e));
    this.call.on("end", () => (this.ended ??= "ok"));
  }

  write(...sends: SendStreamItem[]): void {
    this.call.write({ sends });
  }

  async result(requestId: number): Promise<SendStreamResult> {
    return waitFor(`result ${requestId}`, () => this.results.get(BigInt(requestId)));
  }

  async end(): Promise<ServiceError | "ok"> {
    return waitFor("the stream to end", () => this.ended);
  }
}

describe("SendStream", () => {
  it("answers every send with its own request id, in one message or many, and delivers each", async () => {
    const stream = new RawStream(raw);
    try {
      stream.write(
        item(7, send({ payload: Buffer.from("seven") })),
        item(3, send({ payload: Buffer.from("three"), waitForAck: true })),
      );
      stream.write(item(11, send({ payload: Buffer.from("eleven") })));
      const seven = await stream.result(7);
      const three = await stream.result(3);
      const eleven = await stream.result(11);
      for (const r of [seven, three, eleven]) {
        expect(r.code).toBe(status.OK);
        expect(r.errorMessage).toBe("");
      }
      const received = new Map<string, string>();
      for (let i = 0; i < 3; i++) {
        const d = await nextWithin(deliveries, "a delivery");
        received.set(d.messageId, Buffer.from(d.payload).toString());
      }
      expect(received.get(seven.response!.messageId)).toBe("seven");
      expect(received.get(three.response!.messageId)).toBe("three");
      expect(received.get(eleven.response!.messageId)).toBe("eleven");
      // Only the send that waited for its acknowledgement names the delivering node.
      expect(Buffer.from(three.response!.deliveredBy!.id).toString("hex")).toBe(ready.cluster.info().id.hex);
      expect(seven.response!.deliveredBy).toBeUndefined();
      expect(ready.handle.sendStreamCount).toBe(1);
    } finally {
      stream.call.end();
    }
    expect(await stream.end()).toBe("ok");
    await waitFor("the stream to be forgotten", () =>
      ready.handle.sendStreamCount === 0 ? true : undefined,
    );
  });

  it("fails a bad send alone, with its status code, and keeps the stream open", async () => {
    const stream = new RawStream(raw);
    try {
      // At most IN_FLIGHT_LIMIT per message: refused sends count until their result is written out.
      stream.write(
        item(1, undefined),
        item(2, send({ key: undefined })),
        item(3, send({ key: { kind: { $case: "id", id: Buffer.alloc(5) } } })),
        item(4, send({ purpose: 3 })),
      );
      await stream.result(4);
      stream.write(
        item(5, send({ payload: Buffer.alloc(PAYLOAD_LIMIT + 1) })),
        item(6, send({ payload: Buffer.from("fine") })),
      );
      const codes = await Promise.all([1, 2, 3, 4, 5, 6].map(async (id) => (await stream.result(id)).code));
      expect(codes).toEqual([
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.INVALID_ARGUMENT,
        status.RESOURCE_EXHAUSTED,
        status.OK,
      ]);
      expect((await stream.result(4)).errorMessage).toContain("send.purpose");
      stream.write(item(7, send({ payload: Buffer.from("after the bad ones") })));
      expect((await stream.result(7)).code).toBe(status.OK);
      expect(stream.ended).toBeUndefined();
    } finally {
      stream.call.end();
    }
    // Drain what this test delivered, so later tests read their own deliveries.
    for (let i = 0; i < 2; i++) await nextWithin(deliveries, "a delivery");
  });

  it("refuses sends beyond the in-flight bound with RESOURCE_EXHAUSTED, and takes more once answered", async () => {
    const stream = new RawStream(raw);
    try {
      // One stream message: all six arrive before any result is written out.
      stream.write(...[1, 2, 3, 4, 5, 6].map((id) => item(id, send())));
      const codes = await Promise.all([1, 2, 3, 4, 5, 6].map(async (id) => (await stream.result(id)).code));
      expect(codes.filter((c) => c === status.OK)).toHaveLength(IN_FLIGHT_LIMIT);
      expect(codes.slice(IN_FLIGHT_LIMIT)).toEqual([status.RESOURCE_EXHAUSTED, status.RESOURCE_EXHAUSTED]);
      stream.write(item(7, send()));
      expect((await stream.result(7)).code).toBe(status.OK);
    } finally {
      stream.call.end();
    }
    for (let i = 0; i < IN_FLIGHT_LIMIT + 1; i++) await nextWithin(deliveries, "a delivery");
  });

  it("cuts off a stream that piles up more than twice the bound unanswered", async () => {
    const stream = new RawStream(raw);
    const ids = Array.from({ length: 2 * IN_FLIGHT_LIMIT + 1 }, (_, i) => i + 1);
    stream.write(...ids.map((id) => item(id, send({ payload: Buffer.from("x") }))));
    const ended = await stream.end();
    expect(ended === "ok" ? status.OK : ended.code).toBe(status.RESOURCE_EXHAUSTED);
    // The node itself goes on: a new stream is served.
    const again = new RawStream(raw);
    try {
      again.write(item(1, send({ payload: Buffer.from("x") })));
      expect((await again.result(1)).code).toBe(status.OK);
    } finally {
      again.call.end();
    }
    for (let i = 0; i < IN_FLIGHT_LIMIT + 1; i++) await nextWithin(deliveries, "a delivery");
  });

  it("ends the stream with INVALID_ARGUMENT on bytes that are not a SendStreamRequest", async () => {
    const bytes = new OverlayServiceClient(ready.address, credentials.createInsecure());
    try {
      const call = bytes.makeBidiStreamRequest(
        "/wendy.v1.OverlayService/SendStream",
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      const code = await new Promise<status>((resolve) => {
        call.on("error", (e: ServiceError) => resolve(e.code));
        call.on("data", () => undefined);
        // Field 1, length-delimited, claiming 100 bytes that never come.
        call.write(Buffer.from([0x0a, 0x64, 0x01]));
      });
      expect(code).toBe(status.INVALID_ARGUMENT);
    } finally {
      bytes.close();
    }
  });

  it("fails a send waiting for its acknowledgement past its own deadline, not the others", async () => {
    const client = new OverlayServiceClient(holding.address, credentials.createInsecure());
    const stream = new RawStream(client);
    try {
      stream.write(item(1, held(), 150), item(2, held({ timeoutMs: 100 })), item(3, held(), 60_000));
      expect((await stream.result(1)).code).toBe(status.DEADLINE_EXCEEDED);
      expect((await stream.result(2)).code).toBe(status.DEADLINE_EXCEEDED);
      expect(stream.results.has(3n)).toBe(false);
    } finally {
      stream.call.cancel();
      client.close();
    }
  });

  it("ends open streams when the service closes, failing their waiting sends", async () => {
    const client = new OverlayServiceClient(holding.address, credentials.createInsecure());
    try {
      // The stream of the test before, cancelled, is gone first; then only this one is open.
      await waitFor("earlier streams to close", () =>
        holding.handle.sendStreamCount === 0 ? true : undefined,
      );
      const stream = new RawStream(client);
      stream.write(item(1, held()));
      await waitFor("the stream to open", () => (holding.handle.sendStreamCount === 1 ? true : undefined));
      holding.handle.close();
      const ended = await stream.end();
      expect(ended === "ok" ? status.OK : ended.code).toBe(status.UNAVAILABLE);
      expect(holding.handle.sendStreamCount).toBe(0);
      expect(stream.results.get(1n)).toBeUndefined();
    } finally {
      client.close();
    }
  });
});
