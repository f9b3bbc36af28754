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
import type { NodeInfo, PeerMessage } from "../../routing/types.js";
import { PeerServiceService } from "../../gen/wendy/v1/peer.js";
import { METADATA_AUTH_FAILURE } from "../auth/session-protocol.js";
import { sourceOfPeer } from "../auth/hello-limiter.js";
import { decodeNodeInfo, decodePeerRequestBytes } from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";
import type { WireLimits } from "../../wire/limits.js";
import { PEER_METHODS, type PeerMethod } from "../../wire/methods.js";
import { LeavingError, METADATA_REFUSED, NotJoinedError, WendyError } from "../errors.js";
import type { CallVerifier } from "./call-auth.js";
import type { PeerServerHooks } from "./peer-service-hooks.js";
import { RouteStreamReceivers } from "./route-stream.js";

/** Where accepted messages go. May throw a WendyError (e.g. RESOURCE_EXHAUSTED) to refuse one. */
export type PeerMessageSink = (sender: NodeInfo, message: PeerMessage) => void;

export interface PeerServiceOptions {
  readonly verifier: CallVerifier;
  readonly limits: WireLimits;
  readonly sink: PeerMessageSink;
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
    try {
      request = hello.requestDeserialize(call.request);
      decodeNodeInfo(request.sender, "sender", options.limits);
    } catch (error) {
      return reply({
        code: status.INVALID_ARGUMENT,
        details: `malformed Hello: ${(error as Error).message}`,
      });
    }
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
    limits: options.limits,
    accept: (sender, message) => options.sink(sender, { type: "route", message }),
    acceptAck: (sender, ack) => options.sink(sender, { type: "ack", ...ack }),
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
    reply(null);
  };
}
