// A peer session opened by hand over a raw gRPC client: what tests use to play one side of the peer
// protocol (an origin's stream, an insider holding the secret) without a whole node behind it.
import { Metadata, type Client } from "@grpc/grpc-js";
import type { NodeInfo } from "../../src/routing/types.js";
import { PeerServiceService, RouteStreamRequest } from "../../src/gen/wendy/v1/peer.js";
import { METADATA_MAC, METADATA_SEQ } from "../../src/server/auth/session-protocol.js";
import { ROUTE_STREAM_PATH } from "../../src/server/transport/route-stream.js";
import { SessionClient } from "../../src/server/auth/session-client.js";
import { encodeNodeInfo } from "../../src/wire/codec.js";

const identity = (b: Buffer): Buffer => b;

/**
 * A SessionClient whose Hello goes over `clientFor(address)` claiming to be `sender`.
 * `helloTimeoutMs`, when given, bounds each Hello call.
 */
export function rawSessionClient(options: {
  sharedKey: Uint8Array;
  sender: NodeInfo;
  clientFor: (address: string) => Client;
  helloTimeoutMs?: number;
}): SessionClient {
  const { sharedKey, sender, clientFor, helloTimeoutMs } = options;
  return new SessionClient({
    sharedKey,
    hello: (address, challenge) =>
      new Promise((resolve, reject) =>
        clientFor(address).makeUnaryRequest(
          PeerServiceService.hello.path,
          identity,
          identity,
          PeerServiceService.hello.requestSerialize({
            sender: encodeNodeInfo(sender),
            clientNonce: Buffer.from(challenge.clientNonce),
          }),
          new Metadata(),
          helloTimeoutMs === undefined ? {} : { deadline: Date.now() + helloTimeoutMs },
          (error, reply?: Buffer) => {
            if (error || reply === undefined)
              return reject(error ?? new Error(`no Hello reply from ${address}`));
            const answer = PeerServiceService.hello.responseDeserialize(reply);
            resolve({
              serverNonce: answer.serverNonce,
              sessionId: answer.sessionId,
              serverProof: answer.serverProof,
            });
          },
        ),
      ),
  });
}

/** One RouteStream request carrying `batch`, signed in `session` as RouteStreamSender signs each batch. */
export async function signedRouteStreamRequest(
  session: SessionClient,
  address: string,
  batch: Buffer,
): Promise<Buffer> {
  const entries = await session.sign(address, ROUTE_STREAM_PATH, batch);
  return Buffer.from(
    RouteStreamRequest.encode({
      batch,
      seq: BigInt(entries[METADATA_SEQ]!),
      mac: Buffer.from(entries[METADATA_MAC]!, "base64"),
    }).finish(),
  );
}
