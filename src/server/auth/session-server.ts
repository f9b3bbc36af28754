// Callee side of the session protocol: answers Hellos, then verifies every signed call.
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import { FailureCounter, type AuthFailureReason, type AuthRejection } from "./failures.js";
import type { AuthEntries } from "./metadata.js";
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from "./replay-window.js";
import {
  METADATA_MAC,
  METADATA_SEQ,
  METADATA_SESSION_ID,
  SESSION_ID_BYTES,
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
import { DEFAULT_MAX_HELLOS_PER_SECOND_PER_SOURCE, HelloLimiter } from "./hello-limiter.js";

export interface SessionServerOptions {
  /** The 32-byte shared key (PassphraseCredentials.sharedKey). */
  readonly sharedKey: Uint8Array;
  /** This node's 16-byte ID, named (and proven) in every Hello answer; absent: none named. */
  readonly nodeId?: Uint8Array;
  /** Monotonic milliseconds; never wall-clock time, which can jump. */
  readonly now?: () => number;
  /** A session unused for this long is forgotten. */
  readonly idleTimeoutMs?: number;
  /** Most sessions that have carried at least one verified call. */
  readonly maxActiveSessions?: number;
  /** Most sessions issued by Hello but not used yet: the only kind a peer without the secret can create. */
  readonly maxPendingSessions?: number;
  /** Global cap on Hellos answered per second (burst of the same size); Infinity for none. */
  readonly maxHellosPerSecond?: number;
  /** Cap on Hellos answered per second from one source address, under the global one. */
  readonly maxHellosPerSecondPerSource?: number;
  readonly replayWindow?: number;
  readonly randomBytes?: (size: number) => Uint8Array;
  /** Shared with the runtime so it can export the counts as a metric. */
  readonly failures?: FailureCounter;
}

export const DEFAULT_SERVER_IDLE_TIMEOUT_MS = 5 * 60_000;
export const DEFAULT_MAX_ACTIVE_SESSIONS = 4096;
export const DEFAULT_MAX_PENDING_SESSIONS = 1024;
export const DEFAULT_MAX_HELLOS_PER_SECOND = 500;

export type HelloOutcome =
  | { readonly ok: true; readonly answer: HelloAnswer }
  | {
      readonly ok: false;
      readonly code: "UNAUTHENTICATED" | "RESOURCE_EXHAUSTED";
      readonly reason: AuthFailureReason;
    };

export type VerifyOutcome = { readonly ok: true; readonly sessionId: string } | AuthRejection;

interface ServerSession {
  /** The shared key the session was opened under (to drop it when that key is retired). */
  readonly root: Uint8Array;
  readonly key: Buffer;
  readonly window: ReplayWindow;
  lastUsed: number;
}

const SEQ_RE = /^[1-9][0-9]{0,15}$/;
const MAX_SEQ = BigInt(Number.MAX_SAFE_INTEGER);

export class SessionServer {
  readonly failures: FailureCounter;
  private sharedKey: Uint8Array;
  private readonly nodeId: Uint8Array | undefined;
  private readonly now: () => number;
  private readonly idleTimeoutMs: number;
  private readonly maxActive: number;
  private readonly maxPending: number;
  private readonly windowSize: number;
  private readonly randomBytes: (size: number) => Uint8Array;
  private readonly helloBudget: HelloLimiter;
  // Both maps are kept in least-recently-used-first order (a touched entry is re-inserted at the end),
  // so eviction and expiry sweeps start at the front.
  private readonly pending = new Map<string, ServerSession>();
  private readonly active = new Map<string, ServerSession>();

  constructor(options: SessionServerOptions) {
    this.sharedKey = options.sharedKey;
    this.nodeId = options.nodeId;
    this.now = options.now ?? (() => performance.now());
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_SERVER_IDLE_TIMEOUT_MS;
    this.maxActive = options.maxActiveSessions ?? DEFAULT_MAX_ACTIVE_SESSIONS;
    this.maxPending = options.maxPendingSessions ?? DEFAULT_MAX_PENDING_SESSIONS;
    this.windowSize = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    this.randomBytes = options.randomBytes ?? ((size) => cryptoRandomBytes(size));
    this.failures = options.failures ?? new FailureCounter();
    this.helloBudget = new HelloLimiter(
      {
        perSecond: options.maxHellosPerSecond ?? DEFAULT_MAX_HELLOS_PER_SECOND,
        perSecondPerSource: options.maxHellosPerSecondPerSource ?? DEFAULT_MAX_HELLOS_PER_SECOND_PER_SOURCE,
      },
      this.now(),
    );
    if (this.maxActive < 1 || this.maxPending < 1) throw new RangeError("session limits must be >= 1");
  }

  /** Number of sessions held (pending and active); never more than the two limits together. */
  get sessionCount(): number {
    return this.pending.size + this.active.size;
  }

  /**
   * Answers a Hello: a new session the caller can use once it has checked `serverProof`. `source` is the
   * caller's address as sourceOfPeer gives it (undefined: only the global rate limit applies).
   */
  hello(challenge: HelloChallenge, source?: string): HelloOutcome {
    const now = this.now();
    if (!this.helloBudget.take(source, now))
      return this.refuseHello("RESOURCE_EXHAUSTED", "hello-rate-limited");
    if (!isAcceptableNonce(challenge.clientNonce)) return this.refuseHello("UNAUTHENTICATED", "bad-nonce");
    this.sweepExpired(this.pending, now);
    while (this.pending.size >= this.maxPending) this.evictOldest(this.pending);

    const serverNonce = this.randomBytes(NONCE_BYTES);
    const sessionId = Buffer.from(this.randomBytes(SESSION_ID_BYTES)).toString("hex");
    this.pending.set(sessionId, {
      root: this.sharedKey,
      key: deriveSessionKey(this.sharedKey, challenge.clientNonce, serverNonce),
      window: new ReplayWindow(this.windowSize),
      lastUsed: now,
    });
    const serverProof = computeServerProof(this.sharedKey, challenge.clientNonce, serverNonce);
    const nodeId = this.nodeId;
    if (nodeId === undefined) return { ok: true, answer: { serverNonce, sessionId, serverProof } };
    const identityProof = computeIdentityProof(this.sharedKey, challenge.clientNonce, serverNonce, nodeId);
    return { ok: true, answer: { serverNonce, sessionId, serverProof, nodeId, identityProof } };
  }

  /**
   * Rotates the shared key: Hellos from now on are proven with `sharedKey`; sessions opened under a key
   * not in `accepted` (sharedKey is always kept) are forgotten, so their callers open new ones.
   */
  useKeys(sharedKey: Uint8Array, accepted: readonly Uint8Array[] = []): void {
    this.sharedKey = sharedKey;
    const kept = [sharedKey, ...accepted];
    for (const sessions of [this.pending, this.active])
      for (const [id, session] of sessions)
        if (!kept.some((key) => equalMacs(key, session.root))) sessions.delete(id);
  }

  /**
   * Verifies a signed call: `method` is the full gRPC path, `body` the serialized request bytes, `entries`
   * the call's session metadata. The replay window only moves after the MAC checks out, so forged calls
   * cannot burn sequence numbers.
   */
  verify(method: string, body: Uint8Array, entries: AuthEntries): VerifyOutcome {
    const sessionId = entries[METADATA_SESSION_ID];
    const seqText = entries[METADATA_SEQ];
    const macText = entries[METADATA_MAC];
    if (sessionId === undefined || seqText === undefined || macText === undefined) {
      return this.reject("missing-metadata");
    }
    if (!SEQ_RE.test(seqText) || !Number.isSafeInteger(Number(seqText)))
      return this.reject("malformed-metadata");
    return this.verifySigned(method, body, sessionId, Number(seqText), Buffer.from(macText, "base64"));
  }

  /**
   * Verifies one RouteStream batch: as verify, with the sequence number and MAC as the batch carries them
   * (a protobuf uint64 and bytes) rather than as metadata text.
   */
  verifyBatch(
    method: string,
    body: Uint8Array,
    sessionId: string,
    seq: bigint,
    mac: Uint8Array,
  ): VerifyOutcome {
    // The same range SEQ_RE and the safe-integer check allow for metadata: 1 up to 2^53 - 1.
    if (seq < 1n || seq > MAX_SEQ) return this.reject("malformed-metadata");
    return this.verifySigned(method, body, sessionId, Number(seq), mac);
  }

  private verifySigned(
    method: string,
    body: Uint8Array,
    sessionId: string,
    seq: number,
    mac: Uint8Array,
  ): VerifyOutcome {
    const now = this.now();
    const found = this.lookup(sessionId, now);
    if (found === "unknown" || found === "expired") {
      return this.reject(found === "unknown" ? "unknown-session" : "expired-session");
    }
    if (!equalMacs(mac, computeCallMac(found.key, method, seq, body))) return this.reject("bad-mac");

    const verdict = found.window.accept(seq);
    if (verdict === "replayed") return this.reject("replayed-seq");
    if (verdict === "too-old") return this.reject("seq-too-old");
    if (verdict === "invalid") return this.reject("malformed-metadata");
    this.touch(sessionId, found, now);
    return { ok: true, sessionId };
  }

  /**
   * The MAC over this node's `answer` to call `seq` of `method` on session `sessionId` (a call verify just
   * accepted), which the caller checks before it takes the answer; undefined for a session no longer held.
   */
  answerMac(sessionId: string, method: string, seq: number, answer: Uint8Array): Buffer | undefined {
    const session = this.active.get(sessionId) ?? this.pending.get(sessionId);
    return session === undefined ? undefined : computeAnswerMac(session.key, method, seq, answer);
  }

  private lookup(sessionId: string, now: number): ServerSession | "unknown" | "expired" {
    const session = this.active.get(sessionId) ?? this.pending.get(sessionId);
    if (session === undefined) return "unknown";
    if (now - session.lastUsed >= this.idleTimeoutMs) {
      this.active.delete(sessionId);
      this.pending.delete(sessionId);
      return "expired";
    }
    return session;
  }

  /** Marks a session used: a pending one becomes active, and it moves to the most-recent end. */
  private touch(sessionId: string, session: ServerSession, now: number): void {
    session.lastUsed = now;
    this.pending.delete(sessionId);
    this.active.delete(sessionId);
    this.sweepExpired(this.active, now);
    while (this.active.size >= this.maxActive) this.evictOldest(this.active);
    this.active.set(sessionId, session);
  }

  private sweepExpired(sessions: Map<string, ServerSession>, now: number): void {
    for (const [id, session] of sessions) {
      if (now - session.lastUsed < this.idleTimeoutMs) break;
      sessions.delete(id);
    }
  }

  private evictOldest(sessions: Map<string, ServerSession>): void {
    const oldest = sessions.keys().next();
    if (!oldest.done) sessions.delete(oldest.value);
  }

  private refuseHello(
    code: "UNAUTHENTICATED" | "RESOURCE_EXHAUSTED",
    reason: AuthFailureReason,
  ): HelloOutcome {
    this.failures.record(reason);
    return { ok: false, code, reason };
  }

  private reject(reason: AuthFailureReason): AuthRejection {
    this.failures.record(reason);
    return { ok: false, code: "UNAUTHENTICATED", reason };
  }
}
