// The callee's side of KvPeerService.KvStream (the caller's is peer-stream.ts): the stream is authenticated as
// it opens and each batch of calls on its own (session sequence number and MAC over the exact batch bytes, as
// RouteStream's); each call then runs exactly as its unary method would (runKvCall), and the answers ready in
// one turn of the event loop leave in one signed response. No HTTP/2 stream, headers or trailers per call.
import { Metadata, status, type ServerDuplexStream } from "@grpc/grpc-js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  KvPeerServiceService,
  KvStreamAnswer,
  KvStreamBatch,
  KvStreamRequest,
  type KvStreamCall,
} from "../../gen/wendy/v1/kv_peer.js";
import { METADATA_AUTH_FAILURE, METADATA_SEQ, METADATA_SESSION_ID } from "../auth/session-protocol.js";
import type { CallVerifier } from "../transport/call-auth.js";
import { IncomingStreams } from "../transport/incoming-streams.js";
import type { SenderCheck } from "../transport/peer-service-hooks.js";
import { METADATA_REFUSED } from "../errors.js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import { asError } from "../../shared/as-error.js";
import { encodeToBuffer, type Encoder } from "../../wire/shared-writer.js";
import type { NodeInfo as NodeInfoWire } from "../../gen/wendy/v1/types.js";
import { runKvCall, type KvCallOutcome, type KvPeerHandlers } from "./peer-service.js";

export const KV_STREAM_PATH = KvPeerServiceService.kvStream.path;
/** Calls in progress on one stream at most; more are answered RESOURCE_EXHAUSTED at once (kv_peer.proto). */
export const MAX_CALLS_IN_PROGRESS = 1024;
const EMPTY = new Uint8Array(0);
/** KvStreamResponse's fields, length-delimited: answers (1) and mac (2). */
const ANSWERS_TAG = (1 << 3) | 2;
export const MAC_TAG = (2 << 3) | 2;
/** A KvStreamResponse of answers already encoded one by one (as they came), without its mac. */
const ANSWERS: Encoder<readonly Uint8Array[]> = {
  encode: (answers, writer = new BinaryWriter()) => {
    for (const bytes of answers) writer.uint32(ANSWERS_TAG).bytes(bytes);
    return writer;
  },
};
/** The same response with its mac appended (concatenated messages merge their fields). */
const SIGNED: Encoder<{ readonly unsigned: Uint8Array; readonly mac: Uint8Array }> = {
  encode: ({ unsigned, mac }, writer = new BinaryWriter()) => writer.raw(unsigned).uint32(MAC_TAG).bytes(mac),
};

export interface KvStreamServerOptions {
  readonly verifier: CallVerifier;
  readonly handlers: () => KvPeerHandlers | undefined;
  /** Under per-node identities: a call whose sender the connection's certificate does not back is refused. */
  readonly checkSender?: SenderCheck;
  /** Bytes of answers per response at most (beyond one answer, which always goes). */
  readonly maxResponseBytes: number;
}

/** Every incoming KvStream, so that a stopping node can end them (peers keep theirs open while they live). */
export class KvStreamReceivers {
  private readonly streams = new IncomingStreams<StreamAnswers>();

  constructor(private readonly options: KvStreamServerOptions) {}

  /** The gRPC handler of KvPeerService.KvStream. */
  readonly handler = (call: ServerDuplexStream<Buffer, Buffer>): void => {
    const answers = new StreamAnswers(call, this.options.maxResponseBytes);
    this.streams.add(call, answers);
    serve(call, answers, this.options);
  };

  get size(): number {
    return this.streams.size;
  }

  /** Ends every incoming stream, after writing the answers ready (a graceful stop waits for open calls). */
  endAll(): void {
    this.streams.endAll();
  }
}

