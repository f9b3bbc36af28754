// Chooses how peer calls are authenticated from the cluster's Credentials: shared secrets use the HMAC
// session protocol (nothing replayable on the wire); other Credentials are bearer tokens (TLS advised);
// no credentials means an open overlay (tests and trusted networks only).
import type { Metadata } from "@grpc/grpc-js";
import { BEARER_METADATA_KEYS, bearerEntries, verifyBearer } from "../auth/bearer.js";
import {
  isSharedSecretCredentials,
  type Credentials,
  type SharedSecretCredentials,
} from "../auth/credentials.js";
import { FailureCounter, type AuthRejection } from "../auth/failures.js";
import { readAuthEntries, type AuthEntries } from "../auth/metadata.js";
import { METADATA_SEQ, METADATA_SESSION_ID, SESSION_METADATA_KEYS } from "../auth/session-protocol.js";
import { SessionClient, type HelloTransport } from "../auth/session-client.js";
import { SessionServer, type HelloOutcome } from "../auth/session-server.js";
import type { HelloChallenge } from "../auth/session-protocol.js";

/** Caller side: signs one call, retrying once with a fresh session if the callee lost ours. */
export interface CallSigner {
  call<T>(
    address: string,
    path: string,
    body: Uint8Array,
    invoke: (entries: AuthEntries) => Promise<T>,
    lostSession: (error: unknown) => boolean,
  ): Promise<T>;
  /** Entries authenticating one call or stream batch of `path` with `body` (no retry). */
  sign(address: string, path: string, body: Uint8Array): Promise<AuthEntries>;
  /** As sign, at once when no session has to be opened first; undefined otherwise (then sign). */
  signNow(address: string, path: string, body: Uint8Array): AuthEntries | undefined;
  /** Forget per-peer state (a peer we will not talk to again, or a session the peer lost). */
  forget(address: string): void;
  /**
   * Whether an OK `answer` (serialized) to the call signed with `sent` came from the session's peer: with
   * shared secrets, `mac` (its METADATA_ANSWER_MAC, or the RouteStream response's mac with seq 0) must
   * prove it; other schemes have nothing to check (mutual TLS binds answers to the channel instead).
   */
  checkAnswer(sent: AuthEntries, path: string, answer: Uint8Array, mac: Uint8Array | undefined): boolean;
  /**
   * The node (hex ID) a call signed with `sent` reaches, when its session's Hello named it (shared secrets,
   * peers of this version); undefined when nothing says. A call meant for another node must not be made.
   */
  peerOf(sent: AuthEntries): string | undefined;
}

/** Callee side: answers Hellos and checks each call. */
export interface CallVerifier {
  readonly failures: FailureCounter;
  /** Whether Hello is part of this scheme (only for shared secrets). */
  readonly usesSessions: boolean;
  /** `source`: the caller's address (sourceOfPeer), for the per-source Hello rate limit. */
  hello(challenge: HelloChallenge, source?: string): HelloOutcome;
  verify(path: string, body: Uint8Array, metadata: Metadata): { readonly ok: true } | AuthRejection;
  /** Verifies one RouteStream batch against the session its stream was opened with. */
  verifyBatch(
    path: string,
    sessionId: string,
    seq: bigint,
    mac: Uint8Array,
    batch: Uint8Array,
  ): { readonly ok: true } | AuthRejection;
  /** The MAC proving this node's `answer` to the call `sent` (verified), for the caller; undefined: none. */
  answerMac(sent: AuthEntries, path: string, answer: Uint8Array): Uint8Array | undefined;
}

export interface CallAuth {
  readonly signer: CallSigner;
  readonly verifier: CallVerifier;
  /**
   * Shared secrets only: moves to new keys (a reloaded secret file) without a restart; new sessions use
   * them, sessions under retired keys are dropped. Undefined for other schemes.
   */
  readonly rekey?: (credentials: SharedSecretCredentials) => void;
}

