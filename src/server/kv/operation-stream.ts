// KvService.OperationStream: Put, Get and Delete on one long-lived client-port stream, each answered by its
// own result. A unary request costs an HTTP/2 stream with its headers and trailers, on the client and here,
// about as much as the rest of a Get at this node; here requests and results share stream messages.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  KvServiceService,
  OperationStreamRequest,
  type OperationStreamItem,
  type OperationStreamResponse,
  type OperationStreamResult,
} from "../../gen/wendy/v1/kv.js";
import { asError } from "../../shared/as-error.js";
import type { QueuedBytes } from "../overlay/queued-bytes.js";
import { invalidArgument, resourceExhausted } from "../overlay/rpc-error.js";
import {
  OpenStreams,
  StreamSession,
  type StreamContext,
  type StreamKind,
} from "../overlay/stream-session.js";
import type { KvReadResult, KvWriteResult } from "./coordinator.js";
import type { KvNode } from "./kv-node.js";
import { encodeRead, encodeWrite, type KvRequest } from "./operations.js";

const PATH = KvServiceService.operationStream.path;
const KIND: StreamKind = {
  path: PATH,
  // Each item is counted under its own method (itemPathOf); this one is not used.
  itemPath: PATH,
  closedName: "OperationStreamClosed",
  items: "requests",
};

export interface OperationStreamContext extends StreamContext {
  readonly kv: KvNode;
  /** The client port's byte budget: a Put's value counts against it until the Put is answered. */
  readonly queuedBytes: QueuedBytes;
}

type Answer = NonNullable<OperationStreamResult["response"]>;

/** Every open OperationStream of one service, so that a stopping node can end them. */
export class OperationStreams extends OpenStreams<OperationStreamResponse> {
  constructor(ctx: OperationStreamContext) {
    super(ctx, PATH, (call, onClosed) => new OperationStreamSession(ctx, call, onClosed));
  }
}

/** One open OperationStream (stream-session.ts bounds, batches and ends it). */
class OperationStreamSession extends StreamSession<Answer, OperationStreamContext> {
  constructor(
    ctx: OperationStreamContext,
    call: ServerDuplexStream<Buffer, OperationStreamResponse>,
    onClosed: () => void,
  ) {
    super(ctx, call, KIND, onClosed);
  }

  protected onRequest(bytes: Buffer): void {
    if (!this.open) return;
    let request: OperationStreamRequest;
    try {
      request = OperationStreamRequest.decode(bytes);
    } catch (error) {
      this.fail(status.INVALID_ARGUMENT, `malformed OperationStream request: ${asError(error).message}`);
      return;
    }
    for (const item of request.operations) {
      const admission = this.admit(item.requestId);
      if (admission === "dropped") return;
      if (admission === "refused") continue;
      this.run(item);
    }
  }

  private run(item: OperationStreamItem): void {
    const operation = item.operation;
    const path = itemPathOf(operation);
    if (operation === undefined) {
      this.answerError(item.requestId, invalidArgument("operation: required"), path);
      return;
    }
    // A Put's value is held until it is answered: it counts against the client port's byte budget.
    const held = operation.$case === "put" ? operation.put.value.byteLength : 0;
    const budget = this.ctx.queuedBytes;
    if (!budget.take(held)) {
      this.answerError(
        item.requestId,
        resourceExhausted(
          `the client port holds ${budget.bytes} bytes for its clients, its limit; send again later`,
        ),
        path,
      );
      return;
    }
    const started = performance.now();
    const done = (): void => {
      budget.release(held);
      this.ctx.metrics?.observeClientRpcDuration(PATH, (performance.now() - started) / 1000);
    };
    this.ctx.kv.execute(operation).then(
      (result) => {
        done();
        this.queue(
          {
            requestId: item.requestId,
            code: status.OK,
            errorMessage: "",
            response: answerOf(operation, result),
          },
          path,
        );
      },
      (error: unknown) => {
        done();
        this.answerError(item.requestId, error, path);
      },
    );
  }
}

function answerOf(operation: KvRequest, result: KvReadResult | KvWriteResult): Answer {
  switch (operation.$case) {
    case "put":
      return { $case: "put", put: encodeWrite(result as KvWriteResult) };
    case "get":
      return { $case: "get", get: encodeRead(result as KvReadResult) };
    case "delete":
      return { $case: "delete", delete: encodeWrite(result as KvWriteResult) };
  }
}

/** The unary method an item is counted under (the stream's own path for an item without a request). */
function itemPathOf(operation: KvRequest | undefined): string {
  switch (operation?.$case) {
    case "put":
      return KvServiceService.put.path;
    case "get":
      return KvServiceService.get.path;
    case "delete":
      return KvServiceService.delete.path;
    case undefined:
      return PATH;
  }
}
