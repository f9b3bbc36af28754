// Caller side of the session protocol: one session per peer address, opened by Hello on first use,
// used to sign every call, and opened afresh when the peer says it no longer knows the session.
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import { BoundedMap } from "../../routing/bounded-map.js";
import { FailureCounter } from "./failures.js";
import type { AuthEntries } from "./metadata.js";
import {
  METADATA_MAC,
  METADATA_SEQ,
  METADATA_SESSION_ID,
  NONCE_BYTES,
  computeAnswerMac,
  computeCallMac,
  computeIdentityProof,
  computeServerProof,
  deriveSessionKey,
  equalMacs,
  isAcceptableNonce,
  type HelloAnswer,
  type HelloChallenge,
} from "./session-protocol.js";

/** Sends a Hello to the peer at `address` and returns its answer (the runtime's Hello RPC). */
export type HelloTransport = (address: string, challenge: HelloChallenge) => Promise<HelloAnswer>;

export interface SessionClientOptions {
  /** The 32-byte shared key (PassphraseCredentials.sharedKey). */
  readonly sharedKey: Uint8Array;
  /** During a rotation, the keys a callee may prove its Hello with (sharedKey first); default sharedKey. */
  readonly acceptedKeys?: readonly Uint8Array[];
  readonly hello: HelloTransport;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  /**
   * Drop a session unused for this long instead of sending a call the peer would refuse. Keep it below
   * the server's idle timeout (default 4 minutes against the server's 5).
   */
  readonly idleTimeoutMs?: number;
  /** Most peers with a session held at once; the least recently opened is dropped first. */
  readonly maxSessions?: number;
  readonly randomBytes?: (size: number) => Uint8Array;
  readonly failures?: FailureCounter;
}

export const DEFAULT_CLIENT_IDLE_TIMEOUT_MS = 4 * 60_000;
export const DEFAULT_CLIENT_MAX_SESSIONS = 4096;

/** Length of a node ID a Hello answer names. */
const NODE_ID_BYTES = 16;

/** The peer answered a Hello without proving it knows the shared secret: not a node of this overlay. */
export class ServerProofError extends Error {
  override readonly name = "ServerProofError";
}

interface ClientSession {
  /** The shared key the callee proved its Hello with. */
  readonly root: Uint8Array;
  readonly id: string;
  readonly key: Buffer;
  /** The node that answered the Hello (hex ID); undefined when it did not say (an older version). */
  readonly peer: string | undefined;
  nextSeq: number;
  lastUsed: number;
}

export class SessionClient {
  readonly failures: FailureCounter;
  private keys: readonly Uint8Array[];
  private readonly sendHello: HelloTransport;
  private readonly now: () => number;
  private readonly idleTimeoutMs: number;
  private readonly maxSessions: number;
  private readonly randomBytes: (size: number) => Uint8Array;
  private readonly sessions = new Map<string, ClientSession>();
  /** Keys of the sessions opened lately, by session ID: answers to calls signed with one may still arrive. */
  private readonly keysById = new BoundedMap<string, Buffer>(2 * DEFAULT_CLIENT_MAX_SESSIONS);
  /** The node each of those sessions was opened with, when it named itself. */
  private readonly peersById = new BoundedMap<string, string>(2 * DEFAULT_CLIENT_MAX_SESSIONS);
  // One Hello in flight per address, shared by every call that needs it.
  private readonly opening = new Map<string, Promise<ClientSession>>();

  constructor(options: SessionClientOptions) {
    this.keys = options.acceptedKeys ?? [options.sharedKey];
    this.sendHello = options.hello;
    this.now = options.now ?? (() => performance.now());
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_CLIENT_IDLE_TIMEOUT_MS;
    this.maxSessions = options.maxSessions ?? DEFAULT_CLIENT_MAX_SESSIONS;
    this.randomBytes = options.randomBytes ?? ((size) => cryptoRandomBytes(size));
    this.failures = options.failures ?? new FailureCounter();
  }

  /** Metadata entries that authenticate one call of `method` (full gRPC path) with serialized `body`. */
  async sign(address: string, method: string, body: Uint8Array): Promise<AuthEntries> {
    return this.signNow(address, method, body) ?? this.signWith(await this.sessionFor(address), method, body);
  }

  /**
   * As sign, at once, when a session with `address` is open and usable; undefined when one has to be opened
   * first (then sign). Streams sign every batch: this spares each a turn through the microtask queue.
   */
  signNow(address: string, method: string, body: Uint8Array): AuthEntries | undefined {
    const session = this.usableSession(address);
    return session === undefined ? undefined : this.signWith(session, method, body);
  }

  private signWith(session: ClientSession, method: string, body: Uint8Array): AuthEntries {
    const seq = session.nextSeq++;
    session.lastUsed = this.now();
    return {
      [METADATA_SESSION_ID]: session.id,
      [METADATA_SEQ]: String(seq),
      [METADATA_MAC]: computeCallMac(session.key, method, seq, body).toString("base64"),
    };
  }

