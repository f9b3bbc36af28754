// Incoming node-to-node calls: verify the caller, validate the bytes, hand the message to the node.
// Requests arrive as raw bytes so the MAC is checked over exactly what was sent, before any parsing.
import {
  Metadata,
  status,
  type sendUnaryData,
  type Server,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { NodeInfo, PeerMessage } from "../../routing/types.js";
import { PeerServiceService } from "../../gen/wendy/v1/peer.js";
import {
  METADATA_ANSWER_MAC,
  METADATA_AUTH_FAILURE,
  SESSION_METADATA_KEYS,
} from "../auth/session-protocol.js";
import { readAuthEntries } from "../auth/metadata.js";
import { sourceOfPeer } from "../auth/hello-limiter.js";
import { decodeNodeInfo, decodePeerRequestBytes } from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import type { WireLimits } from "../../wire/limits.js";
import { PEER_METHODS, type PeerMethod } from "../../wire/methods.js";
import { LeavingError, METADATA_REFUSED, NotJoinedError, WendyError } from "../errors.js";
import type { CallVerifier } from "./call-auth.js";
import type { PeerServerHooks, SenderCheck } from "./peer-service-hooks.js";
import { RouteStreamReceivers, type RouteStreamServerOptions } from "./route-stream-server.js";
import { asError } from "../../shared/as-error.js";

/** Where accepted messages go. May throw a WendyError (e.g. RESOURCE_EXHAUSTED) to refuse one. */
export type PeerMessageSink = (sender: NodeInfo, message: PeerMessage) => void;

export interface PeerServiceOptions {
  readonly verifier: CallVerifier;
  /** Set under per-node identities: a call whose sender the connection's certificate does not back is refused. */
  readonly checkSender?: SenderCheck;
  readonly limits: WireLimits;
  readonly sink: PeerMessageSink;
  /**
   * RouteStream's optional features (direct messages, acknowledgements on the stream back); `accept` takes a
   * hop from a stream in place of the sink, and says whether the node will answer its sender soon.
   */
  readonly streams?: Partial<Pick<RouteStreamServerOptions, "accept">> &
    Pick<RouteStreamServerOptions, "acceptDirect" | "reverseSender" | "links">;
  readonly hooks?: PeerServerHooks;
}

const identity = (b: Buffer): Buffer => b;

interface RpcError {
  code: status;
  details: string;
  metadata?: Metadata;
}

/** What a running peer service lets its owner do. */
export interface PeerServiceHandle {
  /** Ends the incoming RouteStreams (peers reopen them against another node or a restarted one). */
  endStreams(): void;
}

/** Registers PeerService on `server`: the unary RPCs, Hello, and the batched RouteStream. */
export function addPeerService(server: Server, options: PeerServiceOptions): PeerServiceHandle {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};

  const hello = PeerServiceService.hello;
  definition.hello = { ...hello, requestDeserialize: identity };
  implementation.hello = (call: ServerUnaryCall<Buffer, unknown>, callback: sendUnaryData<unknown>) => {
    const reply = (error: RpcError | null, value?: unknown): void => {
      options.hooks?.onServed?.(hello.path, error ? error.code : status.OK);
      callback(error, value);
    };
    let request;
    let sender: NodeInfo;
    try {
      request = hello.requestDeserialize(call.request);
      sender = decodeNodeInfo(request.sender, "sender", options.limits);
    } catch (error) {
      return reply({
        code: status.INVALID_ARGUMENT,
        details: `malformed Hello: ${asError(error).message}`,
      });
    }
    const refused = refusedSender(options, sender, call);
    if (refused !== undefined) return reply(refused);
    if (!options.verifier.usesSessions) {
      return reply({ code: status.FAILED_PRECONDITION, details: "this overlay does not use Hello sessions" });
    }
    const outcome = options.verifier.hello(
      { clientNonce: request.clientNonce },
      sourceOfPeer(call.getPeer()),
    );
    if (!outcome.ok) {
      options.hooks?.onAuthFailure?.(outcome.reason);
      return reply({ code: status[outcome.code], details: `Hello refused: ${outcome.reason}` });
    }
    reply(null, {
      serverNonce: Buffer.from(outcome.answer.serverNonce),
      sessionId: outcome.answer.sessionId,
      serverProof: Buffer.from(outcome.answer.serverProof),
      nodeId: Buffer.from(outcome.answer.nodeId ?? []),
      identityProof: Buffer.from(outcome.answer.identityProof ?? []),
    });
  };

  for (const method of PEER_METHODS) {
    const original = PeerServiceService[method];
    definition[method] = { ...original, requestDeserialize: identity };
    implementation[method] = messageHandler(method, original.path, options);
  }
  definition.routeStream = {
    ...PeerServiceService.routeStream,
    requestDeserialize: identity,
    responseSerialize: identity,
  };
  const receivers = new RouteStreamReceivers({
    verifier: options.verifier,
    checkSender: options.checkSender,
    limits: options.limits,
    accept: (sender, message) => {
      options.sink(sender, { type: "route", message });
      return false;
    },
    acceptAck: (sender, ack) => options.sink(sender, { type: "ack", ...ack }),
    acceptHeartbeat: (sender) => options.sink(sender, { type: "heartbeat" }),
    ...options.streams,
    hooks: options.hooks,
  });
  implementation.routeStream = receivers.handler;
  server.addService(definition as ServiceDefinition, implementation);
  return { endStreams: () => receivers.endAll() };
}

