// A hand-driven PeerService caller for hostile-input tests: it opens sessions and signs exactly the bytes
// it is given (so malformed bodies pass authentication and reach the decoder), and can replay a call.
import { randomBytes } from "node:crypto";
import { Client, Metadata, credentials as grpcCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { PeerServiceService } from "../../../src/gen/wendy/v1/peer.js";
import { PassphraseCredentials } from "../../../src/server/auth/credentials.js";
import {
  METADATA_AUTH_FAILURE,
  METADATA_MAC,
  METADATA_SEQ,
  METADATA_SESSION_ID,
  computeCallMac,
  deriveSessionKey,
} from "../../../src/server/auth/session-protocol.js";
import { HealthCheckRequest, HealthCheckResponse } from "../../../src/gen/grpc/health/v1/health.js";

/** The key the test fixture's nodes derive from `secret` (it uses a cheap scrypt cost for speed). */
export function fixtureKey(secret: string): Uint8Array {
  return new PassphraseCredentials(secret, { N: 1024, r: 8, p: 1 }).sharedKey;
}

export interface CallOutcome {
  readonly code: status;
  readonly details: string;
  /** The reason a refused call carried in its trailers (wendy-auth-failure), if any. */
  readonly authFailure?: string;
}

/** One signed call exactly as it went on the wire, so it can be sent again. */
export interface CapturedCall {
  readonly path: string;
  readonly body: Buffer;
  readonly entries: Readonly<Record<string, string>>;
}

interface Session {
  readonly id: string;
  readonly key: Buffer;
  nextSeq: number;
}

const identity = (b: Buffer): Buffer => b;
/** Room for oversized bodies: the node's own gRPC limit is what we want to hit, not ours. */
const CLIENT_LIMIT = 64 * 1024 * 1024;

export class PeerCaller {
  private readonly client: Client;
  private session: Session | undefined;

  constructor(
    readonly address: string,
    private readonly key: Uint8Array,
  ) {
    this.client = new Client(address, grpcCredentials.createInsecure(), {
      "grpc.max_send_message_length": CLIENT_LIMIT,
      "grpc.max_receive_message_length": CLIENT_LIMIT,
    });
  }

  close(): void {
    this.client.close();
  }

  /** Sends `body` on `path` with exactly the given metadata entries (none: an unauthenticated call). */
  raw(path: string, body: Buffer, entries: Readonly<Record<string, string>> = {}, timeoutMs = 10_000) {
    const metadata = new Metadata();
    for (const [k, v] of Object.entries(entries)) metadata.set(k, v);
    return new Promise<CallOutcome & { reply?: Buffer }>((resolve) => {
      this.client.makeUnaryRequest(
        path,
        identity,
        identity,
        body,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, reply?: Buffer) => {
          if (error === null) return resolve({ code: status.OK, details: "", reply });
          const reason = error.metadata?.get(METADATA_AUTH_FAILURE)[0];
          resolve({
            code: error.code,
            details: error.details,
            authFailure: typeof reason === "string" ? reason : undefined,
          });
        },
      );
    });
  }

  /** A Hello with the given body bytes (a well-formed one when omitted). */
  async hello(body?: Buffer): Promise<CallOutcome & { reply?: Buffer }> {
    return this.raw(PeerServiceService.hello.path, body ?? helloBody(randomBytes(16)));
  }

  /** Opens a session (Hello), keyed with this caller's key, whether or not the node shares it. */
  async openSession(): Promise<void> {
    const clientNonce = randomBytes(16);
    const outcome = await this.raw(PeerServiceService.hello.path, helloBody(clientNonce));
    if (outcome.code !== status.OK || outcome.reply === undefined) {
      throw new Error(`Hello refused: ${status[outcome.code]} ${outcome.details}`);
    }
    const answer = PeerServiceService.hello.responseDeserialize(outcome.reply);
    this.session = {
      id: answer.sessionId,
      key: deriveSessionKey(this.key, clientNonce, answer.serverNonce),
      nextSeq: 1,
    };
  }

  /** Signs `body` for `path` on the current session (opened on first use) and sends it. */
  async signed(
    path: string,
    body: Buffer,
    timeoutMs = 10_000,
  ): Promise<CallOutcome & { call: CapturedCall }> {
    if (this.session === undefined) await this.openSession();
    const session = this.session!;
    const seq = session.nextSeq++;
    const entries = {
      [METADATA_SESSION_ID]: session.id,
      [METADATA_SEQ]: String(seq),
      [METADATA_MAC]: computeCallMac(session.key, path, seq, body).toString("base64"),
    };
    const outcome = await this.raw(path, body, entries, timeoutMs);
    return { ...outcome, call: { path, body, entries } };
  }

  /** grpc.health.v1 Check of the whole server (""). */
  async health(): Promise<CallOutcome & { serving?: number }> {
    const body = Buffer.from(HealthCheckRequest.encode({ service: "" }).finish());
    const outcome = await this.raw("/grpc.health.v1.Health/Check", body);
    if (outcome.reply === undefined) return outcome;
    return { ...outcome, serving: HealthCheckResponse.decode(outcome.reply).status };
  }
}

export function helloBody(clientNonce: Uint8Array, sender?: Parameters<typeof wireNode>[0]): Buffer {
  return PeerServiceService.hello.requestSerialize({
    sender: wireNode(sender ?? {}),
    clientNonce: Buffer.from(clientNonce),
  });
}

/** A wire NodeInfo for a made-up peer (loopback only), with any field overridden. */
export function wireNode(
  fields: Partial<{
    id: Buffer;
    localAddress: string;
    globalAddress: string;
    region: string;
    incarnation: bigint;
  }>,
) {
  return {
    id: fields.id ?? randomBytes(16),
    localAddress: fields.localAddress ?? "127.0.0.99:9",
    globalAddress: fields.globalAddress ?? "127.0.0.99:9",
    region: fields.region ?? "",
    incarnation: fields.incarnation ?? 1n,
  };
}
