// The generated PeerService definition and client really talk to each other over grpc-js.
import { credentials, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PeerServiceClient,
  PeerServiceService,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type PeerServiceServer,
} from "../../src/gen/wendy/v1/peer.js";
import type { NodeInfo } from "../../src/gen/wendy/v1/types.js";

describe("generated PeerService over grpc-js", () => {
  const received: HeartbeatRequest[] = [];
  let server: Server;
  let client: PeerServiceClient;

  beforeAll(async () => {
    server = new Server();
    const handlers: Partial<PeerServiceServer> = {
      heartbeat: (call, callback) => {
        received.push(call.request);
        callback(null, {});
      },
    };
    // Only Heartbeat is implemented; grpc-js answers the rest with UNIMPLEMENTED.
    server.addService(PeerServiceService, handlers as PeerServiceServer);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new PeerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });

  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("carries a Heartbeat with the sender's NodeInfo intact", async () => {
    const sender: NodeInfo = {
      id: Buffer.from("00112233445566778899aabbccddeeff", "hex"),
      localAddress: "127.0.0.1:7001",
      globalAddress: "127.0.0.1:7001",
      region: "eu-west",
      incarnation: 9_007_199_254_740_991n,
    };
    const response = await new Promise<HeartbeatResponse>((resolve, reject) =>
      client.heartbeat({ sender }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    expect(response).toEqual({});
    expect(received).toHaveLength(1);
    expect(received[0]?.sender).toEqual(sender);
  });

  it("reports UNIMPLEMENTED for an RPC the server did not register", async () => {
    const error = await new Promise<ServiceError | null>((resolve) =>
      client.announce({ sender: undefined }, (err) => resolve(err)),
    );
    expect(error?.code).toBe(status.UNIMPLEMENTED);
  });
});
