// Per-node identities at the transport: a certificate names its node (URI SAN wendy://node/<hex>); a peer's
// claim about itself must match the certificate of the connection it arrives on, and an answer resolves a
// call or a hop only when it came from the node that was meant. Real gRPC over mutual TLS on 127.0.0.1.
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import {
  Client,
  Metadata,
  Server,
  status,
  type ServerDuplexStream,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo, Outbound, PeerMessage, RouteMessage } from "../../src/routing/types.js";
import type { AuthFailureReason } from "../../src/server/auth/failures.js";
import { checkClaim, nodeIdOfCertificate } from "../../src/server/auth/node-identity.js";
import { peerChannelSecurity, peerServerCredentials, TlsConfigError } from "../../src/server/auth/tls.js";
import { callAuthFor } from "../../src/server/transport/call-auth.js";
import { PeerCallError, PeerClientPool } from "../../src/server/transport/peer-client.js";
import { addPeerService } from "../../src/server/transport/peer-server.js";
import {
  METADATA_ROUTE_STREAM,
  ROUTE_STREAM_PATH,
  RouteHopError,
} from "../../src/server/transport/route-stream.js";
import {
  RouteBatch,
  RouteStreamRequest,
  RouteStreamResponse,
  PeerServiceService,
} from "../../src/gen/wendy/v1/peer.js";
import { encodeRouteBatch, type ReverseAcks } from "../../src/wire/codec.js";
import { DEFAULT_WIRE_LIMITS } from "../../src/wire/limits.js";
import { CertDir } from "../helpers/certs.js";

const now = (): number => performance.now();
const raw = (b: Buffer): Buffer => b;
const certs = new CertDir();
const victimId = NodeId.fromString("victim");
const malloryId = NodeId.fromString("mallory");
const honestId = NodeId.fromString("honest");
const cleanups: (() => void)[] = [];

beforeAll(() => {
  certs.ca("ca");
  certs.nodeLeaf("victim", "ca", victimId.hex);
  certs.nodeLeaf("mallory", "ca", malloryId.hex);
  certs.nodeLeaf("honest", "ca", honestId.hex);
  certs.nodeLeaf("elsewhere", "ca", honestId.hex, "IP:127.0.0.9");
  certs.leaf("anonymous", "ca");
  certs.leaf("named", "ca", "URI:wendy://name/wendy-3,IP:127.0.0.1");
  certs.leaf("malformed", "ca", "URI:wendy://node/not-hex,IP:127.0.0.1");
  certs.leaf(
    "twice",
    "ca",
    `URI:wendy://node/${victimId.hex},URI:wendy://node/${malloryId.hex},IP:127.0.0.1`,
  );
});
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
  certs.remove();
});

function info(id: NodeId, port: number, incarnation = 1): NodeInfo {
  const address = `127.0.0.1:${port}`;
  return { id, localAddress: address, globalAddress: address, region: "", incarnation };
}

function names(leaf: string): { subjectaltname: string } {
  const cert = new X509Certificate(readFileSync(certs.file(`${leaf}.crt`)));
  return { subjectaltname: cert.subjectAltName ?? "" };
}

