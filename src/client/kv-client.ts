// The key-value store through a node's client port (wendy.v1.KvService): plain types in and out. Requests go
// on the node's OperationStream when it has one (kv-stream.ts), else as unary calls.
import {
  status,
  type CallOptions,
  type ClientUnaryCall,
  type Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  KvServiceClient,
  type DeleteResponse,
  type GetResponse,
  type Precondition,
  type PutResponse,
  type Version,
} from "../gen/wendy/v1/kv.js";
import type { NodeInfo } from "../routing/types.js";
import { fromWireNode, toBuffer, toWireKey, type KeyLike } from "./convert.js";
import { clientErrorFor, NotFoundError, WendyClientError } from "./errors.js";
import type { KvStreamAnswer, KvStreamChannel, KvStreamRequest } from "./kv-stream.js";

/** A value's version: compare by counter, then by writer (the coordinating node's ID, 32 hex digits). */
export interface KvVersion {
  readonly counter: bigint;
  readonly writer: string;
}

export interface KvCallOptions {
  /** The node's wait for the quorum, in ms; 0 or unset: the node's default (5000). */
  readonly timeoutMs?: number;
  /** Gives up (DeadlineExceededError) after this long. */
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
}

export interface KvPutOptions extends KvCallOptions {
  /** Store only if the key's current version is this one (compare and set); else AbortedError. */
  readonly ifVersion?: KvVersion;
  /** Store only if the key holds no value; else AbortedError. */
  readonly ifAbsent?: boolean;
}

export interface KvDeleteOptions extends KvCallOptions {
  /** Delete only if the key's current version is this one; else AbortedError. */
  readonly ifVersion?: KvVersion;
}

export interface KvWriteResult {
  readonly version: KvVersion;
  /** Replicas that stored it before the answer (at least W). */
  readonly acknowledgements: number;
  /** The key's owner, which coordinated the write. */
  readonly coordinator: NodeInfo;
}

export interface KvValue {
  readonly value: Buffer;
  readonly version: KvVersion;
  /** Replicas whose answers the value was chosen from (at least R). */
  readonly answers: number;
  readonly coordinator: NodeInfo;
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;
export type Unary = <Res>(
  start: (metadata: Metadata, options: Partial<CallOptions>, callback: Callback<Res>) => ClientUnaryCall,
  options: { readonly deadlineMs?: number; readonly signal?: AbortSignal },
) => Promise<Res>;

export class KvClient {
  /** `stream`: the node's OperationStream, used when it has one; without it every request is unary. */
  constructor(
    private readonly raw: KvServiceClient,
    private readonly unary: Unary,
    private readonly stream?: KvStreamChannel,
  ) {}

  close(): void {
    this.stream?.close();
    this.raw.close();
  }

  /** Stores `value` under `key`; resolves once W replicas stored it. */
  async put(key: KeyLike, value: Uint8Array | string, options: KvPutOptions = {}): Promise<KvWriteResult> {
    const request = {
      key: toWireKey(key),
      value: toBuffer(value),
      precondition: precondition(options.ifVersion, options.ifAbsent),
      timeoutMs: options.timeoutMs ?? 0,
    };
    const streamed = await this.streamed({ $case: "put", put: request }, options);
    if (streamed !== undefined) return toWrite(answerOf(streamed, "put").put);
    const response = await this.unary<PutResponse>((md, o, cb) => this.raw.put(request, md, o, cb), options);
    return toWrite(response);
  }

  /** The value under `key`, or undefined when it holds none (never written, or deleted). */
  async get(key: KeyLike, options: KvCallOptions = {}): Promise<KvValue | undefined> {
    const request = { key: toWireKey(key), timeoutMs: options.timeoutMs ?? 0 };
    let response: GetResponse;
    try {
      const streamed = await this.streamed({ $case: "get", get: request }, options);
      response =
        streamed !== undefined
          ? answerOf(streamed, "get").get
          : await this.unary<GetResponse>((md, o, cb) => this.raw.get(request, md, o, cb), options);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error as WendyClientError;
    }
    return {
      value: response.value,
      version: fromWireVersion(response.version),
      answers: response.answers,
      coordinator: fromWireNode(response.coordinator, "coordinator"),
    };
  }

  /** Deletes the value under `key` (a replicated tombstone); deleting an absent key succeeds. */
  async delete(key: KeyLike, options: KvDeleteOptions = {}): Promise<KvWriteResult> {
    const request = {
      key: toWireKey(key),
      precondition: precondition(options.ifVersion, undefined),
      timeoutMs: options.timeoutMs ?? 0,
    };
    const streamed = await this.streamed({ $case: "delete", delete: request }, options);
    if (streamed !== undefined) return toWrite(answerOf(streamed, "delete").delete);
    const response = await this.unary<DeleteResponse>(
      (md, o, cb) => this.raw.delete(request, md, o, cb),
      options,
    );
    return toWrite(response);
  }

  /**
   * `request` on the OperationStream: its answer, or undefined when the caller should make the unary call
   * instead (no stream, a stream full, or a node without OperationStream: its refusal of the stream as a
   * whole means the request never ran, so making it again is safe, for writes too).
   */
  private async streamed(
    request: KvStreamRequest,
    options: KvCallOptions,
  ): Promise<KvStreamAnswer | undefined> {
    const streamed = this.stream?.send(request, options);
    if (streamed === undefined) return undefined;
    try {
      return (await streamed) ?? missingAnswer(request.$case);
    } catch (error) {
      if (error instanceof WendyClientError && error.code === status.UNIMPLEMENTED) return undefined;
      throw error;
    }
  }
}

/** The answer, checked to be of the request's kind. */
function answerOf<C extends KvStreamRequest["$case"]>(
  answer: KvStreamAnswer,
  kind: C,
): Extract<NonNullable<KvStreamAnswer>, { $case: C }> {
  if (answer?.$case !== kind) return missingAnswer(kind);
  return answer as Extract<NonNullable<KvStreamAnswer>, { $case: C }>;
}

function missingAnswer(kind: string): never {
  throw clientErrorFor(status.INTERNAL, `the node answered a ${kind} without its response`);
}

function precondition(
  ifVersion: KvVersion | undefined,
  ifAbsent: boolean | undefined,
): Precondition | undefined {
  if (ifVersion !== undefined)
    return {
      kind: {
        $case: "ifVersion",
        ifVersion: { counter: ifVersion.counter, writer: Buffer.from(ifVersion.writer, "hex") },
      },
    };
  if (ifAbsent === true) return { kind: { $case: "ifAbsent", ifAbsent: true } };
  return undefined;
}

function fromWireVersion(v: Version | undefined): KvVersion {
  return { counter: v?.counter ?? 0n, writer: Buffer.from(v?.writer ?? []).toString("hex") };
}

function toWrite(r: PutResponse | DeleteResponse): KvWriteResult {
  return {
    version: fromWireVersion(r.version),
    acknowledgements: r.acknowledgements,
    coordinator: fromWireNode(r.coordinator, "coordinator"),
  };
}
