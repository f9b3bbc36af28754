// Incoming key-value calls from peers on the peer port: authenticated exactly as PeerService's (the MAC is
// checked over the raw request bytes before any parsing), then decoded and handed to the store's handlers.
// An OK answer carries the session's MAC over its bytes (shared secrets), as PeerService's do: whoever sits
// on the path without the secret cannot make up a read's value or a write's acknowledgement.
import {
  Metadata,
  status,
  type sendUnaryData,
  type Server,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import {
  KvPeerServiceService,
  type CoordinateRequest,
  type CoordinateResponse,
  type DigestRequest,
  type DigestResponse,
  type FetchRequest,
  type FetchResponse,
  type ReplicateRequest,
  type ReplicateResponse,
} from "../../gen/wendy/v1/kv_peer.js";
import type { PeerCertificate } from "node:tls";
import type { NodeInfo } from "../../routing/types.js";
import type { NodeInfo as NodeInfoWire } from "../../gen/wendy/v1/types.js";
import type { AuthFailureReason } from "../auth/failures.js";
import { readAuthEntries } from "../auth/metadata.js";
import {
  METADATA_ANSWER_MAC,
  METADATA_AUTH_FAILURE,
  SESSION_METADATA_KEYS,
} from "../auth/session-protocol.js";
import type { CallVerifier } from "../transport/call-auth.js";
import type { SenderCheck } from "../transport/peer-service-hooks.js";
import { LeavingError, METADATA_REFUSED, NotJoinedError, WendyError } from "../errors.js";
import { decodeNodeInfo } from "../../wire/codec.js";
import { WireFormatError } from "../../wire/errors.js";

/** What the store does with each verified request (`sender` decoded and checked). */
export interface KvPeerHandlers {
  coordinate(sender: NodeInfo, request: CoordinateRequest): Promise<CoordinateResponse>;
  replicate(sender: NodeInfo, request: ReplicateRequest): Promise<ReplicateResponse> | ReplicateResponse;
  fetch(sender: NodeInfo, request: FetchRequest): FetchResponse;
  digest(sender: NodeInfo, request: DigestRequest): DigestResponse;
}

export interface KvPeerServiceOptions {
  readonly verifier: CallVerifier;
  readonly handlers: () => KvPeerHandlers | undefined;
  /** Under per-node identities: a call whose sender the connection's certificate does not back is refused. */
  readonly checkSender?: SenderCheck;
  /** Every call served, with its final code (for metrics). */
  readonly onServed?: (path: string, code: status) => void;
  /** Serves the KvStream method (peer-stream-server.ts); without it the method is absent (UNIMPLEMENTED). */
  readonly stream?: (call: ServerDuplexStream<Buffer, Buffer>) => void;
}

const identity = (b: Buffer): Buffer => b;

export function addKvPeerService(server: Server, options: KvPeerServiceOptions): void {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const method of ["coordinate", "replicate", "fetch", "digest"] as const) {
    const original = KvPeerServiceService[method];
    // Answers are serialized here, so the MAC covers exactly the bytes sent.
    definition[method] = { ...original, requestDeserialize: identity, responseSerialize: identity };
    implementation[method] = (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      const reply = (code: status, details: string, value?: unknown, metadata?: Metadata): void => {
        options.onServed?.(original.path, code);
        if (code !== status.OK) {
          callback({ code, details, ...(metadata === undefined ? {} : { metadata }) });
          return;
        }
        // Each method's response type matches its handler's result; the cast only joins the four.
        const answer = (original.responseSerialize as (v: unknown) => Buffer)(value);
        signAnswer(options.verifier, original.path, call, answer);
        callback(null, answer);
      };
      const auth = options.verifier.verify(original.path, call.request, call.metadata);
      if (!auth.ok) {
        const metadata = new Metadata();
        metadata.set(METADATA_AUTH_FAILURE, auth.reason);
        return reply(status.UNAUTHENTICATED, `authentication failed: ${auth.reason}`, undefined, metadata);
      }
      const handlers = options.handlers();
      if (handlers === undefined)
        return reply(
          status.UNAVAILABLE,
          "the key-value store is not running",
          undefined,
          refusal("not running"),
        );
      void Promise.resolve(
        runKvCall(
          method,
          () => original.requestDeserialize(call.request),
          call.getAuthContext().sslPeerCertificate,
          handlers,
          options,
        ),
      ).then((outcome) => {
        if (outcome.ok) return reply(status.OK, "", outcome.value);
        let metadata: Metadata | undefined;
        if (outcome.authFailure !== undefined) {
          metadata = new Metadata();
          metadata.set(METADATA_AUTH_FAILURE, outcome.authFailure);
        } else if (outcome.refused !== undefined) metadata = refusal(outcome.refused);
        return reply(outcome.code, outcome.details, undefined, metadata);
      });
    };
  }
  if (options.stream !== undefined) {
    const original = KvPeerServiceService.kvStream;
    definition.kvStream = { ...original, requestDeserialize: identity, responseSerialize: identity };
    implementation.kvStream = options.stream;
  }
  server.addService(definition as ServiceDefinition, implementation);
}

