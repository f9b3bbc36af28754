// A man in the middle without the cluster secret (shared-secret mode, no TLS) between two nodes' key-value
// stores: it relays the Hello to the real node, so the caller's session is genuine, then either answers a
// Fetch with a value it made up, or relays the Fetch and changes the real answer's value while keeping the
// real node's MAC header. Neither answer may be believed: each must carry the session's MAC over exactly its
// bytes, which only the real node can make; each refusal is counted as "bad-answer-mac". The same holds on
// the KvStream, where a whole response carries the MAC: one made up, or relayed with a changed value, is
// refused; and a node without KvStream (these men in the middle) is called unary instead.
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import {
  FetchResponse,
  KvPeerServiceService,
  KvStreamResponse,
  type FetchRequest,
  type Record as KvRecord,
} from "../../src/gen/wendy/v1/kv_peer.js";
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { KvStreamReceivers } from "../../src/server/kv/peer-stream-server.js";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import type { AuthFailureReason } from "../../src/server/auth/failures.js";
import type { PeerTransport } from "../../src/server/cluster.js";
import { KvPeerClient, KvPeerError } from "../../src/server/kv/peer-client.js";
import { addKvPeerService, type KvPeerHandlers } from "../../src/server/kv/peer-service.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerClientPool } from "../../src/server/transport/peer-client.js";
import { addPeerService } from "../../src/server/transport/peer-server.js";
import { encodeNodeInfo } from "../../src/wire/codec.js";
import { DEFAULT_WIRE_LIMITS } from "../../src/wire/limits.js";
import { testSecret } from "../helpers/secrets.js";

const now = (): number => performance.now();
const SECRET = testSecret("forged-kv-answer");
const cleanups: (() => void)[] = [];
const identity = (b: Buffer): Buffer => b;
const KEY = Buffer.alloc(16, 7);
const REAL_VALUE = Buffer.from("the real value");
const FORGED_VALUE = Buffer.from("a made-up value");

let realPort = 0;
let forgingPort = 0;
let tamperingPort = 0;
let realStreamPort = 0;
let forgingStreamPort = 0;
let tamperingStreamPort = 0;
let realStreams: KvStreamReceivers | undefined;
const answeredByMitm: string[] = [];

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

function record(value: Buffer): KvRecord {
  return { key: KEY, version: { counter: 5n, writer: Buffer.alloc(16, 1) }, value, deleted: false };
}

/** The real node's store: Fetch answers the real value; nothing else is asked here. */
const handlers: KvPeerHandlers = {
  coordinate: () => Promise.reject(new Error("not asked")),
  replicate: () => Promise.reject(new Error("not asked")),
  fetch: (_sender, request: FetchRequest) => ({
    records: request.keys.some((k) => k.equals(KEY)) ? [record(REAL_VALUE)] : [],
    omitted: [],
  }),
  digest: () => ({ completeBuckets: [], versions: [] }),
};

/**
 * The man in the middle: Hello relayed to the real node; Fetch either answered with a forged record
 * (`tamper` false) or relayed with its metadata and answered with the real headers (the real MAC) and a
 * changed value (`tamper` true).
 */
async function startMitm(tamper: boolean): Promise<number> {
  const upstream = new Client(`127.0.0.1:${realPort}`, credentials.createInsecure());
  cleanups.push(() => upstream.close());
  const hello = PeerServiceService.hello;
  const fetch = KvPeerServiceService.fetch;
  const definition: Record<string, ServiceDefinition[string]> = {
    hello: { ...hello, requestDeserialize: identity, responseSerialize: identity },
  };
  const implementation: UntypedServiceImplementation = {
    hello: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
      upstream.makeUnaryRequest(hello.path, identity, identity, call.request, new Metadata(), callback),
  };
  const kvDefinition: Record<string, ServiceDefinition[string]> = {
    fetch: { ...fetch, requestDeserialize: identity, responseSerialize: identity },
  };
  const kvImplementation: UntypedServiceImplementation = {
    fetch: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      answeredByMitm.push(tamper ? "tampered" : "forged");
      if (!tamper) {
        callback(
          null,
          Buffer.from(FetchResponse.encode({ records: [record(FORGED_VALUE)], omitted: [] }).finish()),
        );
        return;
      }
      let realHeaders = new Metadata();
      const relayed = upstream.makeUnaryRequest(
        fetch.path,
        identity,
        identity,
        call.request,
        call.metadata,
        (error, reply) => {
          if (error || reply === undefined) return callback(error);
          const answer = FetchResponse.decode(reply);
          const changed = answer.records.map((r) => ({ ...r, value: FORGED_VALUE }));
          call.sendMetadata(realHeaders);
          callback(null, Buffer.from(FetchResponse.encode({ records: changed, omitted: [] }).finish()));
        },
      );
      relayed.on("metadata", (headers: Metadata) => {
        realHeaders = headers;
      });
    },
  };
  const server = new Server();
  server.addService(definition as ServiceDefinition, implementation);
  server.addService(kvDefinition as ServiceDefinition, kvImplementation);
  cleanups.push(() => server.forceShutdown());
  return bind(server);
}

