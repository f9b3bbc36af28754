// A man in the middle without the cluster secret (shared-secret mode, no TLS): it relays the Hello to the real
// node, so the caller's session is genuine, then swallows every call and answers OK itself, and acknowledges
// every hop of a RouteStream. None of its answers may resolve a hop: each must carry the session's MAC over
// the answer, which only the real node can make.
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, Outbound, PeerMessage, RouteMessage } from "../../src/routing/types.js";
import {
  PeerServiceService,
  RouteBatch,
  RouteStreamRequest,
  RouteStreamResponse,
} from "../../src/gen/wendy/v1/peer.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerClientPool } from "../../src/server/transport/peer-client.js";
import { METADATA_ROUTE_STREAM } from "../../src/server/transport/route-stream.js";
import { addPeerService } from "../../src/server/transport/peer-server.js";
import { DEFAULT_WIRE_LIMITS } from "../../src/wire/limits.js";
import { testSecret } from "../helpers/secrets.js";

const now = (): number => performance.now();
const SECRET = testSecret("forged-ack");
const cleanups: (() => void)[] = [];
const identity = (b: Buffer): Buffer => b;

let realPort = 0;
let mitmPort = 0;
const delivered: PeerMessage[] = [];
const swallowed: string[] = [];
/** Batches of hops named "reverse-*" the man in the middle left unanswered, with the stream's token. */
const held: { token: string; ids: string[] }[] = [];

function bind(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
}

function credentialsForTest(): PassphraseCredentials {
  return new PassphraseCredentials(SECRET, { N: 1024, r: 8, p: 1 });
}

/** The man in the middle: Hello relayed to the real node, everything else answered OK by itself. */
async function startMitm(): Promise<number> {
  const upstream = new Client(`127.0.0.1:${realPort}`, credentials.createInsecure());
  cleanups.push(() => upstream.close());
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(PeerServiceService)) {
    definition[name] = { ...method, requestDeserialize: identity, responseSerialize: identity };
    if (name === "hello") {
      implementation[name] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
        upstream.makeUnaryRequest(method.path, identity, identity, call.request, new Metadata(), callback);
    } else if (name === "routeStream") {
      implementation[name] = (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.on("data", (bytes: Buffer) => {
          const batch = RouteBatch.decode(RouteStreamRequest.decode(bytes).batch);
          const acceptedIds = batch.messages.map((m) => m.id);
          swallowed.push(...acceptedIds);
          if (acceptedIds.some((id) => id.startsWith("reverse-"))) {
            // Answered later, as acknowledgements riding in a batch of its own (reverse_acks).
            held.push({ token: String(call.metadata.get(METADATA_ROUTE_STREAM)[0]), ids: acceptedIds });
            return;
          }
          call.write(
            Buffer.from(
              RouteStreamResponse.encode({
                acceptedIds,
                rejected: [],
                mac: Buffer.alloc(0),
                acks: [],
              }).finish(),
            ),
          );
        });
        call.on("end", () => call.end());
      };
    } else {
      implementation[name] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        swallowed.push(method.path);
        callback(null, Buffer.alloc(0));
      };
    }
  }
  const server = new Server();
  server.addService(definition as ServiceDefinition, implementation);
  cleanups.push(() => server.forceShutdown());
  return bind(server);
}

function pool(routeStreaming: boolean): PeerClientPool {
  const p = new PeerClientPool({
    channelSecurity: () => ({ credentials: credentials.createInsecure(), options: {} }),
    rpcTimeoutMs: 3000,
    maxMessageBytes: 8 * 1024 * 1024,
    maxInFlightPerPeer: 100,
    maxConnections: 10,
    now,
    routeStreaming,
  });
  const auth = callAuthFor(
    credentialsForTest(),
    (address, challenge) => p.hello(address, self, challenge),
    now,
  );
  p.useSigner(auth.signer);
  cleanups.push(() => p.close());
  return p;
}

const self: NodeInfo = {
  id: NodeId.fromString("caller"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "",
  incarnation: 1,
};

function hop(id: string, port: number): Outbound {
  const message: RouteMessage = {
    id,
    key: NodeId.fromString(id),
    purpose: 16,
    payload: new Uint8Array([1, 2, 3]),
    origin: self,
    hops: 0,
    maxHops: 40,
    wantAck: false,
  };
  return { to: undefined, address: `127.0.0.1:${port}`, message: { type: "route", message } };
}

beforeAll(async () => {
  const auth = callAuthFor(credentialsForTest(), () => Promise.reject(new Error("server only")), now);
  const real = new Server();
  addPeerService(real, {
    verifier: auth.verifier,
    limits: DEFAULT_WIRE_LIMITS,
    sink: (_sender, message) => delivered.push(message),
  });
  cleanups.push(() => real.forceShutdown());
  realPort = await bind(real);
  mitmPort = await startMitm();
});
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("a forged acknowledgement does not resolve a hop (shared secret, no TLS)", () => {
  for (const routeStreaming of [false, true]) {
    const kind = routeStreaming ? "RouteStream" : "unary Route";
    it(`an OK from a man in the middle fails the hop UNAUTHENTICATED (${kind}); the real node's OK resolves it`, async () => {
      const caller = pool(routeStreaming);
      const error = await caller.send(self, hop(`forged-${kind}`, mitmPort)).then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(swallowed.length).toBeGreaterThan(0);
      // The same caller, sending to the real node, has its hop acknowledged (the session is genuine).
      await expect(caller.send(self, hop(`genuine-${kind}`, realPort))).resolves.toBeGreaterThanOrEqual(0);
      expect(delivered.some((m) => m.type === "route" && m.message.id === `genuine-${kind}`)).toBe(true);
    });
  }

  it("acknowledgements the man in the middle sends in a batch of its own (reverse_acks) fail the hop UNAUTHENTICATED", async () => {
    const caller = pool(true);
    const sent = caller.send(self, hop("reverse-forged", mitmPort)).then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
    for (let waited = 0; held.length === 0 && waited < 10_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    const { token, ids } = held[0]!;
    // As the caller's own peer service hands over the reverse_acks of a batch that came to it.
    const forged = RouteStreamResponse.encode({
      acceptedIds: ids,
      rejected: [],
      mac: Buffer.alloc(32),
      acks: [],
    });
    caller.links.reverseAcks({ stream: token, response: forged.finish() }, undefined);
    expect(caller.links.matched).toBe(1);
    expect((await sent)?.code).toBe(status.UNAUTHENTICATED);
  });

  it("a heartbeat answered by the man in the middle is no proof of life", async () => {
    const caller = pool(true);
    const out: Outbound = { to: undefined, address: `127.0.0.1:${mitmPort}`, message: { type: "heartbeat" } };
    const error = await caller.send(self, out).then(
      () => undefined,
      (e: unknown) => e as { code?: number },
    );
    expect(error?.code).toBe(status.UNAUTHENTICATED);
  });
});