  /**
   * Whether `mac` proves the peer answered the call signed with `sent` (call `seq` of `method`) with exactly
   * `answer`: it holds that session's key, so it is the peer the session was opened with, not someone on the
   * path. The caller counts a failure ("bad-answer-mac").
   */
  checkAnswer(sent: AuthEntries, method: string, answer: Uint8Array, mac: Uint8Array | undefined): boolean {
    const key = this.keysById.get(sent[METADATA_SESSION_ID] ?? "");
    const seq = Number(sent[METADATA_SEQ] ?? "0");
    return (
      key !== undefined && mac !== undefined && equalMacs(mac, computeAnswerMac(key, method, seq, answer))
    );
  }

  /**
   * The node (hex ID) that opened the session `sent` was signed in, as its Hello named and proved it: every
   * call signed so reaches that node. Undefined when it named none (an older version) or the session is
   * long gone.
   */
  peerOf(sent: AuthEntries): string | undefined {
    return this.peersById.get(sent[METADATA_SESSION_ID] ?? "");
  }

  /**
   * Rotates the keys a callee's Hello is checked against; sessions opened under a key no longer in them
   * are forgotten, so the next call to their peers opens a new one.
   */
  useKeys(keys: readonly Uint8Array[]): void {
    if (keys.length === 0) throw new RangeError("at least one shared key is needed");
    this.keys = keys;
    for (const [address, session] of this.sessions)
      if (!keys.some((key) => equalMacs(key, session.root))) this.sessions.delete(address);
  }

  /** Forgets the session with `address`; the next call opens a new one. */
  forget(address: string): void {
    this.sessions.delete(address);
  }

  /**
   * Signs and makes one call through `invoke`. When the peer refuses it because the session is lost (see
   * isSessionLost; `lostSession` tells from the error), opens a new session and tries exactly once more.
   * The refused call never ran on the peer, so trying again cannot run it twice.
   */
  async call<T>(
    address: string,
    method: string,
    body: Uint8Array,
    invoke: (entries: AuthEntries) => Promise<T>,
    lostSession: (error: unknown) => boolean,
  ): Promise<T> {
    const entries = await this.sign(address, method, body);
    try {
      return await invoke(entries);
    } catch (error) {
      if (!lostSession(error)) throw error;
      // Only drop the session that failed: a concurrent call may already have opened a new one.
      if (this.sessions.get(address)?.id === entries[METADATA_SESSION_ID]) this.forget(address);
      return invoke(await this.sign(address, method, body));
    }
  }

  /** The session with `address` if it is open and may sign another call; a stale one is forgotten. */
  private usableSession(address: string): ClientSession | undefined {
    const existing = this.sessions.get(address);
    if (existing === undefined) return undefined;
    const fresh = this.now() - existing.lastUsed < this.idleTimeoutMs;
    if (fresh && Number.isSafeInteger(existing.nextSeq + 1)) return existing;
    this.sessions.delete(address);
    return undefined;
  }

  private sessionFor(address: string): Promise<ClientSession> {
    const existing = this.usableSession(address);
    if (existing !== undefined) return Promise.resolve(existing);
    const inFlight = this.opening.get(address);
    if (inFlight !== undefined) return inFlight;
    const opened = this.open(address).finally(() => this.opening.delete(address));
    this.opening.set(address, opened);
    return opened;
  }

  private async open(address: string): Promise<ClientSession> {
    const clientNonce = this.randomBytes(NONCE_BYTES);
    const answer = await this.sendHello(address, { clientNonce });
    // The callee proves with its own key; during a rotation that may be any of ours.
    const root = isAcceptableNonce(answer.serverNonce)
      ? this.keys.find((key) =>
          equalMacs(answer.serverProof, computeServerProof(key, clientNonce, answer.serverNonce)),
        )
      : undefined;
    if (root === undefined) {
      this.failures.record("bad-server-proof");
      throw new ServerProofError(
        `peer ${address} failed the Hello proof: it does not hold the shared secret`,
      );
    }
    const peer = provenPeer(root, clientNonce, answer);
    if (peer === false) {
      this.failures.record("bad-server-proof");
      throw new ServerProofError(`peer ${address} named a node ID in its Hello that it did not prove`);
    }
    const session: ClientSession = {
      root,
      id: answer.sessionId,
      key: deriveSessionKey(root, clientNonce, answer.serverNonce),
      peer,
      nextSeq: 1,
      lastUsed: this.now(),
    };
    this.sessions.delete(address);
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done) break;
      this.sessions.delete(oldest.value);
    }
    this.sessions.set(address, session);
    this.keysById.set(session.id, session.key);
    if (peer !== undefined) this.peersById.set(session.id, peer);
    return session;
  }
}

/**
 * The node (hex ID) a Hello answer names, when its identity proof under `root` matches; undefined when it
 * names none; false when the name is malformed or not proven.
 */
function provenPeer(
  root: Uint8Array,
  clientNonce: Uint8Array,
  answer: HelloAnswer,
): string | false | undefined {
  const nodeId = answer.nodeId ?? new Uint8Array(0);
  const proof = answer.identityProof ?? new Uint8Array(0);
  if (nodeId.length === 0 && proof.length === 0) return undefined;
  if (nodeId.length !== NODE_ID_BYTES) return false;
  const expected = computeIdentityProof(root, clientNonce, answer.serverNonce, nodeId);
  return equalMacs(proof, expected) ? Buffer.from(nodeId).toString("hex") : false;
}
