// WatchEvents streams: overlay events for every watcher, and forward requests for the purposes a watcher
// intercepts. A forward waits for DecideForward from each interested watcher; one that does not answer in
// time (or goes away) counts as "continue".
import { randomBytes } from "node:crypto";
import type { status, ServerWritableStream } from "@grpc/grpc-js";
import type { NodeInfo } from "../../routing/types.js";
import {
  ForwardAction,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from "../../gen/wendy/v1/overlay.js";
import type { Application, ForwardDecision, Message } from "../application.js";
import type { Cluster } from "../cluster.js";
import { encodeNodeInfo } from "../../wire/codec.js";
import { BoundedStream } from "./bounded-stream.js";
import type { OverlayLimits } from "./limits.js";

interface Watcher {
  readonly intercepts: ReadonlySet<number>;
  readonly stream: BoundedStream<WatchEventsResponse>;
}

interface PendingForward {
  readonly watcher: Watcher;
  readonly resolve: (decision: WatcherDecision) => void;
  readonly timer: NodeJS.Timeout;
}

export type WatcherDecision =
  | { readonly action: "continue" }
  | { readonly action: "veto" }
  | { readonly action: "modify"; readonly payload: Uint8Array };

const CONTINUE: WatcherDecision = { action: "continue" };

export class WatcherHub {
  private readonly watchers = new Set<Watcher>();
  private readonly pending = new Map<string, PendingForward>();
  private readonly removeInterceptor: () => void;

  constructor(
    cluster: Cluster,
    private readonly limits: OverlayLimits,
  ) {
    this.removeInterceptor = cluster.addForwardInterceptor({
      wants: (purpose) => this.interested(purpose).length > 0,
      decide: (message, next) => this.decide(message, next),
    });
  }

  get count(): number {
    return this.watchers.size;
  }

  /** The application that turns the cluster's callbacks into events. */
  application(): Application {
    const node = (n: NodeInfo) => encodeNodeInfo(n);
    return {
      onNodeJoin: (n) => this.broadcast({ event: { $case: "nodeJoined", nodeJoined: { node: node(n) } } }),
      onNodeExit: (n, graceful) =>
        this.broadcast({ event: { $case: "nodeExited", nodeExited: { node: node(n), graceful } } }),
      onNewLeaves: (leaves) =>
        this.broadcast({
          event: { $case: "leafSetChanged", leafSetChanged: { leafSet: leaves.map(node) } },
        }),
      onHeartbeat: (n) => this.broadcast({ event: { $case: "heartbeat", heartbeat: { from: node(n) } } }),
    };
  }

  add(
    call: ServerWritableStream<WatchEventsRequest, WatchEventsResponse>,
    intercepts: ReadonlySet<number>,
    finished: (code: status) => void,
  ): void {
    const watcher: Watcher = {
      intercepts,
      stream: new BoundedStream(call, this.limits, "event watcher", (code) => {
        this.watchers.delete(watcher);
        for (const [id, p] of this.pending) if (p.watcher === watcher) this.resolve(id, CONTINUE);
        finished(code);
      }),
    };
    this.watchers.add(watcher);
  }

  /** Applies a DecideForward; false when the forward is unknown (already decided or timed out). */
  settle(forwardId: string, action: ForwardAction, payload: Uint8Array): boolean {
    if (!this.pending.has(forwardId)) return false;
    const decision: WatcherDecision =
      action === ForwardAction.FORWARD_ACTION_VETO
        ? { action: "veto" }
        : action === ForwardAction.FORWARD_ACTION_MODIFY
          ? { action: "modify", payload }
          : CONTINUE;
    this.resolve(forwardId, decision);
    return true;
  }

  close(): void {
    this.removeInterceptor();
    for (const id of [...this.pending.keys()]) this.resolve(id, CONTINUE);
    for (const w of [...this.watchers]) w.stream.end();
  }

  private interested(purpose: number): Watcher[] {
    return [...this.watchers].filter((w) => w.intercepts.has(purpose) && w.stream.isOpen);
  }

  private broadcast(event: WatchEventsResponse): void {
    for (const w of [...this.watchers]) w.stream.push(event, 0);
  }

  /** Asks every interested watcher at once; the first veto wins, modifications apply in watcher order. */
  private async decide(message: Message, next: NodeInfo): Promise<ForwardDecision> {
    const asked = this.interested(message.purpose).map((w) => this.ask(w, message, next));
    let current = message;
    for (const decision of await Promise.all(asked)) {
      if (decision.action === "veto") return false;
      if (decision.action === "modify") current = { ...current, payload: decision.payload };
    }
    return current === message ? true : current;
  }

  private ask(watcher: Watcher, message: Message, next: NodeInfo): Promise<WatcherDecision> {
    if (this.pending.size >= this.limits.maxPendingForwards) return Promise.resolve(CONTINUE);
    const forwardId = randomBytes(16).toString("hex");
    return new Promise<WatcherDecision>((resolve) => {
      const timer = setTimeout(() => this.resolve(forwardId, CONTINUE), this.limits.forwardDecisionTimeoutMs);
      this.pending.set(forwardId, { watcher, resolve, timer });
      const payload = message.payload;
      const sent = watcher.stream.push(
        {
          event: {
            $case: "forwardRequest",
            forwardRequest: {
              forwardId,
              messageId: message.id,
              key: Buffer.from(message.key.hex, "hex"),
              purpose: message.purpose,
              payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
              origin: encodeNodeInfo(message.origin),
              hops: message.hops,
              next: encodeNodeInfo(next),
            },
          },
        },
        payload.byteLength,
      );
      if (!sent) this.resolve(forwardId, CONTINUE);
    });
  }

  private resolve(forwardId: string, decision: WatcherDecision): void {
    const p = this.pending.get(forwardId);
    if (p === undefined) return;
    this.pending.delete(forwardId);
    clearTimeout(p.timer);
    p.resolve(decision);
  }
}