/** A peer server presenting `leaf`'s certificate that checks senders' claims; records what it accepts. */
async function peerServer(leaf: string): Promise<{
  port: number;
  accepted: { sender: NodeInfo; message: PeerMessage }[];
  failures: AuthFailureReason[];
}> {
  const auth = callAuthFor(undefined, () => Promise.reject(new Error("no Hello")), now);
  const accepted: { sender: NodeInfo; message: PeerMessage }[] = [];
  const failures: AuthFailureReason[] = [];
  const server = new Server();
  addPeerService(server, {
    verifier: auth.verifier,
    limits: DEFAULT_WIRE_LIMITS,
    sink: (sender, message) => accepted.push({ sender, message }),
    checkSender: checkClaim,
    hooks: { onAuthFailure: (reason) => failures.push(reason) },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", peerServerCredentials(certs.identityTls(leaf, "ca")), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  cleanups.push(() => server.forceShutdown());
  return { port, accepted, failures };
}

/** A client pool presenting `leaf`'s certificate; `refused` collects answers refused as from the wrong node. */
function pool(leaf: string, routeStreaming: boolean): { pool: PeerClientPool; refused: AuthFailureReason[] } {
  const refused: AuthFailureReason[] = [];
  const p = new PeerClientPool({
    channelSecurity: peerChannelSecurity(certs.identityTls(leaf, "ca")),
    rpcTimeoutMs: 3000,
    maxMessageBytes: 8 * 1024 * 1024,
    maxInFlightPerPeer: 100,
    maxConnections: 10,
    now,
    routeStreaming,
    onAuthFailure: (reason) => refused.push(reason),
  });
  p.useSigner(callAuthFor(undefined, () => Promise.reject(new Error("no Hello")), now).signer);
  cleanups.push(() => p.close());
  return { pool: p, refused };
}

function routeMessage(id: string, origin: NodeInfo): RouteMessage {
  return {
    id,
    key: NodeId.fromString(id),
    purpose: 16,
    payload: new Uint8Array(0),
    origin,
    hops: 0,
    maxHops: 40,
    wantAck: false,
  };
}

describe("certificates name their node", () => {
  it("reads the node ID of the URI SAN, and none from a certificate naming no node, two, or a malformed one", () => {
    expect(nodeIdOfCertificate(names("victim"))).toBe(victimId.hex);
    expect(nodeIdOfCertificate(names("anonymous"))).toBeUndefined();
    expect(nodeIdOfCertificate(names("twice"))).toBeUndefined();
    expect(nodeIdOfCertificate(names("malformed"))).toBeUndefined();
  });

  it("reads a node name (wendy://name/<name>) as the ID that name gives, as WENDY_NODE_NAME does", () => {
    expect(nodeIdOfCertificate(names("named"))).toBe(NodeId.fromString("wendy-3").hex);
  });

  it("a claim holds only for the certificate's node at an address the certificate names", () => {
    expect(checkClaim(info(victimId, 7070), names("victim"))).toBeUndefined();
    expect(checkClaim(info(victimId, 7070), names("mallory"))?.reason).toBe("identity-mismatch");
    expect(checkClaim(info(victimId, 7070), names("mallory"))?.code).toBe("PERMISSION_DENIED");
    expect(checkClaim(info(honestId, 7070), names("elsewhere"))?.reason).toBe("address-mismatch");
    expect(checkClaim(info(victimId, 7070), names("anonymous"))?.reason).toBe("missing-identity");
    expect(checkClaim(info(victimId, 7070), undefined)?.code).toBe("UNAUTHENTICATED");
  });

  it("identities need mutual TLS", () => {
    const oneWay = { ...certs.identityTls("victim", "ca"), mutual: false };
    expect(() => peerChannelSecurity(oneWay)).toThrow(TlsConfigError);
  });
});

describe("a peer's claim about itself must match its certificate", () => {
  it("a stolen ID with a higher incarnation is refused with PERMISSION_DENIED and counted", async () => {
    const server = await peerServer("honest");
    const { pool: mallory } = pool("mallory", false);
    const stolen = info(victimId, 1, 99);
    const out: Outbound = {
      to: undefined,
      address: `127.0.0.1:${server.port}`,
      message: { type: "heartbeat" },
    };
    const error = await mallory.send(stolen, out).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PeerCallError);
    expect((error as PeerCallError).code).toBe(status.PERMISSION_DENIED);
    expect(server.accepted).toEqual([]);
    expect(server.failures).toEqual(["identity-mismatch"]);
    // Its own identity is accepted.
    await mallory.send(info(malloryId, 1), out);
    expect(server.accepted.map((a) => a.sender.id.hex)).toEqual([malloryId.hex]);
  });

  it("a route batch claiming another sender is refused on the stream, and nothing of it is taken", async () => {
    const server = await peerServer("honest");
    const { pool: mallory } = pool("mallory", true);
    const out: Outbound = {
      to: info(honestId, server.port),
      address: `127.0.0.1:${server.port}`,
      message: { type: "route", message: routeMessage("m-1", info(victimId, 1)) },
    };
    const error = await mallory.send(info(victimId, 1), out).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RouteHopError);
    expect((error as RouteHopError).code).toBe(status.PERMISSION_DENIED);
    expect(server.accepted).toEqual([]);
    expect(server.failures).toContain("identity-mismatch");
  });
});

describe("an answer counts only from the node that was meant", () => {
  for (const routeStreaming of [false, true]) {
    it(`a hop acknowledged by another certified node is not resolved (${routeStreaming ? "RouteStream" : "unary Route"})`, async () => {
      // Mallory listens where the victim was expected (say it took over the victim's address) and accepts.
      const impostor = await peerServer("mallory");
      const { pool: caller, refused } = pool("honest", routeStreaming);
      const self = info(honestId, 1);
      const meant = info(victimId, impostor.port);
      const hop = (id: string, to: NodeInfo): Outbound => ({
        to,
        address: `127.0.0.1:${impostor.port}`,
        message: { type: "route", message: routeMessage(id, self) },
      });
      const error = await caller.send(self, hop("forged", meant)).catch((e: unknown) => e);
      expect((error as { code?: number }).code).toBe(status.PERMISSION_DENIED);
      expect(refused).toEqual(["wrong-peer"]);
      // The same answer from the node meant resolves the hop.
      await expect(
        caller.send(self, hop("genuine", info(malloryId, impostor.port))),
      ).resolves.toBeGreaterThanOrEqual(0);
    });
  }

  it("a probe answered by another node is no proof of life of the node meant", async () => {
    const impostor = await peerServer("mallory");
    const { pool: caller, refused } = pool("honest", true);
    const out: Outbound = {
      to: info(victimId, impostor.port),
      address: `127.0.0.1:${impostor.port}`,
      message: { type: "probe", sentAt: 0, joining: false },
    };
    const error = await caller.send(info(honestId, 1), out).catch((e: unknown) => e);
    expect((error as PeerCallError).code).toBe(status.PERMISSION_DENIED);
    expect(refused).toEqual(["wrong-peer"]);
  });
});

