// The wire-level pieces of the session protocol: nonce rules, metadata keys and the three HMACs.
// Every node holds the same 32-byte shared key (from PassphraseCredentials); it never leaves the process.
import { timingSafeEqual } from "node:crypto";
import type { AuthFailureReason } from "./failures.js";
import { hmacSha256, sha256 } from "./mac.js";

/** Nonce length each side generates. Peers may send longer ones (the proto says "at least 16"). */
export const NONCE_BYTES = 16;
/** Upper bound on an accepted nonce, so a peer cannot make us hash arbitrarily large values. */
export const MAX_NONCE_BYTES = 64;
export const SESSION_ID_BYTES = 16;

/** Call metadata keys carrying a signed call. */
export const METADATA_SESSION_ID = "wendy-session-id";
export const METADATA_SEQ = "wendy-seq";
export const METADATA_MAC = "wendy-mac";
export const SESSION_METADATA_KEYS: readonly string[] = [METADATA_SESSION_ID, METADATA_SEQ, METADATA_MAC];
/**
 * Trailing metadata key under which the runtime reports an AuthFailureReason with an UNAUTHENTICATED
 * status, so the caller can tell "session unknown, Hello again" from "refused".
 */
export const METADATA_AUTH_FAILURE = "wendy-auth-failure";
/**
 * Response header carrying the callee's MAC over its answer (computeAnswerMac): an OK that does not carry it
 * came from someone without the session key (a man in the middle), and acknowledges nothing.
 */
export const METADATA_ANSWER_MAC = "wendy-answer-mac";

const SERVER_PROOF_LABEL = Buffer.from("wendy-v1 server", "utf8");
const SESSION_KEY_LABEL = Buffer.from("wendy-v1 session", "utf8");
const ANSWER_LABEL = Buffer.from("wendy-v1 answer", "utf8");
const IDENTITY_LABEL = Buffer.from("wendy-v1 identity", "utf8");

/** Hello fields as plain bytes (the runtime copies them to and from the generated proto messages). */
export interface HelloChallenge {
  readonly clientNonce: Uint8Array;
}

export interface HelloAnswer {
  readonly serverNonce: Uint8Array;
  readonly sessionId: string;
  readonly serverProof: Uint8Array;
  /** The answering node's ID (16 bytes) and its proof; empty or absent from servers that do not say. */
  readonly nodeId?: Uint8Array;
  readonly identityProof?: Uint8Array;
}

export function isAcceptableNonce(nonce: Uint8Array): boolean {
  return nonce.length >= NONCE_BYTES && nonce.length <= MAX_NONCE_BYTES;
}

/** HMAC(key, "wendy-v1 server" | client_nonce | server_nonce): proves the callee knows the secret. */
export function computeServerProof(
  key: Uint8Array,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Buffer {
  return hmacSha256(key, [SERVER_PROOF_LABEL, clientNonce, serverNonce]);
}

/**
 * HMAC(key, "wendy-v1 identity" | client_nonce | server_nonce | node_id): the callee's word, bound to this
 * Hello, that it is the node `nodeId`; every call of the session then reaches that node.
 */
export function computeIdentityProof(
  key: Uint8Array,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
  nodeId: Uint8Array,
): Buffer {
  return hmacSha256(key, [IDENTITY_LABEL, clientNonce, serverNonce, nodeId]);
}

/** HMAC(key, "wendy-v1 session" | client_nonce | server_nonce): a fresh key per session. */
export function deriveSessionKey(key: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return hmacSha256(key, [SESSION_KEY_LABEL, clientNonce, serverNonce]);
}

/**
 * HMAC(session_key, method | seq | SHA-256(body)). The seq (8 bytes, big-endian) and digest have fixed
 * lengths, so the method boundary is unambiguous. `body` is the serialized request exactly as sent.
 */
export function computeCallMac(
  sessionKey: Uint8Array,
  method: string,
  seq: number,
  body: Uint8Array,
): Buffer {
  return hmacSha256(sessionKey, [methodBytes(method), seqBytes(seq), sha256(body)]);
}

/**
 * HMAC(session_key, "wendy-v1 answer" | method | seq | SHA-256(answer)): the callee's proof that it, the
 * holder of the session, answered call `seq` of `method` with exactly `answer` (the serialized response; a
 * RouteStream response with seq 0, its acknowledged ids being unique). The label keeps it apart from call MACs.
 */
export function computeAnswerMac(
  sessionKey: Uint8Array,
  method: string,
  seq: number,
  answer: Uint8Array,
): Buffer {
  return hmacSha256(sessionKey, [ANSWER_LABEL, methodBytes(method), seqBytes(seq), sha256(answer)]);
}

/** The UTF-8 bytes of each method path, made once (a handful of paths, each MACed per batch). */
const methodBytesCache = new Map<string, Buffer>();
const MAX_CACHED_METHODS = 256;

function methodBytes(method: string): Buffer {
  let bytes = methodBytesCache.get(method);
  if (bytes === undefined) {
    bytes = Buffer.from(method, "utf8");
    if (methodBytesCache.size < MAX_CACHED_METHODS) methodBytesCache.set(method, bytes);
  }
  return bytes;
}

/** `seq` as 8 bytes, big-endian. */
function seqBytes(seq: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeBigUInt64BE(BigInt(seq));
  return bytes;
}

export function equalMacs(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether a refused call should be retried after a fresh Hello: only when the callee no longer knows the
 * session (it restarted, expired or evicted it). Any other refusal means the call itself was bad.
 */
export function isSessionLost(reason: string | undefined): boolean {
  const lost: AuthFailureReason[] = ["unknown-session", "expired-session"];
  return lost.some((r) => r === reason);
}