/**
 * A man in the middle on the KvStream: Hello relayed to the real node (which serves KvStream); the stream
 * either answered with a made-up response (`tamper` false) or relayed both ways with each response's fetched
 * values changed and the real MAC kept (`tamper` true).
 */
async function startStreamMitm(tamper: boolean): Promise<number> {
  const upstream = new Client(`127.0.0.1:${realStreamPort}`, credentials.createInsecure());
  cleanups.push(() => upstream.close());
  const hello = PeerServiceService.hello;
  const stream = KvPeerServiceService.kvStream;
  const server = new Server();
  server.addService(
    { hello: { ...hello, requestDeserialize: identity, responseSerialize: identity } } as ServiceDefinition,
    {
      hello: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
        upstream.makeUnaryRequest(hello.path, identity, identity, call.request, new Metadata(), callback),
    },
  );
  server.addService(
    {
      kvStream: { ...stream, requestDeserialize: identity, responseSerialize: identity },
    } as ServiceDefinition,
    {
      kvStream: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.on("error", () => undefined);
        if (!tamper) {
          call.on("data", () => {
            answeredByMitm.push("forged");
            const made = KvStreamResponse.encode({
              answers: [
                {
                  id: 1n,
                  result: { $case: "fetch", fetch: { records: [record(FORGED_VALUE)], omitted: [] } },
                },
              ],
              mac: Buffer.alloc(32, 9),
            }).finish();
            call.write(Buffer.from(made));
          });
          return;
        }
        const relayed = upstream.makeBidiStreamRequest(stream.path, identity, identity, call.metadata);
        relayed.on("error", () => undefined);
        call.on("data", (bytes: Buffer) => relayed.write(bytes));
        relayed.on("data", (bytes: Buffer) => {
          answeredByMitm.push("tampered");
          const response = KvStreamResponse.decode(bytes);
          const changed = response.answers.map((a) =>
            a.result?.$case === "fetch"
              ? {
                  ...a,
                  result: {
                    $case: "fetch" as const,
                    fetch: {
                      ...a.result.fetch,
                      records: a.result.fetch.records.map((r) => ({ ...r, value: FORGED_VALUE })),
                    },
                  },
                }
              : a,
          );
          call.write(Buffer.from(KvStreamResponse.encode({ answers: changed, mac: response.mac }).finish()));
        });
      },
    },
  );
  cleanups.push(() => server.forceShutdown());
  return bind(server);
}

const self: NodeInfo = {
  id: NodeId.fromString("kv-caller"),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "",
  incarnation: 1,
};

function peerAt(port: number): NodeInfo {
  return { ...self, id: NodeId.fromString(`kv-peer-${port}`), localAddress: `127.0.0.1:${port}` };
}

/** A caller's key-value client over a genuine session of the cluster secret, counting refused answers. */
function caller(refused: AuthFailureReason[]): KvPeerClient {
  const pool = new PeerClientPool({
    channelSecurity: () => ({ credentials: credentials.createInsecure(), options: {} }),
    rpcTimeoutMs: 3000,
    maxMessageBytes: 8 * 1024 * 1024,
    maxInFlightPerPeer: 100,
    maxConnections: 10,
    now,
  });
  const auth = callAuthFor(
    credentialsForTest(),
    (address, challenge) => pool.hello(address, self, challenge),
    now,
  );
  pool.useSigner(auth.signer);
  const transport: PeerTransport = {
    auth,
    channelSecurity: () => ({ credentials: credentials.createInsecure(), options: {} }),
    maxMessageBytes: 8 * 1024 * 1024,
    maxPayloadBytes: 4 * 1024 * 1024,
    leafSetSize: 8,
    onAnswerRefused: (reason) => {
      auth.verifier.failures.record(reason);
      refused.push(reason);
    },
  };
  const client = new KvPeerClient(transport, (peer) => peer.localAddress);
  cleanups.push(() => {
    client.close();
    pool.close();
  });
  return client;
}

