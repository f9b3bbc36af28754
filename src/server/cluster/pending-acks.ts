// The sends that wait for their end-to-end acknowledgement (`send(..., { waitForAck: true })`): each one's
// promise, settled by what the routing core reports about its message (acked, refused by the delivering
// application, dropped on the way) or by its own timeout, and all of them when the node stops.
import { status } from "@grpc/grpc-js";
import type { DropReason, NodeInfo, NoticedDropReason, Refusal } from "../../routing/types.js";
import { NotReadyError, WendyError } from "../errors.js";

export interface SendResult {
  readonly messageId: string;
  /** With waitForAck: the node that delivered the message and the hops it took. */
  readonly deliveredBy?: NodeInfo;
  readonly hops?: number;
}

interface Waiting {
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class PendingAcks {
  private readonly waiting = new Map<string, Waiting>();

  /** Waits for message `id`'s acknowledgement; DEADLINE_EXCEEDED after `timeoutMs`. */
  wait(id: string, timeoutMs: number): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(
          new WendyError(
            `no acknowledgement for message ${id} within ${timeoutMs} ms`,
            status.DEADLINE_EXCEEDED,
          ),
        );
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
    });
  }

  /** The delivering node acknowledged the message. */
  acked(messageId: string, deliveredBy: NodeInfo, hops: number): void {
    this.take(messageId)?.resolve({ messageId, deliveredBy, hops });
  }

  /** An application at the delivering node refused the message: the send fails with its code and reason. */
  refused(messageId: string, refusal: Refusal): void {
    this.take(messageId)?.reject(new WendyError(refusal.reason, refusal.code as status));
  }

  /**
   * The message was dropped on its way (the core's reason). "unacknowledged" is no verdict: the next hop
   * may have delivered it and its ack may still come, so the send waits on (its deadline decides).
   */
  dropped(messageId: string, reason: DropReason): void {
    if (reason === "unacknowledged") return;
    this.take(messageId)?.reject(
      new WendyError(`message ${messageId} dropped: ${reason}`, status.UNAVAILABLE),
    );
  }

  /**
   * Nodes on the way dropped every copy of the message (drop notices; the last from `droppedBy`), and the
   * core sent what fresh copies it would: none can be delivered now. A full queue is the same exhaustion
   * as at the origin (RESOURCE_EXHAUSTED); a hop limit or no live node, UNAVAILABLE.
   */
  undelivered(messageId: string, droppedBy: NodeInfo, reason: NoticedDropReason): void {
    const code = reason === "queue_full" ? status.RESOURCE_EXHAUSTED : status.UNAVAILABLE;
    this.take(messageId)?.reject(
      new WendyError(
        `message ${messageId} dropped: ${reason} (at node ${droppedBy.id.hex}, every copy)`,
        code,
      ),
    );
  }

  /** The node stopped: every send still waiting fails. */
  stopped(): void {
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(new NotReadyError(`node stopped before message ${id} was acknowledged`));
    }
    this.waiting.clear();
  }

  private take(messageId: string): Waiting | undefined {
    const waiting = this.waiting.get(messageId);
    if (waiting === undefined) return undefined;
    this.waiting.delete(messageId);
    clearTimeout(waiting.timer);
    return waiting;
  }
}
