// The long-lived streams peers open to this node (RouteStream, KvStream), each with the answers it has yet to
// send. Peers keep such a stream open for as long as they live, so a graceful shutdown, which waits for open
// calls, would always run out its grace period: a stopping node ends them itself, answers first.
import type { ServerDuplexStream } from "@grpc/grpc-js";

/** What one incoming stream still owes its peer. */
export interface PendingAnswers {
  /** Writes the answers ready now. */
  flush(): void;
  /** Releases what the answers hold (timers) once the stream is over. */
  close?(): void;
}

export class IncomingStreams<A extends PendingAnswers> {
  private readonly open = new Map<ServerDuplexStream<Buffer, Buffer>, A>();

  /** Keeps `call` until it closes, finishes or is cancelled. */
  add(call: ServerDuplexStream<Buffer, Buffer>, answers: A): void {
    this.open.set(call, answers);
    const forget = (): void => {
      this.open.delete(call);
      answers.close?.();
    };
    call.on("close", forget);
    call.on("finish", forget);
    call.on("cancelled", forget);
  }

  get size(): number {
    return this.open.size;
  }

  /** Ends every stream; what was accepted is answered first, so the peer does not send it again elsewhere. */
  endAll(): void {
    for (const [call, answers] of this.open) {
      answers.flush();
      call.end();
    }
    this.open.clear();
  }
}