beforeAll(async () => {
  const auth = callAuthFor(credentialsForTest(), () => Promise.reject(new Error("server only")), now);
  const real = new Server();
  addPeerService(real, { verifier: auth.verifier, limits: DEFAULT_WIRE_LIMITS, sink: () => undefined });
  addKvPeerService(real, { verifier: auth.verifier, handlers: () => handlers });
  cleanups.push(() => real.forceShutdown());
  realPort = await bind(real);
  forgingPort = await startMitm(false);
  tamperingPort = await startMitm(true);
  const realStream = new Server();
  const streams = new KvStreamReceivers({
    verifier: auth.verifier,
    handlers: () => handlers,
    maxResponseBytes: 1024 * 1024,
  });
  addPeerService(realStream, { verifier: auth.verifier, limits: DEFAULT_WIRE_LIMITS, sink: () => undefined });
  addKvPeerService(realStream, {
    verifier: auth.verifier,
    handlers: () => handlers,
    stream: streams.handler,
  });
  realStreams = streams;
  cleanups.push(() => {
    streams.endAll();
    realStream.forceShutdown();
  });
  realStreamPort = await bind(realStream);
  forgingStreamPort = await startStreamMitm(false);
  tamperingStreamPort = await startStreamMitm(true);
});
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("a key-value answer not made by the node called is refused (shared secret, no TLS)", () => {
  it("the real node's Fetch answer, with its MAC over it, is believed (a node without KvStream: called unary)", async () => {
    const refused: AuthFailureReason[] = [];
    const answer = await caller(refused).fetch(
      peerAt(realPort),
      { sender: encodeNodeInfo(self), keys: [KEY], versionsOnly: false },
      3000,
    );
    expect(answer.records.map((r) => r.value.toString())).toEqual([REAL_VALUE.toString()]);
    expect(refused).toEqual([]);
  });

  for (const [kind, port] of [
    ["made up by the man in the middle", (): number => forgingPort],
    ["relayed with the real MAC but a changed value", (): number => tamperingPort],
  ] as const) {
    it(`a Fetch answer ${kind} fails UNAUTHENTICATED and is counted as bad-answer-mac`, async () => {
      const refused: AuthFailureReason[] = [];
      const client = caller(refused);
      const before = answeredByMitm.length;
      const error = await client
        .fetch(peerAt(port()), { sender: encodeNodeInfo(self), keys: [KEY], versionsOnly: false }, 3000)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(answeredByMitm.length).toBe(before + 1);
      expect(error).toBeInstanceOf(KvPeerError);
      expect((error as KvPeerError).code).toBe(status.UNAUTHENTICATED);
      // It may have reached a store, so it is not one to hand elsewhere blindly.
      expect((error as KvPeerError).neverArrived).toBe(false);
      expect(refused).toEqual(["bad-answer-mac"]);
    });
  }
});

describe("a key-value answer on the KvStream not made by the node called is refused (shared secret, no TLS)", () => {
  it("the real node's Fetch answer on its KvStream (one stream open there), in a response with its MAC, is believed", async () => {
    const refused: AuthFailureReason[] = [];
    const answer = await caller(refused).fetch(
      peerAt(realStreamPort),
      { sender: encodeNodeInfo(self), keys: [KEY], versionsOnly: false },
      3000,
    );
    expect(answer.records.map((r) => r.value.toString())).toEqual([REAL_VALUE.toString()]);
    expect(refused).toEqual([]);
    expect(realStreams?.size).toBe(1);
  });

  for (const [kind, port] of [
    ["made up by the man in the middle", (): number => forgingStreamPort],
    ["relayed with the real MAC but a changed value", (): number => tamperingStreamPort],
  ] as const) {
    it(`a Fetch answer on the KvStream ${kind} fails UNAUTHENTICATED and is counted as bad-answer-mac`, async () => {
      const refused: AuthFailureReason[] = [];
      const client = caller(refused);
      const before = answeredByMitm.length;
      const error = await client
        .fetch(peerAt(port()), { sender: encodeNodeInfo(self), keys: [KEY], versionsOnly: false }, 3000)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(answeredByMitm.length).toBe(before + 1);
      expect(error).toBeInstanceOf(KvPeerError);
      expect((error as KvPeerError).code).toBe(status.UNAUTHENTICATED);
      expect((error as KvPeerError).neverArrived).toBe(false);
      expect(refused).toEqual(["bad-answer-mac"]);
    });
  }
});