/** The methods a KvStream carries, by the name of their handler. */
export type KvStreamMethod = "coordinate" | "replicate" | "fetch";

/** How one verified call ended: the handler's answer, or the status the caller is told. */
export type KvCallOutcome =
  | { readonly ok: true; readonly value: unknown }
  | {
      readonly ok: false;
      readonly code: status;
      readonly details: string;
      /** The call was refused untouched (not joined, leaving, not running): why. */
      readonly refused?: string;
      /** The sender's claim was refused (per-node identities): the reason counted. */
      readonly authFailure?: AuthFailureReason;
    };

/**
 * Runs one authenticated call: decodes it (`decode` throws on bad bytes), checks its sender against the
 * connection's certificate, hands it to its handler, and maps any failure to the status the caller gets.
 * Shared by the unary methods and the KvStream (peer-stream-server.ts). A handler that answers at once
 * (Fetch) is answered at once, without a promise per call.
 */
export function runKvCall(
  method: keyof KvPeerHandlers,
  decode: () => { readonly sender?: NodeInfoWire | undefined },
  certificate: PeerCertificate | undefined,
  handlers: KvPeerHandlers,
  options: Pick<KvPeerServiceOptions, "verifier" | "checkSender">,
): KvCallOutcome | Promise<KvCallOutcome> {
  let value: unknown;
  try {
    const request = decode();
    const sender = decodeNodeInfo(request.sender, "sender");
    const claim = options.checkSender?.(sender, certificate);
    if (claim !== undefined) {
      options.verifier.failures.record(claim.reason);
      throw new SenderRefused(claim.code, claim.reason, claim.details);
    }
    // Each method's request type matches its handler; the cast only joins the four signatures.
    value = (handlers[method] as (s: NodeInfo, r: typeof request) => unknown)(sender, request);
  } catch (error) {
    return failedOutcome(error);
  }
  if (value instanceof Promise) return value.then(succeeded, failedOutcome);
  return succeeded(value);
}

function succeeded(value: unknown): KvCallOutcome {
  return { ok: true, value };
}

function failedOutcome(error: unknown): KvCallOutcome {
  if (error instanceof SenderRefused)
    return {
      ok: false,
      code: status[error.grpcCode],
      details: error.message,
      authFailure: error.reason,
    };
  if (error instanceof WireFormatError)
    return { ok: false, code: status.INVALID_ARGUMENT, details: error.message };
  // Refused before it touched the store: the caller may hand the request to another node at once.
  if (error instanceof NotJoinedError || error instanceof LeavingError)
    return { ok: false, code: error.code, details: error.message, refused: error.message };
  if (error instanceof WendyError) return { ok: false, code: error.code, details: error.message };
  if (error instanceof Error && /invalid wire type|index out of range/i.test(error.message))
    return { ok: false, code: status.INVALID_ARGUMENT, details: `malformed request: ${error.message}` };
  return { ok: false, code: status.INTERNAL, details: "internal error" };
}

/** Sends the session's MAC over `answer` in the response headers (shared secrets; nothing otherwise). */
function signAnswer(
  verifier: CallVerifier,
  path: string,
  call: ServerUnaryCall<Buffer, Buffer>,
  answer: Uint8Array,
): void {
  const mac = verifier.answerMac(readAuthEntries(call.metadata, SESSION_METADATA_KEYS), path, answer);
  if (mac === undefined) return;
  const headers = new Metadata();
  headers.set(METADATA_ANSWER_MAC, Buffer.from(mac).toString("base64"));
  call.sendMetadata(headers);
}

/** The trailer that tells the caller its call was refused untouched (see peer-failure.ts refusedByPeer). */
function refusal(why: string): Metadata {
  const metadata = new Metadata();
  metadata.set(METADATA_REFUSED, why);
  return metadata;
}

/** A caller whose claim about itself its certificate does not back (per-node identities); counted. */
class SenderRefused extends Error {
  constructor(
    readonly grpcCode: "UNAUTHENTICATED" | "PERMISSION_DENIED",
    readonly reason: AuthFailureReason,
    details: string,
  ) {
    super(details);
  }
}
