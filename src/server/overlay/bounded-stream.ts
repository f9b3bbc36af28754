// One server stream with a bounded send buffer. A client that stops reading makes writes pile up inside the
// node; rather than let them grow without bound, the stream is cut off with RESOURCE_EXHAUSTED.
import { status, type ServerDuplexStream, type ServerWritableStream } from "@grpc/grpc-js";
import type { QueuedBytes } from "./queued-bytes.js";

export interface StreamBounds {
  readonly maxStreamBufferMessages: number;
  readonly maxStreamBufferBytes: number;
  /** The client port's budget for all streams together (queued-bytes.ts); none: this stream's bound only. */
  readonly queuedBytes?: QueuedBytes;
}

export class BoundedStream<T> {
  private queuedMessages = 0;
  private queuedBytes = 0;
  private open = true;

  /** `onClosed` runs exactly once, with the final status code, whichever way the stream ends. */
  constructor(
    private readonly call: ServerWritableStream<unknown, T> | ServerDuplexStream<unknown, T>,
    private readonly bounds: StreamBounds,
    private readonly what: string,
    private readonly onClosed: (code: status) => void,
  ) {
    call.on("cancelled", () => this.closed(status.CANCELLED));
    call.on("error", () => this.closed(status.CANCELLED));
    call.on("close", () => this.closed(status.OK));
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Queues `message` (whose payload is `bytes` long); false when the stream is closed or was just cut off. */
  push(message: T, bytes: number): boolean {
    if (!this.admit(bytes)) return false;
    this.write(message, 1, bytes);
    return true;
  }

  /**
   * Counts one item of `bytes` as queued, as push does, for an item that will leave later in a batch with
   * others (`write`); false when the stream is closed or was just cut off by it.
   */
  admit(bytes: number): boolean {
    if (!this.open) return false;
    const tooMany = this.queuedMessages + 1 > this.bounds.maxStreamBufferMessages;
    const tooBig = this.queuedMessages > 0 && this.queuedBytes + bytes > this.bounds.maxStreamBufferBytes;
    if (tooMany || tooBig) {
      this.fail(
        status.RESOURCE_EXHAUSTED,
        `${this.what} too slow: ${this.queuedMessages} messages (${this.queuedBytes} bytes) unread; the stream was dropped`,
      );
      return false;
    }
    if (this.bounds.queuedBytes?.take(bytes) === false) {
      this.fail(
        status.RESOURCE_EXHAUSTED,
        `the client port holds ${this.bounds.queuedBytes.bytes} bytes unread by its clients, its limit: ` +
          `this ${this.what}'s stream was dropped`,
      );
      return false;
    }
    this.queuedMessages++;
    this.queuedBytes += bytes;
    return true;
  }

  /** Writes `message`, which carries `count` admitted items of `bytes` together; they stop counting once sent. */
  write(message: T, count: number, bytes: number): void {
    if (!this.open) return;
    this.call.write(message, () => {
      this.queuedMessages -= count;
      this.queuedBytes -= bytes;
      // A closed stream gave back what it held when it closed.
      if (this.open) this.bounds.queuedBytes?.release(bytes);
    });
  }

  /** Ends the stream with an error status. */
  fail(code: status, details: string): void {
    if (!this.open) return;
    this.closed(code);
    this.call.emit("error", { code, details, name: "StreamClosed", message: details });
  }

  /** Ends the stream normally (the node is shutting the service down). */
  end(): void {
    if (!this.open) return;
    this.closed(status.OK);
    this.call.end();
  }

  private closed(code: status): void {
    if (!this.open) return;
    this.open = false;
    // Writes still queued may never complete on a dead stream: their bytes go back to the budget now.
    this.bounds.queuedBytes?.release(this.queuedBytes);
    this.onClosed(code);
  }
}
