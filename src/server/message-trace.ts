// At debug level, a message's path hop by hop: every node logs each hop it sends, its delivery, drop or
// acknowledgement under the message's ID, so `grep <messageId>` over the nodes' logs shows the whole route
// (retries and reroutes included). Reads the routing core's outputs; decides nothing.
import type { Output } from "../routing/types.js";

export interface TraceLogger {
  debug(object: object, message: string): void;
  isLevelEnabled?(level: string): boolean;
}

export const LOG_HOP_SENT = "message hop sent";
export const LOG_MESSAGE_DELIVERED = "message delivered";
export const LOG_MESSAGE_DROPPED = "message dropped";
export const LOG_MESSAGE_ACKED = "message acknowledged";

export class MessageTrace {
  constructor(private readonly log: TraceLogger) {}

  /** False when the logger would drop debug lines: the caller skips tracing altogether. */
  get enabled(): boolean {
    return this.log.isLevelEnabled?.("debug") ?? true;
  }

  output(output: Output): void {
    switch (output.type) {
      case "send": {
        const { out } = output;
        if (out.message.type !== "route") return;
        const m = out.message.message;
        this.log.debug(
          {
            event: "hop_sent",
            messageId: m.id,
            key: m.key.hex,
            purpose: m.purpose,
            hops: m.hops,
            origin: m.origin.id.hex,
            peer: out.to?.id.hex ?? out.address,
            peerAddress: out.address,
          },
          LOG_HOP_SENT,
        );
        return;
      }
      case "deliver": {
        const m = output.message;
        this.log.debug(
          {
            event: "delivered",
            messageId: m.id,
            key: m.key.hex,
            purpose: m.purpose,
            hops: m.hops,
            peer: m.origin.id.hex,
          },
          LOG_MESSAGE_DELIVERED,
        );
        return;
      }
      case "event": {
        const event = output.event;
        if (event.type === "dropped") {
          const m = event.message;
          this.log.debug(
            { event: "dropped", messageId: m.id, reason: event.reason, hops: m.hops, peer: m.origin.id.hex },
            LOG_MESSAGE_DROPPED,
          );
        } else if (event.type === "acked") {
          this.log.debug(
            { event: "acked", messageId: event.messageId, hops: event.hops, peer: event.deliveredBy.id.hex },
            LOG_MESSAGE_ACKED,
          );
        }
        return;
      }
      case "forward":
        return;
    }
  }
}