function serve(
  call: ServerDuplexStream<Buffer, Buffer>,
  answers: StreamAnswers,
  options: KvStreamServerOptions,
): void {
  const refuse = (code: status, details: string, metadata?: Metadata): void => {
    answers.flush();
    call.emit("error", { code, details, metadata });
  };
  const opened = options.verifier.verify(KV_STREAM_PATH, EMPTY, call.metadata);
  if (!opened.ok) {
    const metadata = new Metadata();
    metadata.set(METADATA_AUTH_FAILURE, opened.reason);
    // Nothing of this stream ran: its caller may send the same calls again on a new one.
    metadata.set(METADATA_REFUSED, "stream refused");
    return refuse(status.UNAUTHENTICATED, `authentication failed: ${opened.reason}`, metadata);
  }
  const sessionId = String(call.metadata.get(METADATA_SESSION_ID)[0] ?? "");
  const streamAnswer = { [METADATA_SESSION_ID]: sessionId, [METADATA_SEQ]: "0" };
  answers.sign = (response) => options.verifier.answerMac(streamAnswer, KV_STREAM_PATH, response);
  // The connection's certificate (per-node identities) is fixed before the stream opens: read once, not
  // per call (grpc-js builds it anew on every ask).
  const certificate = call.getAuthContext().sslPeerCertificate;
  let inProgress = 0;
  call.on("data", (bytes: Buffer) => {
    let batch: KvStreamBatch;
    try {
      const request = KvStreamRequest.decode(bytes);
      const verdict = options.verifier.verifyBatch(
        KV_STREAM_PATH,
        sessionId,
        request.seq,
        request.mac,
        request.batch,
      );
      if (!verdict.ok) {
        const metadata = new Metadata();
        metadata.set(METADATA_AUTH_FAILURE, verdict.reason);
        return refuse(status.UNAUTHENTICATED, `batch authentication failed: ${verdict.reason}`, metadata);
      }
      batch = KvStreamBatch.decode(request.batch);
    } catch (error) {
      return refuse(status.INVALID_ARGUMENT, `malformed KvStream request: ${asError(error).message}`);
    }
    for (const one of batch.calls) {
      const handlers = options.handlers();
      if (handlers === undefined) {
        answers.add(failure(one.id, status.UNAVAILABLE, "the key-value store is not running", true));
        continue;
      }
      if (inProgress >= MAX_CALLS_IN_PROGRESS) {
        answers.add(
          failure(one.id, status.RESOURCE_EXHAUSTED, `more than ${MAX_CALLS_IN_PROGRESS} calls in progress`),
        );
        continue;
      }
      const request = one.request;
      if (request === undefined) {
        answers.add(failure(one.id, status.INVALID_ARGUMENT, "a call without a request"));
        continue;
      }
      const answer = (outcome: KvCallOutcome): void =>
        answers.add(
          outcome.ok
            ? answerOf(one.id, request.$case, outcome.value)
            : failure(one.id, outcome.code, outcome.details, outcome.refused !== undefined),
        );
      const outcome = runKvCall(request.$case, () => requestOf(request), certificate, handlers, options);
      if (!(outcome instanceof Promise)) {
        answer(outcome);
        continue;
      }
      inProgress++;
      void outcome.then((settled) => {
        inProgress--;
        answer(settled);
      });
    }
  });
  call.on("end", () => {
    answers.flush();
    call.end();
  });
  call.on("error", () => undefined);
}

type CallRequest = NonNullable<KvStreamCall["request"]>;

function requestOf(request: CallRequest): { readonly sender?: NodeInfoWire | undefined } {
  switch (request.$case) {
    case "coordinate":
      return request.coordinate;
    case "replicate":
      return request.replicate;
    case "fetch":
      return request.fetch;
  }
}

function answerOf(id: bigint, method: CallRequest["$case"], value: unknown): KvStreamAnswer {
  // Each handler's result is its method's response type; the casts only name which.
  switch (method) {
    case "coordinate":
      return { id, result: { $case: "coordinate", coordinate: value as never } };
    case "replicate":
      return { id, result: { $case: "replicate", replicate: value as never } };
    case "fetch":
      return { id, result: { $case: "fetch", fetch: value as never } };
  }
}

function failure(id: bigint, code: status, message: string, refused = false): KvStreamAnswer {
  return { id, result: { $case: "error", error: { code, message, refused } } };
}

/**
 * The answers of one stream not yet written: those ready in one turn leave together at its end, in
 * responses of at most maxResponseBytes of answers (one answer always fits: each is bounded as its unary
 * response is), each signed over its bytes with the MAC appended as the last field.
 */
class StreamAnswers {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());
  /** The MAC over one response (its bytes without the mac), once the stream's session is known. */
  sign: (response: Uint8Array) => Uint8Array | undefined = () => undefined;

  constructor(
    private readonly call: ServerDuplexStream<Buffer, Buffer>,
    private readonly maxResponseBytes: number,
  ) {}

  add(answer: KvStreamAnswer): void {
    const bytes = encodeToBuffer(KvStreamAnswer, answer);
    if (this.pending.length > 0 && this.pendingBytes + bytes.byteLength > this.maxResponseBytes) this.flush();
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
    this.endOfTurn.schedule();
  }

  flush(): void {
    this.endOfTurn.cancel();
    if (this.pending.length === 0) return;
    const unsigned = encodeToBuffer(ANSWERS, this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    const mac = this.sign(unsigned);
    const response = mac === undefined ? unsigned : encodeToBuffer(SIGNED, { unsigned, mac });
    if (this.call.destroyed || this.call.writableEnded) return;
    this.call.write(response);
  }
}
