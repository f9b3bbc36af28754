import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AuthEntries } from "../../src/server/auth/metadata.js";
import {
  METADATA_MAC,
  METADATA_SEQ,
  METADATA_SESSION_ID,
  ServerProofError,
  SessionClient,
  SessionServer,
  computeServerProof,
  isSessionLost,
  type HelloAnswer,
  type HelloChallenge,
  type SessionServerOptions,
  type VerifyOutcome,
} from "../../src/server/auth/session.js";

// Raw 32-byte keys stand in for PassphraseCredentials.sharedKey, keeping scrypt out of these tests.
const KEY = createHash("sha256").update("overlay secret").digest();
const WRONG_KEY = createHash("sha256").update("guessed secret").digest();
const METHOD = "/wendy.v1.PeerService/Probe";
const OTHER_METHOD = "/wendy.v1.PeerService/Join";
const BODY = new TextEncoder().encode("probe payload");

class FakeClock {
  t = 1_000;
  readonly now = (): number => this.t;
}

/** A node's callee side and a caller whose Hellos go straight to it (a stand-in for the Hello RPC). */
function setup(overrides: Partial<SessionServerOptions> = {}, clientKey: Uint8Array = KEY) {
  const clock = new FakeClock();
  const servers = new Map<string, SessionServer>();
  const helloCount = new Map<string, number>();
  const serve = (address: string, opts: Partial<SessionServerOptions> = overrides): SessionServer => {
    const server = new SessionServer({ sharedKey: KEY, now: clock.now, ...opts });
    servers.set(address, server);
    return server;
  };
  const hello = async (address: string, challenge: HelloChallenge): Promise<HelloAnswer> => {
    helloCount.set(address, (helloCount.get(address) ?? 0) + 1);
    const outcome = servers.get(address)?.hello(challenge);
    if (outcome === undefined || !outcome.ok) throw new Error(`hello refused by ${address}`);
    return outcome.answer;
  };
  const client = new SessionClient({ sharedKey: clientKey, hello, now: clock.now });
  return { clock, serve, servers, client, helloCount, hello };
}

function rejectionReason(outcome: VerifyOutcome): string | undefined {
  return outcome.ok ? undefined : outcome.reason;
}

/** What the runtime throws when a callee answers UNAUTHENTICATED: the reason rides along. */
class Refused extends Error {
  constructor(readonly reason: string) {
    super(`UNAUTHENTICATED: ${reason}`);
  }
}
const lostSession = (error: unknown): boolean => error instanceof Refused && isSessionLost(error.reason);

