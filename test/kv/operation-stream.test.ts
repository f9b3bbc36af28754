// KvService.OperationStream: the TypeScript client's put, get and delete on the node's stream answer exactly
// as the unary calls do (values, versions, NOT_FOUND as absent, ABORTED, INVALID_ARGUMENT), each failure
// alone; a node without the stream is served by the unary calls. Real Clusters and gRPC on 127.0.0.1.
import {
  Server,
  ServerCredentials,
  credentials as grpcCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortedError, InvalidArgumentError, WendyClient } from "../../src/client/index.js";
import {
  KvServiceClient,
  KvServiceService,
  type GetRequest,
  type GetResponse,
  type OperationStreamResponse,
} from "../../src/gen/wendy/v1/kv.js";
import { NodeId } from "../../src/routing/id.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { Cluster } from "../../src/server/cluster.js";
import { addKvService, KvNode, type KvServiceHandle } from "../../src/server/kv/index.js";
import { Node } from "../../src/server/node.js";
import { encodeNodeInfo } from "../../src/wire/codec.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";

const credentials = new PassphraseCredentials(testSecret("kv operation stream"));

interface Member {
  readonly cluster: Cluster;
  readonly kv: KvNode;
}

const members: Member[] = [];
const servers: Server[] = [];
let handle: KvServiceHandle;
let address: string;

async function start(name: string, seed?: Member): Promise<Member> {
  const node = new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1", port: 0 });
  const late: { kv?: KvNode } = {};
  const cluster = new Cluster(node, credentials, {
    bindHost: "127.0.0.1",
    routing: { leafSetSize: 8, heartbeatIntervalMs: 200, failureTimeoutMs: 5000 },
    configureServer: (server) => late.kv?.addPeerServiceTo(server),
  });
  const kv = new KvNode(cluster);
  late.kv = kv;
  await cluster.listen();
  kv.start();
  if (seed !== undefined) await cluster.join([seed.cluster.info().localAddress]);
  const member = { cluster, kv };
  members.push(member);
  return member;
}

function listen(server: Server): Promise<string> {
  servers.push(server);
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(`127.0.0.1:${port}`),
    ),
  );
}

beforeAll(async () => {
  const first = await start("kv-stream-0");
  for (let i = 1; i < 4; i++) await start(`kv-stream-${i}`, first);
  await waitFor(
    "every node to know the others",
    () => (members.every((m) => m.cluster.knownPeers().length === 3) ? true : undefined),
    30_000,
  );
  const server = new Server();
  handle = addKvService(server, { kv: first.kv });
  address = await listen(server);
}, 60_000);

afterAll(async () => {
  for (const s of servers) s.forceShutdown();
  for (const m of members) {
    m.kv.stop();
    await m.cluster.kill();
  }
});

async function refusal(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("KvService.OperationStream", () => {
  it("put, get and delete on the stream answer as the unary calls do, and the stream stays open through failures", async () => {
    const streamed = new WendyClient(address);
    const unary = new WendyClient(address, { kvStream: false });
    try {
      const written = await streamed.kv.put("stream-colour", "blue", { timeoutMs: 20_000 });
      expect(written.version.counter).toBe(1n);
      expect(written.acknowledgements).toBeGreaterThanOrEqual(2);
      expect(handle.streamCount).toBe(1);
      const [viaStream, viaUnary] = await Promise.all([
        streamed.kv.get("stream-colour", { timeoutMs: 20_000 }),
        unary.kv.get("stream-colour", { timeoutMs: 20_000 }),
      ]);
      expect(viaStream?.value.toString()).toBe("blue");
      expect(viaStream?.version).toEqual(viaUnary?.version);
      expect(viaStream?.coordinator.id.hex).toBe(viaUnary?.coordinator.id.hex);
      // Failures come back per request, with the unary calls' codes.
      expect(
        await refusal(streamed.kv.put("stream-colour", "red", { ifAbsent: true, timeoutMs: 20_000 })),
      ).toBeInstanceOf(AbortedError);
      expect(await refusal(streamed.kv.get(new Uint8Array(3)))).toBeInstanceOf(InvalidArgumentError);
      expect(await streamed.kv.get("stream-never-written", { timeoutMs: 20_000 })).toBeUndefined();
      const deleted = await streamed.kv.delete("stream-colour", { timeoutMs: 20_000 });
      expect(deleted.version.counter).toBe(2n);
      expect(await unary.kv.get("stream-colour", { timeoutMs: 20_000 })).toBeUndefined();
      // All of it on the one stream; the unary client opened none.
      expect(handle.streamCount).toBe(1);
    } finally {
      streamed.close();
      unary.close();
    }
  });

  it("an item without a request is answered INVALID_ARGUMENT alone, by its request id", async () => {
    const raw = new KvServiceClient(address, grpcCredentials.createInsecure());
    try {
      const call = raw.operationStream();
      const results = new Promise<OperationStreamResponse["results"]>((resolve) => {
        const seen: OperationStreamResponse["results"] = [];
        call.on("data", (response: OperationStreamResponse) => {
          seen.push(...response.results);
          if (seen.length === 2) resolve(seen);
        });
      });
      call.on("error", () => undefined);
      call.write({
        operations: [
          { requestId: 7n, operation: undefined },
          { requestId: 8n, operation: { $case: "get", get: { key: undefined, timeoutMs: 0 } } },
        ],
      });
      const answered = await results;
      expect(answered.map((r) => [r.requestId, r.code]).sort()).toEqual([
        [7n, status.INVALID_ARGUMENT],
        [8n, status.INVALID_ARGUMENT],
      ]);
      call.cancel();
    } finally {
      raw.close();
    }
  });

  it("against a node without OperationStream the client's get is answered by the unary Get", async () => {
    const server = new Server();
    const served: string[] = [];
    const unimplemented = (_call: unknown, callback: sendUnaryData<never>): void =>
      callback({ code: status.UNIMPLEMENTED, details: "not here" });
    server.addService(
      {
        put: KvServiceService.put,
        get: KvServiceService.get,
        delete: KvServiceService.delete,
      },
      {
        put: unimplemented,
        delete: unimplemented,
        get: (_call: ServerUnaryCall<GetRequest, GetResponse>, callback: sendUnaryData<GetResponse>) => {
          served.push("get");
          callback(null, {
            value: Buffer.from("old node"),
            version: { counter: 4n, writer: Buffer.alloc(16, 1) },
            answers: 2,
            coordinator: encodeNodeInfo(members[0]!.cluster.info()),
          });
        },
      },
    );
    const older = await listen(server);
    const client = new WendyClient(older);
    try {
      const read = await client.kv.get("any");
      expect(read?.value.toString()).toBe("old node");
      expect(read?.version.counter).toBe(4n);
      expect(served).toEqual(["get"]);
      // The node's refusal is remembered: the next get goes unary at once.
      expect((await client.kv.get("other"))?.value.toString()).toBe("old node");
      expect(served).toEqual(["get", "get"]);
    } finally {
      client.close();
    }
  });
});
