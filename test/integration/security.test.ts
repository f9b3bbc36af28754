// Authentication and hostile input against real node processes: every attack gets the right status code,
// is counted, and leaves the node healthy.
import { Client, Metadata, credentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { HealthCheckResponse_ServingStatus, HealthService } from "../../src/gen/grpc/health/v1/health.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { SessionClient } from "../../src/server/auth/session-client.js";
import { writeAuthEntries, type AuthEntries } from "../../src/server/auth/metadata.js";
import { encodeNodeInfo } from "../../src/wire/codec.js";
import { World, eventually, type PeerProcess } from "./harness.js";
import { rawSessionClient } from "../helpers/raw-session.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("security-secret");
const world = new World();
let a: PeerProcess;
let b: PeerProcess;
const clients: Client[] = [];

const identity = (x: Buffer): Buffer => x;

function client(address: string): Client {
  const c = new Client(address, credentials.createInsecure());
  clients.push(c);
  return c;
}

/** One raw unary call: returns the status code (OK = 0). */
function rawCall(
  address: string,
  path: string,
  body: Buffer,
  metadata = new Metadata(),
): Promise<ServiceError | null> {
  return new Promise((resolve) => {
    client(address).makeUnaryRequest(
      path,
      identity,
      identity,
      body,
      metadata,
      { deadline: Date.now() + 5000 },
      (error) => resolve(error),
    );
  });
}

const attacker = {
  id: NodeId.fromString("attacker"),
  localAddress: "127.0.2.99:1",
  globalAddress: "127.0.2.99:1",
  region: "",
  incarnation: 1,
};

function heartbeatBody(): Buffer {
  return PeerServiceService.heartbeat.requestSerialize({ sender: encodeNodeInfo(attacker) });
}

/** A SessionClient holding the real secret: what an insider (or a captured call) looks like. */
function insider(): SessionClient {
  const key = new PassphraseCredentials(SECRET, { N: 1024, r: 8, p: 1 }).sharedKey;
  return rawSessionClient({ sharedKey: key, sender: attacker, clientFor: client, helloTimeoutMs: 5000 });
}

async function healthy(node: PeerProcess): Promise<boolean> {
  const reply = await new Promise<Buffer | undefined>((resolve) =>
    client(node.address).makeUnaryRequest(
      HealthService.check.path,
      HealthService.check.requestSerialize,
      identity,
      { service: "" },
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (error, r?: Buffer) => resolve(error ? undefined : r),
    ),
  );
  if (reply === undefined) return false;
  const decoded = HealthService.check.responseDeserialize(reply);
  if (decoded.status !== HealthCheckResponse_ServingStatus.SERVING) return false;
  const routed = await node.send(NodeId.fromString(`probe-${Math.random()}`).hex, 16, "still routing");
  return routed.deliveredBy !== undefined;
}

beforeAll(async () => {
  a = world.start({ name: "s1", host: "127.0.2.1", secret: SECRET });
  await a.ready;
  b = world.start({ name: "s2", host: "127.0.2.2", secret: SECRET, seeds: [a.address] });
  await b.ready;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await world.closeAll();
});

describe("authentication", () => {
  it("a call without credentials is UNAUTHENTICATED and counted", async () => {
    const error = await rawCall(a.address, PeerServiceService.heartbeat.path, heartbeatBody());
    expect(error?.code).toBe(status.UNAUTHENTICATED);
    expect((await a.state()).authFailures["missing-metadata"]).toBeGreaterThanOrEqual(1);
  });

  it("a node with the wrong secret fails the Hello proof, cannot join and never enters any table", async () => {
    const intruder = world.start({
      name: "intruder",
      host: "127.0.2.3",
      secret: testSecret("wrong-secret"),
      seeds: [a.address],
      env: { WENDY_TEST_JOIN_TIMEOUT_MS: "1000" },
    });
    await intruder.listening;
    // The intruder did try: our seed's Hello answer failed its proof check (counted on its side), so its
    // join went nowhere; and nothing it sent got into our tables.
    const proofFailures = async (): Promise<number> =>
      (await intruder.state()).authFailures["bad-server-proof"] ?? 0;
    expect(await eventually(async () => (await proofFailures()) >= 1, 20_000)).toBe(true);
    expect((await intruder.state()).ready).toBe(false);
    for (const node of [a, b]) {
      const s = await node.state();
      const everyone = [...s.left, ...s.right, ...s.known].map((n) => n.id);
      expect(everyone).not.toContain(intruder.id);
    }
    await intruder.kill();
  });

  it("a captured call replayed to the same node or another node is rejected", async () => {
    const session = insider();
    const path = PeerServiceService.heartbeat.path;
    const body = heartbeatBody();
    const entries: AuthEntries = await session.sign(a.address, path, body);
    // The genuine call is accepted...
    expect(await rawCall(a.address, path, body, writeAuthEntries(entries))).toBeNull();
    // ...its replay is not, on the same node or on another.
    const again = await rawCall(a.address, path, body, writeAuthEntries(entries));
    expect(again?.code).toBe(status.UNAUTHENTICATED);
    const elsewhere = await rawCall(b.address, path, body, writeAuthEntries(entries));
    expect(elsewhere?.code).toBe(status.UNAUTHENTICATED);
    expect((await a.state()).authFailures["replayed-seq"]).toBeGreaterThanOrEqual(1);
    expect((await b.state()).authFailures["unknown-session"]).toBeGreaterThanOrEqual(1);
    expect(await healthy(a)).toBe(true);
  });
});

describe("hostile input", () => {
  it("malformed protobuf with a valid signature is INVALID_ARGUMENT and the node stays healthy", async () => {
    const session = insider();
    const path = PeerServiceService.route.path;
    for (const garbage of [
      Buffer.from([0xff, 0xff, 0xff, 0x0f]),
      Buffer.from("not a protobuf at all"),
      Buffer.alloc(0),
    ]) {
      const entries = await session.sign(a.address, path, garbage);
      const error = await rawCall(a.address, path, garbage, writeAuthEntries(entries));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
    }
    expect(await healthy(a)).toBe(true);
  });

  it("an oversized payload over the wire is refused with a clear status", async () => {
    const session = insider();
    const path = PeerServiceService.route.path;
    const body = PeerServiceService.route.requestSerialize({
      sender: encodeNodeInfo(attacker),
      message: {
        id: "big-1",
        key: Buffer.from(NodeId.fromString("k").hex, "hex"),
        purpose: 16,
        payload: Buffer.alloc(4 * 1024 * 1024 + 1000),
        origin: encodeNodeInfo(attacker),
        hops: 0,
        maxHops: 10,
        wantAck: false,
        copy: 0,
      },
    });
    const entries = await session.sign(a.address, path, body);
    const error = await rawCall(a.address, path, body, writeAuthEntries(entries));
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/payload/);
    expect(await healthy(a)).toBe(true);
  });
});
