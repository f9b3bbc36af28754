// The skeleton that SendStream and CallStream share: many requests on one long-lived client-port stream,
// each answered by its own result. Results made in one turn of the event loop leave in one stream message;
// `outstanding` (items received whose result has not yet been written out) bounds what a client can make
// the node hold, whether it asks too fast or stops reading results; after the client half-closes, the
// stream ends once every item has been answered. What an item does is the subclass's.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import { EndOfTurnFlush } from "../../shared/end-of-turn.js";
import type { OverlayContext } from "./context.js";
import type { OverlayLimits } from "./limits.js";
import { resourceExhausted, toServiceError } from "./rpc-error.js";
import type { ServeContext } from "./serve.js";

/** What a stream needs of its service: the token check, the metrics and the bound on items in flight. */
export interface StreamContext extends ServeContext {
  readonly limits: Pick<OverlayLimits, "maxSendStreamInFlight">;
}

/** One item's result: its request id, a gRPC code, and the answer when the code is OK. */
export interface ItemResult<Answer> {
  requestId: bigint;
  code: number;
  errorMessage: string;
  response?: Answer | undefined;
}

export interface StreamKind {
  /** The stream's method: its own code when it ends. */
  readonly path: string;
  /** The unary method each item is counted under with its own code, so dashboards see every item. */
  readonly itemPath: string;
  /** The error's name when the node cuts the stream ("SendStreamClosed"). */
  readonly closedName: string;
  /** What the items are, in messages ("sends"). */
  readonly items: string;
}

/** What the admission of one item decided. */
export type Admission = "admitted" | "refused" | "dropped";

export abstract class StreamSession<Answer, Ctx extends StreamContext = OverlayContext> {
  protected outstanding = 0;
  protected open = true;
  private results: ItemResult<Answer>[] = [];
  private readonly endOfTurn = new EndOfTurnFlush(() => this.flush());
  private clientDone = false;

  constructor(
    protected readonly ctx: Ctx,
    protected readonly call: ServerDuplexStream<Buffer, { results: ItemResult<Answer>[] }>,
    private readonly kind: StreamKind,
    private readonly onClosed: () => void,
  ) {}

  start(): void {
    const call = this.call;
    call.on("data", (bytes: Buffer) => this.onRequest(bytes));
    call.on("end", () => {
      this.clientDone = true;
      this.endIfDone();
    });
    call.on("cancelled", () => this.closed(status.CANCELLED));
    call.on("error", () => this.closed(status.CANCELLED));
    call.on("close", () => this.closed(status.OK));
  }

  /** One stream message from the client, as raw bytes. */
  protected abstract onRequest(bytes: Buffer): void;

  /** The stream is over (before it is counted): items still waiting are let go. */
  protected onEnd(): void {}

  /**
   * Counts one item in. "refused": over the in-flight bound, it is already answered RESOURCE_EXHAUSTED;
   * "dropped": refusals pile up too, so a client that neither slows down nor reads its results is cut off.
   */
  protected admit(requestId: bigint): Admission {
    const limit = this.ctx.limits.maxSendStreamInFlight;
    if (this.outstanding >= 2 * limit) {
      this.fail(status.RESOURCE_EXHAUSTED, `${this.outstanding} results unread; the stream was dropped`);
      return "dropped";
    }
    this.outstanding++;
    if (this.outstanding > limit) {
      this.answerError(
        requestId,
        resourceExhausted(`more than ${limit} ${this.kind.items} in flight on this stream; wait for results`),
      );
      return "refused";
    }
    return "admitted";
  }

  /** The item's own deadline, else the stream's (Infinity when neither is set). */
  protected deadlineOf(item: { readonly deadlineMs: number }, receivedAt: number): number {
    const stream = this.call.getDeadline();
    const streamAt = stream instanceof Date ? stream.getTime() : stream;
    const itemAt = item.deadlineMs > 0 ? receivedAt + item.deadlineMs : Number.POSITIVE_INFINITY;
    return Math.min(itemAt, Number.isFinite(streamAt) ? streamAt : Number.POSITIVE_INFINITY);
  }

  protected answerError(requestId: bigint, error: unknown, itemPath = this.kind.itemPath): void {
    const e = toServiceError(error);
    this.queue(
      {
        requestId,
        code: e.code ?? status.UNKNOWN,
        errorMessage: e.details ?? e.message,
        response: undefined,
      },
      itemPath,
    );
  }

  /**
   * Results produced in one turn of the event loop leave in one stream message. Each is counted under
   * `itemPath` (the kind's, unless a stream carries items of several methods).
   */
  protected queue(result: ItemResult<Answer>, itemPath = this.kind.itemPath): void {
    this.ctx.metrics?.clientRpcServed(itemPath, result.code);
    if (!this.open) return;
    this.results.push(result);
    this.endOfTurn.schedule();
  }

  /**
   * As queue, for a result that came in a later turn than its item (a Call's answer from the key's owner):
   * one that completes every item outstanding leaves at once, since no other result can join its message,
   * instead of after everything else this turn writes (one call in flight waits for nothing).
   */
  protected queueAnswer(result: ItemResult<Answer>): void {
    this.queue(result);
    if (this.open && this.results.length >= this.outstanding) this.flush();
  }

  private flush(): void {
    this.endOfTurn.cancel();
    if (!this.open || this.results.length === 0) return;
    const results = this.results;
    this.results = [];
    this.call.write({ results }, () => {
      this.outstanding -= results.length;
      this.endIfDone();
    });
  }

  /** After the client half-closed, the stream ends once every item it sent has been answered. */
  private endIfDone(): void {
    if (!this.open || !this.clientDone || this.outstanding > 0) return;
    this.closed(status.OK);
    this.call.end();
  }

  fail(code: status, details: string): void {
    if (!this.open) return;
    this.closed(code);
    this.call.emit("error", { code, details, name: this.kind.closedName, message: details });
  }

  private closed(code: status): void {
    if (!this.open) return;
    this.open = false;
    this.results = [];
    this.onEnd();
    this.ctx.metrics?.clientRpcServed(this.kind.path, code);
    this.onClosed();
  }
}

/** Every open stream of one kind on one service, so that closing the service (a node stopping) ends them. */
export class OpenStreams<Response> {
  private readonly open = new Set<{ start(): void; fail(code: status, details: string): void }>();

  constructor(
    private readonly ctx: StreamContext,
    private readonly path: string,
    private readonly session: (
      call: ServerDuplexStream<Buffer, Response>,
      onClosed: () => void,
    ) => { start(): void; fail(code: status, details: string): void },
  ) {}

  get count(): number {
    return this.open.size;
  }

  /** The gRPC handler; requests arrive as raw bytes (see decodeInHandlers) and are decoded by the session. */
  readonly handler = (call: ServerDuplexStream<Buffer, Response>): void => {
    const refused = this.ctx.token.refuse(call.metadata);
    if (refused !== undefined) {
      this.ctx.metrics?.clientRpcServed(this.path, refused.code ?? status.UNAUTHENTICATED);
      call.emit("error", refused);
      return;
    }
    const session = this.session(call, () => this.open.delete(session));
    this.open.add(session);
    session.start();
  };

  /** Ends every stream: clients see UNAVAILABLE for items still waiting. */
  closeAll(): void {
    for (const session of [...this.open]) session.fail(status.UNAVAILABLE, "the node is shutting down");
  }
}