describe("SessionServer and SessionClient", () => {
  it("accepts a signed call and counts no failures", async () => {
    const { serve, client } = setup();
    const server = serve("a:1");
    const entries = await client.sign("a:1", METHOD, BODY);
    expect(server.verify(METHOD, BODY, entries)).toEqual({
      ok: true,
      sessionId: entries[METADATA_SESSION_ID],
    });
    expect(server.failures.snapshot().size).toBe(0);
  });

  it("rejects a captured call replayed to the same node", async () => {
    const { serve, client } = setup();
    const server = serve("a:1");
    const captured = await client.sign("a:1", METHOD, BODY);
    expect(server.verify(METHOD, BODY, captured).ok).toBe(true);
    expect(rejectionReason(server.verify(METHOD, BODY, captured))).toBe("replayed-seq");
    expect(server.failures.get("replayed-seq")).toBe(1);
  });

  it("rejects a captured call sent to another node", async () => {
    const { serve, client } = setup();
    serve("a:1");
    const other = serve("b:1");
    await client.sign("b:1", METHOD, BODY); // the caller has a session with b too
    const captured = await client.sign("a:1", METHOD, BODY);
    expect(rejectionReason(other.verify(METHOD, BODY, captured))).toBe("unknown-session");
  });

  it("rejects a call whose body, method or seq was changed in transit", async () => {
    const { serve, client } = setup();
    const server = serve("a:1");
    const signed = await client.sign("a:1", METHOD, BODY);
    const tamperedBody = new TextEncoder().encode("probe payloaD");
    expect(rejectionReason(server.verify(METHOD, tamperedBody, signed))).toBe("bad-mac");
    expect(rejectionReason(server.verify(OTHER_METHOD, BODY, signed))).toBe("bad-mac");
    expect(rejectionReason(server.verify(METHOD, BODY, { ...signed, [METADATA_SEQ]: "2" }))).toBe("bad-mac");
    expect(server.failures.get("bad-mac")).toBe(3);
    // The forgeries did not burn the genuine seq: the untouched call still goes through once.
    expect(server.verify(METHOD, BODY, signed).ok).toBe(true);
  });

  it("a caller with the wrong secret fails the Hello proof, and its calls would fail the MAC", async () => {
    const { serve, client, hello } = setup({}, WRONG_KEY);
    const server = serve("a:1");
    await expect(client.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
    expect(client.failures.get("bad-server-proof")).toBe(1);
    // An impostor that ignores the proof and signs with the key it derived is still refused.
    const impostor = new SessionClient({
      sharedKey: WRONG_KEY,
      hello: async (address, challenge) => {
        const answer = await hello(address, challenge);
        return {
          ...answer,
          serverProof: computeServerProof(WRONG_KEY, challenge.clientNonce, answer.serverNonce),
        };
      },
    });
    expect(rejectionReason(server.verify(METHOD, BODY, await impostor.sign("a:1", METHOD, BODY)))).toBe(
      "bad-mac",
    );
  });

  it("a callee with the wrong secret cannot pose as a node: the caller rejects its proof", async () => {
    const { serve, client } = setup();
    serve("a:1", { sharedKey: WRONG_KEY });
    await expect(client.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
  });

  it("a man in the middle cannot reuse an old Hello answer or alter the nonces", async () => {
    const { serve, client, hello } = setup();
    serve("a:1");
    const recorded = await hello("a:1", { clientNonce: new Uint8Array(16).fill(7) });
    const replayer = new SessionClient({ sharedKey: KEY, hello: async () => recorded });
    await expect(replayer.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
    const nonceSwapper = new SessionClient({
      sharedKey: KEY,
      hello: async (address, challenge) => {
        const answer = await hello(address, challenge);
        const serverNonce = Uint8Array.from(answer.serverNonce);
        serverNonce[0] = (serverNonce[0] ?? 0) ^ 1;
        return { ...answer, serverNonce };
      },
    });
    await expect(nonceSwapper.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
    // The honest client, unaffected, still gets through.
    expect((await client.sign("a:1", METHOD, BODY))[METADATA_MAC]).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("names the node that answered the Hello for every call signed in its session, and a new node at the address once the old one's session is lost", async () => {
    const { serve, client } = setup();
    const first = new Uint8Array(16).fill(0xa1);
    const second = new Uint8Array(16).fill(0xb2);
    serve("a:1", { nodeId: first });
    const entries = await client.sign("a:1", METHOD, BODY);
    expect(client.peerOf(entries)).toBe("a1".repeat(16));
    // Another process takes the address: the old session is unknown there, the caller says Hello again.
    serve("a:1", { nodeId: second });
    client.forget("a:1");
    const again = await client.sign("a:1", METHOD, BODY);
    expect(client.peerOf(again)).toBe("b2".repeat(16));
    // A call signed in the first session still names the node that session reaches.
    expect(client.peerOf(entries)).toBe("a1".repeat(16));
  });

  it("names no node for a server that does not say (an older version)", async () => {
    const { serve, client } = setup();
    serve("a:1");
    expect(client.peerOf(await client.sign("a:1", METHOD, BODY))).toBeUndefined();
  });

  it("fails the Hello of a server whose named node ID was changed in transit, dropped from under its proof, or is not 16 bytes", async () => {
    const { serve, hello } = setup();
    serve("a:1", { nodeId: new Uint8Array(16).fill(0xa1) });
    const altered = (change: (answer: HelloAnswer) => HelloAnswer): SessionClient =>
      new SessionClient({ sharedKey: KEY, hello: async (a, c) => change(await hello(a, c)) });
    const swapped = altered((answer) => ({ ...answer, nodeId: new Uint8Array(16).fill(0xc3) }));
    await expect(swapped.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
    expect(swapped.failures.snapshot().get("bad-server-proof")).toBe(1);
    const unproven = altered((answer) => ({ ...answer, identityProof: new Uint8Array(0) }));
    await expect(unproven.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
    const short = altered((answer) => ({ ...answer, nodeId: answer.nodeId?.subarray(0, 8) }));
    await expect(short.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
    const stripped = altered((answer) => ({ ...answer, nodeId: undefined }));
    await expect(stripped.sign("a:1", METHOD, BODY)).rejects.toThrow(ServerProofError);
  });

  it("refuses calls without session metadata or with a malformed seq", async () => {
    const { serve, client } = setup();
    const server = serve("a:1");
    const signed = await client.sign("a:1", METHOD, BODY);
    const withoutMac: AuthEntries = {
      [METADATA_SESSION_ID]: signed[METADATA_SESSION_ID] ?? "",
      [METADATA_SEQ]: "1",
    };
    expect(rejectionReason(server.verify(METHOD, BODY, withoutMac))).toBe("missing-metadata");
    for (const seq of ["0", "-1", "1.5", "01", "99999999999999999", "x"]) {
      expect(rejectionReason(server.verify(METHOD, BODY, { ...signed, [METADATA_SEQ]: seq }))).toBe(
        "malformed-metadata",
      );
    }
  });

  it("rejects a seq that has fallen out of the 1024-wide window", async () => {
    const { serve, client } = setup();
    const server = serve("a:1");
    const first = await client.sign("a:1", METHOD, BODY);
    let last = first;
    for (let i = 0; i < 1024; i++) last = await client.sign("a:1", METHOD, BODY);
    expect(server.verify(METHOD, BODY, last).ok).toBe(true); // seq 1025
    expect(rejectionReason(server.verify(METHOD, BODY, first))).toBe("seq-too-old");
  });

  it("opens one session for concurrent first calls to the same peer", async () => {
    const { serve, client, helloCount } = setup();
    const server = serve("a:1");
    const signed = await Promise.all([1, 2, 3].map(() => client.sign("a:1", METHOD, BODY)));
    expect(helloCount.get("a:1")).toBe(1);
    expect(new Set(signed.map((e) => e[METADATA_SEQ]))).toEqual(new Set(["1", "2", "3"]));
    // Out-of-order arrival, as concurrent HTTP/2 streams may deliver them.
    for (const entries of [...signed].reverse()) expect(server.verify(METHOD, BODY, entries).ok).toBe(true);
  });

  it("expires a session after idle time on the monotonic clock, and the client re-Hellos", async () => {
    const { serve, client, clock, helloCount } = setup({ idleTimeoutMs: 10_000 });
    const server = serve("a:1");
    const early = await client.sign("a:1", METHOD, BODY);
    expect(server.verify(METHOD, BODY, early).ok).toBe(true);
    const stale = await client.sign("a:1", METHOD, BODY);
    clock.t += 10_000;
    const outcome = server.verify(METHOD, BODY, stale);
    expect(rejectionReason(outcome)).toBe("expired-session");
    expect(isSessionLost(rejectionReason(outcome))).toBe(true);
    const invoke = async (entries: AuthEntries): Promise<string> => {
      const result = server.verify(METHOD, BODY, entries);
      if (!result.ok) throw new Refused(result.reason);
      return result.sessionId;
    };
    const sessionId = await client.call("a:1", METHOD, BODY, invoke, lostSession);
    expect(sessionId).not.toBe(early[METADATA_SESSION_ID]);
    expect(helloCount.get("a:1")).toBe(2);
  });

  it("keeps a session alive while it is used within the idle time", async () => {
    const { serve, client, clock } = setup({ idleTimeoutMs: 10_000 });
    const server = serve("a:1");
    for (let i = 0; i < 5; i++) {
      clock.t += 9_000;
      expect(server.verify(METHOD, BODY, await client.sign("a:1", METHOD, BODY)).ok).toBe(true);
    }
  });

  it("re-Hellos once when the callee restarted and lost the session, without retrying other refusals", async () => {
    const { serve, client, helloCount } = setup();
    let server = serve("a:1");
    expect(server.verify(METHOD, BODY, await client.sign("a:1", METHOD, BODY)).ok).toBe(true);
    server = serve("a:1"); // restart: same secret, empty session table
    let calls = 0;
    const invoke = async (entries: AuthEntries): Promise<string> => {
      calls++;
      const result = server.verify(METHOD, BODY, entries);
      if (!result.ok) throw new Refused(result.reason);
      return "done";
    };
    expect(await client.call("a:1", METHOD, BODY, invoke, lostSession)).toBe("done");
    expect(calls).toBe(2);
    expect(helloCount.get("a:1")).toBe(2);

    calls = 0;
    const tampering = async (entries: AuthEntries): Promise<string> => {
      calls++;
      const result = server.verify(OTHER_METHOD, BODY, entries);
      if (!result.ok) throw new Refused(result.reason);
      return "unreachable";
    };
    await expect(client.call("a:1", METHOD, BODY, tampering, lostSession)).rejects.toThrow("bad-mac");
    expect(calls).toBe(1);
  });

  it("bounds memory under a Hello flood without evicting sessions in use", async () => {
    const { serve, client } = setup();
    const server = serve("a:1", {
      maxPendingSessions: 8,
      maxActiveSessions: 4,
      maxHellosPerSecond: Infinity,
    });
    expect(server.verify(METHOD, BODY, await client.sign("a:1", METHOD, BODY)).ok).toBe(true);
    const flood = new Uint8Array(16);
    let answered = 0;
    let mostHeld = 0;
    for (let i = 0; i < 1_000; i++) {
      flood[0] = i & 0xff;
      if (server.hello({ clientNonce: flood }).ok) answered++;
      mostHeld = Math.max(mostHeld, server.sessionCount);
    }
    expect(answered).toBe(1_000);
    expect(mostHeld).toBe(8 + 1); // the flood's 8 pending sessions plus the one in use
    expect(server.verify(METHOD, BODY, await client.sign("a:1", METHOD, BODY)).ok).toBe(true);
  });

  it("evicts the least recently used active session when the active limit is reached", async () => {
    const { serve, hello, clock } = setup();
    const server = serve("a:1", { maxActiveSessions: 2 });
    const callers = [0, 1, 2].map(() => new SessionClient({ sharedKey: KEY, hello, now: clock.now }));
    const [c0, c1, c2] = callers as [SessionClient, SessionClient, SessionClient];
    expect(server.verify(METHOD, BODY, await c0.sign("a:1", METHOD, BODY)).ok).toBe(true);
    expect(server.verify(METHOD, BODY, await c1.sign("a:1", METHOD, BODY)).ok).toBe(true);
    expect(server.verify(METHOD, BODY, await c0.sign("a:1", METHOD, BODY)).ok).toBe(true); // c1 now oldest
    expect(server.verify(METHOD, BODY, await c2.sign("a:1", METHOD, BODY)).ok).toBe(true);
    expect(rejectionReason(server.verify(METHOD, BODY, await c1.sign("a:1", METHOD, BODY)))).toBe(
      "unknown-session",
    );
    expect(server.verify(METHOD, BODY, await c0.sign("a:1", METHOD, BODY)).ok).toBe(true);
    expect(server.sessionCount).toBe(2);
  });

  it("caps Hellos per second globally on the monotonic clock", () => {
    const { serve, clock } = setup();
    const server = serve("a:1", { maxHellosPerSecond: 5 });
    const nonce = new Uint8Array(16);
    const answered = () => Array.from({ length: 8 }, () => server.hello({ clientNonce: nonce }).ok);
    expect(answered().filter(Boolean)).toHaveLength(5);
    const refused = server.hello({ clientNonce: nonce });
    expect(refused).toEqual({ ok: false, code: "RESOURCE_EXHAUSTED", reason: "hello-rate-limited" });
    clock.t += 1_000;
    expect(answered().filter(Boolean)).toHaveLength(5);
    expect(server.failures.get("hello-rate-limited")).toBe(7);
  });

  it("refuses Hello nonces that are too short or too long", () => {
    const { serve } = setup();
    const server = serve("a:1");
    expect(server.hello({ clientNonce: new Uint8Array(15) })).toMatchObject({
      ok: false,
      reason: "bad-nonce",
    });
    expect(server.hello({ clientNonce: new Uint8Array(65) })).toMatchObject({
      ok: false,
      reason: "bad-nonce",
    });
    expect(server.hello({ clientNonce: new Uint8Array(64) }).ok).toBe(true);
  });

  it("counts failures by reason in a snapshot the runtime can export", async () => {
    const { serve, client } = setup();
    const server = serve("a:1");
    const signed = await client.sign("a:1", METHOD, BODY);
    server.verify(METHOD, BODY, signed);
    server.verify(METHOD, BODY, signed);
    server.verify(METHOD, BODY, {});
    server.verify(METHOD, BODY, { ...signed, [METADATA_SESSION_ID]: "00" });
    const snapshot = server.failures.snapshot();
    expect(Object.fromEntries(snapshot)).toEqual({
      "replayed-seq": 1,
      "missing-metadata": 1,
      "unknown-session": 1,
    });
    server.verify(METHOD, BODY, {});
    expect(snapshot.get("missing-metadata")).toBe(1);
  });
});