describe("acknowledgements carried on a peer's own stream count only from the node that was meant", () => {
  /** A RouteStream server presenting `leaf` that answers nothing: it records each stream's token and hop ids. */
  async function silentPeer(
    leaf: string,
  ): Promise<{ port: number; held: { token: string; ids: string[] }[] }> {
    const held: { token: string; ids: string[] }[] = [];
    const server = new Server();
    const definition = {
      routeStream: { ...PeerServiceService.routeStream, requestDeserialize: raw, responseSerialize: raw },
    };
    server.addService(definition as ServiceDefinition, {
      routeStream: (call: ServerDuplexStream<Buffer, Buffer>) => {
        call.on("data", (bytes: Buffer) => {
          const batch = RouteBatch.decode(RouteStreamRequest.decode(bytes).batch);
          const token = String(call.metadata.get(METADATA_ROUTE_STREAM)[0] ?? "");
          held.push({ token, ids: batch.messages.map((m) => m.id) });
        });
        call.on("end", () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", peerServerCredentials(certs.identityTls(leaf, "ca")), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => server.forceShutdown());
    return { port, held };
  }

  /** Writes, as the node certified by `leaf`, one batch carrying `acks` to the peer service at `port`. */
  async function sendReverseAcks(leaf: string, id: NodeId, port: number, acks: ReverseAcks): Promise<void> {
    const address = `127.0.0.1:${port}`;
    const security = peerChannelSecurity(certs.identityTls(leaf, "ca"))(address);
    const client = new Client(address, security.credentials, security.options);
    cleanups.push(() => client.close());
    const call = client.makeBidiStreamRequest(ROUTE_STREAM_PATH, raw, raw, new Metadata());
    call.on("error", () => undefined);
    const batch = Buffer.from(
      RouteBatch.encode(encodeRouteBatch(info(id, port), [], [], [], [acks])).finish(),
    );
    call.write(Buffer.from(RouteStreamRequest.encode({ batch, seq: 0n, mac: Buffer.alloc(0) }).finish()));
    await new Promise((r) => setTimeout(r, 300));
    call.end();
  }

  it("a hop acknowledged in another certified node's batch is not resolved; the node meant resolves it", async () => {
    const { pool: caller, refused } = pool("honest", true);
    // The caller's own peer service, where batches of its peers (and their reverse acknowledgements) arrive.
    const auth = callAuthFor(undefined, () => Promise.reject(new Error("no Hello")), now);
    const own = new Server();
    addPeerService(own, {
      verifier: auth.verifier,
      limits: DEFAULT_WIRE_LIMITS,
      sink: () => undefined,
      checkSender: checkClaim,
      streams: { links: caller.links },
    });
    const ownPort = await new Promise<number>((resolve, reject) =>
      own.bindAsync("127.0.0.1:0", peerServerCredentials(certs.identityTls("honest", "ca")), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => own.forceShutdown());
    const victim = await silentPeer("victim");
    const self = info(honestId, ownPort);
    const hop = (id: string): Outbound => ({
      to: info(victimId, victim.port),
      address: `127.0.0.1:${victim.port}`,
      message: { type: "route", message: routeMessage(id, self) },
    });
    const forged = caller.send(self, hop("carried-forged")).catch((e: unknown) => e);
    for (let waited = 0; victim.held.length === 0 && waited < 10_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    const { token, ids } = victim.held[0]!;
    const response = RouteStreamResponse.encode({
      acceptedIds: ids,
      rejected: [],
      mac: Buffer.alloc(0),
      acks: [],
    });
    await sendReverseAcks("mallory", malloryId, ownPort, { stream: token, response: response.finish() });
    expect(((await forged) as { code?: number }).code).toBe(status.PERMISSION_DENIED);
    expect(refused).toEqual(["wrong-peer"]);
    // The same acknowledgements from the victim's own connection resolve its hop.
    const genuine = caller.send(self, hop("carried-genuine"));
    for (let waited = 0; victim.held.length < 2 && waited < 10_000; waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    const second = victim.held[1]!;
    const answer = RouteStreamResponse.encode({
      acceptedIds: second.ids,
      rejected: [],
      mac: Buffer.alloc(0),
      acks: [],
    });
    await sendReverseAcks("victim", victimId, ownPort, { stream: second.token, response: answer.finish() });
    await expect(genuine).resolves.toBeGreaterThanOrEqual(0);
  });
});
