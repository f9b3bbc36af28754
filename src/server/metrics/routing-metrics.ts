// Feeds a node's metrics from what its routing core reports: membership and leaf-set changes, drops, and the
// origin's end-to-end latency (send to acknowledgement, both read on this process's monotonic clock, so no
// clock offset between nodes enters it). The cluster calls it from a few one-line hooks.
import { BoundedMap } from "../../routing/bounded-map.js";
import type { NodeInfo, RoutingEvent } from "../../routing/types.js";
import type { WendyMetrics } from "./metrics.js";

/**
 * Messages awaiting their acknowledgement, and peers' last signs of life, remembered at most (memory stays
 * bounded; beyond it the oldest sends still unacknowledged go unmeasured).
 */
const MAX_REMEMBERED = 16_384;

export class RoutingMetrics {
  /** Message id -> when this node originated it (ms, monotonic), for messages that want an ack. */
  private readonly sentAt = new BoundedMap<string, number>(MAX_REMEMBERED);
  /** Peer "id:incarnation" -> when it last gave a sign of life (a heartbeat, an acknowledged call). */
  private readonly lastHeard = new BoundedMap<string, number>(MAX_REMEMBERED);

  constructor(private readonly metrics: WendyMetrics) {}

  /** This node originated message `id`, which wants an end-to-end acknowledgement. */
  sending(id: string, now: number): void {
    this.sentAt.set(id, now);
  }

  /** First-hand proof that `peer` was alive at `now`. */
  heardFrom(peer: NodeInfo, now: number): void {
    const key = peerKey(peer);
    // Re-inserted, so the peers heard from longest ago are the ones forgotten.
    this.lastHeard.delete(key);
    this.lastHeard.set(key, now);
  }

  event(event: RoutingEvent, now: number): void {
    const metrics = this.metrics;
    switch (event.type) {
      case "nodeJoined":
        return metrics.membershipChanged("joined");
      case "nodeExited": {
        const key = peerKey(event.node);
        const heard = this.lastHeard.get(key);
        this.lastHeard.delete(key);
        if (event.graceful) return metrics.membershipChanged("left");
        return metrics.nodeFailureDetected(heard === undefined ? undefined : (now - heard) / 1000);
      }
      case "leafSetChanged":
        return metrics.leafSetChanged();
      case "heartbeat":
        return this.heardFrom(event.from, now);
      case "dropped":
        this.sentAt.delete(event.message.id);
        if (event.reason === "duplicate") return metrics.duplicateSuppressed();
        return metrics.messageDropped(event.reason);
      case "undelivered":
        // Counted as dropped where it was dropped; here the send only stops waiting.
        this.sentAt.delete(event.messageId);
        return;
      case "acked": {
        const sent = this.sentAt.get(event.messageId);
        if (sent === undefined) return;
        this.sentAt.delete(event.messageId);
        return metrics.observeDeliveryLatency((now - sent) / 1000);
      }
      case "ready":
      case "joinFailed":
        return;
    }
  }
}

function peerKey(peer: NodeInfo): string {
  return `${peer.id.hex}:${peer.incarnation}`;
}
