// One budget for the streams of the whole client port. Each stream bounds its own send queue, but the
// number of Subscribe, WatchEvents and SendStream calls was bounded only per kind, and SendStreams not at
// all. This grpc-js server interceptor counts the streaming calls open at once and refuses one beyond the
// limit with RESOURCE_EXHAUSTED before its handler runs, so the services need no hook.
//
// Bytes queued on all streams together are NOT counted here: grpc-js buffers a server stream's writes in
// the handler's Writable above any interceptor, which sees one message per call at a time. A global byte
// budget has to be kept where the queues are (overlay/bounded-stream.ts and send-stream.ts).
import {
  ServerInterceptingCall,
  status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
} from "@grpc/grpc-js";

export interface ClientPortBudgetLimits {
  /** Streaming calls (Subscribe, WatchEvents, SendStream...) open at once on the client port. */
  readonly maxStreams: number;
}

export const DEFAULT_CLIENT_PORT_BUDGET: ClientPortBudgetLimits = { maxStreams: 2048 };

type InterceptingServerListener = Parameters<ServerInterceptingCallInterface["start"]>[0];

export class ClientPortBudget {
  private streams = 0;

  constructor(readonly limits: ClientPortBudgetLimits = DEFAULT_CLIENT_PORT_BUDGET) {
    if (!Number.isSafeInteger(limits.maxStreams) || limits.maxStreams < 1)
      throw new RangeError("maxStreams must be a positive integer");
  }

  get openStreams(): number {
    return this.streams;
  }

  /** The interceptor to pass in the client Server's `interceptors` option. */
  readonly interceptor: ServerInterceptor = (method, next) => {
    if (!method.requestStream && !method.responseStream) return new ServerInterceptingCall(next);
    return new CountedStream(next, this);
  };

  /** @internal A streaming call starts; false when there are already maxStreams. */
  open(): boolean {
    if (this.streams >= this.limits.maxStreams) return false;
    this.streams++;
    return true;
  }

  /** @internal */
  close(): void {
    this.streams--;
  }
}

class CountedStream extends ServerInterceptingCall {
  private counted = false;

  constructor(
    next: ServerInterceptingCallInterface,
    private readonly budget: ClientPortBudget,
  ) {
    super(next);
  }

  override start(listener: InterceptingServerListener): void {
    if (!this.budget.open()) {
      // Refused before the handler ever runs: nothing from the client reaches it.
      super.start({
        onReceiveMetadata: () => undefined,
        onReceiveMessage: () => undefined,
        onReceiveHalfClose: () => undefined,
        onCancel: () => undefined,
      });
      super.sendStatus({
        code: status.RESOURCE_EXHAUSTED,
        details: `more than ${this.budget.limits.maxStreams} streams are open on the client port; try again later`,
      });
      return;
    }
    this.counted = true;
    super.start({
      onReceiveMetadata: (metadata) => listener.onReceiveMetadata(metadata),
      onReceiveMessage: (message) => listener.onReceiveMessage(message),
      onReceiveHalfClose: () => listener.onReceiveHalfClose(),
      onCancel: () => {
        this.finish();
        listener.onCancel();
      },
    });
  }

  override sendStatus(outcome: Parameters<ServerInterceptingCall["sendStatus"]>[0]): void {
    super.sendStatus(outcome);
    this.finish();
  }

  private finish(): void {
    if (!this.counted) return;
    this.counted = false;
    this.budget.close();
  }
}
