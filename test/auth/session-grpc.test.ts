// The session protocol end to end over a real grpc-js connection on loopback: metadata helpers, the
// trailing failure reason, and the client's transparent re-Hello after the callee forgets the session.
import * as grpc from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BEARER_METADATA_KEYS, bearerEntries, verifyBearer } from "../../src/server/auth/bearer.js";
import type { Credentials } from "../../src/server/auth/credentials.js";
import { FailureCounter, type AuthRejection } from "../../src/server/auth/failures.js";
import { readAuthEntries, writeAuthEntries } from "../../src/server/auth/metadata.js";
import {
  METADATA_AUTH_FAILURE,
  SESSION_METADATA_KEYS,
  SessionClient,
  SessionServer,
  isSessionLost,
  type HelloAnswer,
  type HelloChallenge,
} from "../../src/server/auth/session.js";
import {
  ECHO_PATH,
  EchoClient,
  echoService,
  rawUnaryMethod,
  startServer,
  unaryCall,
  type UnaryHandler,
} from "./grpc-echo.js";

const KEY = createHash("sha256").update("overlay secret").digest();
const HELLO_PATH = "/wendy.test.Echo/Hello";
const BEARER_PATH = "/wendy.test.Echo/Bearer";
const PAYLOAD = Buffer.from("route me");

const service: grpc.ServiceDefinition = {
  ...echoService,
  hello: rawUnaryMethod(HELLO_PATH),
  bearer: rawUnaryMethod(BEARER_PATH),
};

// Hello over raw bytes for this test: client nonce in; server nonce (16) | proof (32) | session id out.
function encodeAnswer(answer: HelloAnswer): Buffer {
  return Buffer.concat([answer.serverNonce, answer.serverProof, Buffer.from(answer.sessionId)]);
}
function decodeAnswer(bytes: Buffer): HelloAnswer {
  return {
    serverNonce: bytes.subarray(0, 16),
    serverProof: bytes.subarray(16, 48),
    sessionId: bytes.subarray(48).toString(),
  };
}

function refusal(rejection: AuthRejection): Partial<grpc.StatusObject> {
  return {
    code: grpc.status.UNAUTHENTICATED,
    details: rejection.reason,
    metadata: writeAuthEntries({ [METADATA_AUTH_FAILURE]: rejection.reason }),
  };
}

function failureReason(error: unknown): string | undefined {
  if (!(error instanceof Error) || !("metadata" in error) || !(error.metadata instanceof grpc.Metadata))
    return undefined;
  const value = error.metadata.get(METADATA_AUTH_FAILURE)[0];
  return typeof value === "string" ? value : undefined;
}

const tokenCredentials = (token: string): Credentials => ({
  marshal: () => Buffer.from(token),
  valid: (bytes) => Buffer.from(bytes).toString() === token,
});

describe("sessions over grpc-js", () => {
  let sessions = new SessionServer({ sharedKey: KEY });
  const bearerFailures = new FailureCounter();
  let server: grpc.Server | undefined;
  let address = "";
  let client: grpc.Client | undefined;
  let hellos = 0;

  const handlers: Record<string, UnaryHandler> = {
    hello: (call, callback) => {
      const outcome = sessions.hello({ clientNonce: call.request });
      if (outcome.ok) callback(null, encodeAnswer(outcome.answer));
      else callback({ code: grpc.status.UNAUTHENTICATED, details: outcome.reason });
    },
    // The handler sees the serialized request bytes (identity deserializer), exactly what was signed.
    echo: (call, callback) => {
      const outcome = sessions.verify(
        ECHO_PATH,
        call.request,
        readAuthEntries(call.metadata, SESSION_METADATA_KEYS),
      );
      if (outcome.ok) callback(null, call.request);
      else callback(refusal(outcome));
    },
    bearer: (call, callback) => {
      const entries = readAuthEntries(call.metadata, BEARER_METADATA_KEYS);
      const outcome = verifyBearer(tokenCredentials("let me in"), entries, bearerFailures);
      if (outcome.ok) callback(null, call.request);
      else callback(refusal(outcome));
    },
  };

  const sendHello = async (_address: string, challenge: HelloChallenge): Promise<HelloAnswer> => {
    hellos++;
    return decodeAnswer(await unaryCall(client!, HELLO_PATH, Buffer.from(challenge.clientNonce)));
  };
  const callEcho = (entries: Record<string, string>): Promise<Buffer> =>
    unaryCall(client!, ECHO_PATH, PAYLOAD, writeAuthEntries(entries));

  beforeAll(async () => {
    ({ server, address } = await startServer(grpc.ServerCredentials.createInsecure(), handlers, service));
    client = new EchoClient(address, grpc.credentials.createInsecure());
  });
  afterAll(() => {
    client?.close();
    server?.forceShutdown();
  });

  it("serves a signed call and refuses the same call replayed, naming the reason", async () => {
    const caller = new SessionClient({ sharedKey: KEY, hello: sendHello });
    const entries = await caller.sign(address, ECHO_PATH, PAYLOAD);
    expect((await callEcho(entries)).toString()).toBe("route me");
    const replay = callEcho(entries);
    await expect(replay).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect(failureReason(await replay.catch((error: unknown) => error))).toBe("replayed-seq");
  });

  it("opens a new session by itself after the callee restarts", async () => {
    const caller = new SessionClient({ sharedKey: KEY, hello: sendHello });
    const lost = (error: unknown): boolean => isSessionLost(failureReason(error));
    await caller.call(address, ECHO_PATH, PAYLOAD, callEcho, lost);
    const hellosBefore = hellos;
    sessions = new SessionServer({ sharedKey: KEY }); // the callee's session table is gone
    const reply = await caller.call(address, ECHO_PATH, PAYLOAD, callEcho, lost);
    expect(reply.toString()).toBe("route me");
    expect(hellos).toBe(hellosBefore + 1);
    expect(sessions.failures.get("unknown-session")).toBe(1);
  });

  it("carries custom bearer credentials in metadata and checks them with valid()", async () => {
    const good = unaryCall(
      client!,
      BEARER_PATH,
      PAYLOAD,
      writeAuthEntries(bearerEntries(tokenCredentials("let me in"))),
    );
    expect((await good).toString()).toBe("route me");
    const bad = unaryCall(
      client!,
      BEARER_PATH,
      PAYLOAD,
      writeAuthEntries(bearerEntries(tokenCredentials("guess"))),
    );
    expect(failureReason(await bad.catch((error: unknown) => error))).toBe("bad-bearer-token");
    expect(bearerFailures.get("bad-bearer-token")).toBe(1);
  });
});