function messageHandler(method: PeerMethod, path: string, options: PeerServiceOptions) {
  return (call: ServerUnaryCall<Buffer, unknown>, callback: sendUnaryData<unknown>): void => {
    const reply = (error: RpcError | null): void => {
      options.hooks?.onServed?.(path, error ? error.code : status.OK);
      callback(error, error ? undefined : {});
    };
    const auth = options.verifier.verify(path, call.request, call.metadata);
    if (!auth.ok) {
      options.hooks?.onAuthFailure?.(auth.reason);
      // The reason travels back in trailers so a caller can tell "session lost" (re-Hello) from forgery.
      const metadata = new Metadata();
      metadata.set(METADATA_AUTH_FAILURE, auth.reason);
      return reply({
        code: status.UNAUTHENTICATED,
        details: `authentication failed: ${auth.reason}`,
        metadata,
      });
    }
    let envelope;
    try {
      envelope = decodePeerRequestBytes(method, call.request, options.limits);
    } catch (error) {
      if (error instanceof WireFormatError)
        return reply({ code: status.INVALID_ARGUMENT, details: error.message });
      throw error;
    }
    const refused = refusedSender(options, envelope.sender, call);
    if (refused !== undefined) return reply(refused);
    options.hooks?.onPeerCall?.(call.getPeer(), envelope.sender);
    // A copy of a hop held on a stream for its end-to-end acknowledgement: that one is let go now.
    if (envelope.message.type === "route") options.streams?.links?.release(envelope.message.message.id);
    try {
      options.sink(envelope.sender, envelope.message);
    } catch (error) {
      if (error instanceof LeavingError || error instanceof NotJoinedError) {
        const metadata = new Metadata();
        metadata.set(METADATA_REFUSED, error instanceof LeavingError ? "leaving" : "not joined");
        return reply({ code: error.code, details: error.message, metadata });
      }
      if (error instanceof WendyError) return reply({ code: error.code, details: error.message });
      return reply({ code: status.INTERNAL, details: "internal error" });
    }
    signAnswer(options, path, call);
    reply(null);
  };
}

/** The error to refuse a call with when its sender's claim is not backed by its certificate; counted. */
function refusedSender(
  options: PeerServiceOptions,
  sender: NodeInfo,
  call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } },
): RpcError | undefined {
  const refusal = options.checkSender?.(sender, call.getAuthContext().sslPeerCertificate);
  if (refusal === undefined) return undefined;
  options.verifier.failures.record(refusal.reason);
  options.hooks?.onAuthFailure?.(refusal.reason);
  const metadata = new Metadata();
  metadata.set(METADATA_AUTH_FAILURE, refusal.reason);
  return { code: status[refusal.code], details: refusal.details, metadata };
}

/** Every peer RPC but Hello answers with an empty message, which serializes to no bytes. */
const EMPTY_ANSWER = new Uint8Array(0);

/** Sends the MAC over our (empty) answer in the response headers, so the caller knows it was us who accepted. */
function signAnswer(options: PeerServiceOptions, path: string, call: ServerUnaryCall<Buffer, unknown>): void {
  const mac = options.verifier.answerMac(
    readAuthEntries(call.metadata, SESSION_METADATA_KEYS),
    path,
    EMPTY_ANSWER,
  );
  if (mac === undefined) return;
  const headers = new Metadata();
  headers.set(METADATA_ANSWER_MAC, Buffer.from(mac).toString("base64"));
  call.sendMetadata(headers);
}
