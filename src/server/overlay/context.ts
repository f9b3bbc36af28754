// What every Overlay handler works with.
import type { ServerErrorResponse } from "@grpc/grpc-js";
import type { Cluster } from "../cluster.js";
import type { CallBroker } from "./calls.js";
import type { QueuedBytes } from "./queued-bytes.js";
import type { OverlayLimits } from "./limits.js";
import type { OwnershipHub } from "./ownership.js";
import type { ServeContext } from "./serve.js";
import type { DeliveryHub } from "./deliveries.js";
import type { WatcherHub } from "./watchers.js";

export interface OverlayContext extends ServeContext {
  readonly cluster: Cluster;
  readonly limits: OverlayLimits;
  /** Bytes held for clients on all streams together, bounded by limits.maxQueuedBytes. */
  readonly queuedBytes: QueuedBytes;
  readonly deliveries: DeliveryHub;
  readonly calls: CallBroker;
  readonly watchers: WatcherHub;
  readonly ownership: OwnershipHub;
  /** Refuses a stream of this node's own view to a client off the node, unless allowed (local-only.ts). */
  readonly requireLocalClient: (rpc: string, peer: string) => void;
  /** The same check for a handler that answers with an error instead of throwing. */
  readonly remoteClientRefusal: (rpc: string, peer: string) => ServerErrorResponse | undefined;
}
