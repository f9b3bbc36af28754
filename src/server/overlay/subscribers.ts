// Local subscribers: each Subscribe stream with its purposes. Deliveries fan out to every subscriber of the
// message's purpose; one that nobody wants is counted (metric and Status), never dropped silently.
import type { status, ServerWritableStream } from "@grpc/grpc-js";
import type { SubscribeRequest, SubscribeResponse } from "../../gen/wendy/v1/overlay.js";
import type { Application, Message } from "../application.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import { encodeNodeInfo } from "../wire/codec.js";
import { BoundedStream, type StreamBounds } from "./bounded-stream.js";

interface Subscriber {
  readonly purposes: ReadonlySet<number>;
  readonly stream: BoundedStream<SubscribeResponse>;
}

export class SubscriberHub {
  private readonly subscribers = new Set<Subscriber>();
  private undelivered = 0n;

  constructor(
    private readonly bounds: StreamBounds,
    private readonly metrics?: WendyMetrics,
  ) {}

  get count(): number {
    return this.subscribers.size;
  }

  /** Messages delivered here that no subscriber wanted, since start. */
  get undeliveredCount(): bigint {
    return this.undelivered;
  }

  /** The application the cluster calls on every delivery. */
  application(): Application {
    return { onDeliver: (message) => void this.deliver(message, "") };
  }

  add(
    call: ServerWritableStream<SubscribeRequest, SubscribeResponse>,
    purposes: ReadonlySet<number>,
    finished: (code: status) => void,
  ): void {
    const subscriber: Subscriber = {
      purposes,
      stream: new BoundedStream(call, this.bounds, "subscriber", (code) => {
        this.subscribers.delete(subscriber);
        finished(code);
      }),
    };
    this.subscribers.add(subscriber);
  }

  /** True when some subscriber listens to `purpose`. */
  wants(purpose: number): boolean {
    for (const s of this.subscribers) if (s.purposes.has(purpose)) return true;
    return false;
  }

  /**
   * Hands `message` to every subscriber of its purpose (with `callId` for a Call); returns how many took it.
   * Zero counts as undelivered.
   */
  deliver(message: Message, callId: string): number {
    const response: SubscribeResponse = {
      key: Buffer.from(message.key.hex, "hex"),
      purpose: message.purpose,
      payload: Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
      messageId: message.id,
      origin: encodeNodeInfo(message.origin),
      hops: message.hops,
      callId,
    };
    let taken = 0;
    for (const s of [...this.subscribers]) {
      if (s.purposes.has(message.purpose) && s.stream.push(response, message.payload.byteLength)) taken++;
    }
    if (taken === 0) {
      this.undelivered++;
      this.metrics?.undeliveredNoSubscriber();
    }
    return taken;
  }

  /** Ends every stream (the service is closing). */
  closeAll(): void {
    for (const s of [...this.subscribers]) s.stream.end();
  }
}