export function callAuthFor(
  credentials: Credentials | undefined,
  hello: HelloTransport,
  now: () => number,
  options: {
    readonly failures?: FailureCounter;
    /** Hellos answered per second (see SessionServer); its default when absent. */
    readonly maxHellosPerSecond?: number;
    /** Hellos answered per second from one source address; its default when absent. */
    readonly maxHellosPerSecondPerSource?: number;
    /** This node's ID (16 bytes), named in its Hello answers so that callers know whom they reach. */
    readonly nodeId?: Uint8Array;
  } = {},
): CallAuth {
  const failures = options.failures ?? new FailureCounter();
  if (credentials === undefined) return openAuth(failures);
  if (isSharedSecretCredentials(credentials)) {
    const client = new SessionClient({
      sharedKey: credentials.sharedKey,
      ...(credentials.acceptedKeys === undefined ? {} : { acceptedKeys: credentials.acceptedKeys }),
      hello,
      now,
      failures,
    });
    const server = new SessionServer({
      sharedKey: credentials.sharedKey,
      nodeId: options.nodeId,
      now,
      failures,
      maxHellosPerSecond: options.maxHellosPerSecond,
      maxHellosPerSecondPerSource: options.maxHellosPerSecondPerSource,
    });
    return {
      rekey: (next) => {
        const accepted = next.acceptedKeys ?? [next.sharedKey];
        server.useKeys(next.sharedKey, accepted);
        client.useKeys(accepted);
      },
      signer: {
        call: (address, path, body, invoke, lost) => client.call(address, path, body, invoke, lost),
        sign: (address, path, body) => client.sign(address, path, body),
        signNow: (address, path, body) => client.signNow(address, path, body),
        forget: (address) => client.forget(address),
        checkAnswer: (sent, path, answer, mac) => client.checkAnswer(sent, path, answer, mac),
        peerOf: (sent) => client.peerOf(sent),
      },
      verifier: {
        failures,
        usesSessions: true,
        hello: (challenge, source) => server.hello(challenge, source),
        verify: (path, body, metadata) =>
          server.verify(path, body, readAuthEntries(metadata, SESSION_METADATA_KEYS)),
        verifyBatch: (path, sessionId, seq, mac, batch) =>
          server.verifyBatch(path, batch, sessionId, seq, mac),
        answerMac: (sent, path, answer) =>
          server.answerMac(sent[METADATA_SESSION_ID] ?? "", path, Number(sent[METADATA_SEQ] ?? "0"), answer),
      },
    };
  }
  const entries = bearerEntries(credentials);
  return {
    signer: {
      call: (_a, _p, _b, invoke) => invoke(entries),
      sign: () => Promise.resolve(entries),
      signNow: () => entries,
      forget: () => undefined,
      checkAnswer: () => true,
      peerOf: () => undefined,
    },
    verifier: {
      failures,
      usesSessions: false,
      hello: () => ({ ok: false, code: "UNAUTHENTICATED", reason: "bad-nonce" }),
      verify: (_path, _body, metadata) =>
        verifyBearer(credentials, readAuthEntries(metadata, BEARER_METADATA_KEYS), failures),
      // Bearer tokens are checked once, when the stream opens.
      verifyBatch: () => ({ ok: true }),
      answerMac: () => undefined,
    },
  };
}

function openAuth(failures: FailureCounter): CallAuth {
  return {
    signer: {
      call: (_a, _p, _b, invoke) => invoke({}),
      sign: () => Promise.resolve({}),
      signNow: () => ({}),
      forget: () => undefined,
      checkAnswer: () => true,
      peerOf: () => undefined,
    },
    verifier: {
      failures,
      usesSessions: false,
      hello: () => ({ ok: false, code: "UNAUTHENTICATED", reason: "bad-nonce" }),
      verify: () => ({ ok: true }),
      verifyBatch: () => ({ ok: true }),
      answerMac: () => undefined,
    },
  };
}
