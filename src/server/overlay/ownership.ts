// The key range this node owns, kept from its leaf set, numbered by epoch and streamed to WatchOwnership
// watchers with what moved at each change. The range rule itself is the routing core's (routing/ownership).
import type { status, ServerWritableStream } from "@grpc/grpc-js";
import {
  OwnershipChangeKind,
  type WatchOwnershipRequest,
  type WatchOwnershipResponse,
} from "../../gen/wendy/v1/overlay.js";
import {
  ownershipChanges,
  ownershipOf,
  sameRange,
  type Ownership,
  type OwnershipChange,
} from "../../routing/ownership.js";
import type { NodeInfo } from "../../routing/types.js";
import type { Application } from "../application.js";
import type { Cluster } from "../cluster.js";
import { NotReadyError } from "../errors.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { BoundedStream } from "./bounded-stream.js";
import type { OverlayLimits } from "./limits.js";

interface Current {
  readonly epoch: bigint;
  readonly ownership: Ownership;
  /** The leaf set the range was last computed from (to name who owned or owns moved keys). */
  readonly leafSet: readonly NodeInfo[];
}

export class OwnershipHub {
  private readonly watchers = new Set<BoundedStream<WatchOwnershipResponse>>();
  private current: Current | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly limits: OverlayLimits,
  ) {
    // Mounted on a listening node (as the daemon does, before joining): epoch 1 is its range now. Otherwise
    // epoch 1 is the whole ring it owns alone until its leaf set first changes.
    try {
      this.snapshot();
    } catch (error) {
      if (!(error instanceof NotReadyError)) throw error;
    }
  }

  get count(): number {
    return this.watchers.size;
  }

  /** The application that follows the leaf set. */
  application(): Application {
    return { onNewLeaves: (leaves) => this.leafSetChanged(leaves) };
  }

  /** Starts a watch: the current range first, then every change. */
  add(
    call: ServerWritableStream<WatchOwnershipRequest, WatchOwnershipResponse>,
    finished: (code: status) => void,
  ): void {
    const stream = new BoundedStream(call, this.limits, "ownership watcher", (code) => {
      this.watchers.delete(stream);
      finished(code);
    });
    this.watchers.add(stream);
    stream.push(response(this.snapshot(), []), 0);
  }

  close(): void {
    for (const w of [...this.watchers]) w.end();
  }

  /** The range now; the first call reads the leaf set (epoch 1). */
  private snapshot(): Current {
    if (this.current === undefined) {
      const { left, right } = this.cluster.leafSet();
      const leafSet = [...left, ...right];
      this.current = { epoch: 1n, ownership: ownershipOf(this.cluster.info(), leafSet), leafSet };
    }
    return this.current;
  }

  private leafSetChanged(leafSet: readonly NodeInfo[]): void {
    const self = this.cluster.info();
    const before = this.current ?? { epoch: 1n, ownership: ownershipOf(self, []), leafSet: [] };
    const ownership = ownershipOf(self, leafSet);
    if (sameRange(before.ownership.range, ownership.range)) {
      // Same keys; the neighbours' details (an incarnation, an address) may have changed.
      this.current = { ...before, ownership, leafSet };
      return;
    }
    const changes = ownershipChanges(before.ownership, before.leafSet, ownership, leafSet);
    this.current = { epoch: before.epoch + 1n, ownership, leafSet };
    const message = response(this.current, changes);
    for (const w of [...this.watchers]) w.push(message, 0);
  }
}

function keyBytes(id: { readonly hex: string }): Buffer {
  return Buffer.from(id.hex, "hex");
}

function response(current: Current, changes: readonly OwnershipChange[]): WatchOwnershipResponse {
  const { node, range, left, right } = current.ownership;
  return {
    epoch: current.epoch,
    self: encodeNodeInfo(node),
    first: keyBytes(range.first),
    last: keyBytes(range.last),
    left: left === undefined ? undefined : encodeNodeInfo(left),
    right: right === undefined ? undefined : encodeNodeInfo(right),
    changes: changes.map((c) => ({
      kind:
        c.kind === "gained"
          ? OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_GAINED
          : OwnershipChangeKind.OWNERSHIP_CHANGE_KIND_LOST,
      first: keyBytes(c.range.first),
      last: keyBytes(c.range.last),
      neighbour: encodeNodeInfo(c.neighbour),
    })),
  };
}
