// The applications' say over each hop this node forwards: synchronous `onForward` callbacks decide at once,
// asynchronous interceptors (co-located services over gRPC) make the hop wait. Either may veto the hop or
// change its purpose and payload; the key is fixed once routing started.
import { FIRST_APPLICATION_PURPOSE, type NodeInfo, type RouteMessage } from "../routing/types.js";
import { asError } from "../shared/as-error.js";
import type { Application, ForwardDecision, Message } from "./application.js";
import { InvalidArgumentError } from "./errors.js";
import { applicationPurposeProblem, payloadProblem } from "../wire/limits.js";

/**
 * An asynchronous forward hook (e.g. a co-located service deciding over gRPC). While it decides, the hop
 * waits; the hook must settle within its own timeout (it is the hook's job to default to "continue").
 */
export interface ForwardInterceptor {
  wants(purpose: number): boolean;
  decide(message: Message, next: NodeInfo): Promise<ForwardDecision>;
}

/** What to do with a route hop the core asks to send. */
export type HopPlan =
  | { readonly kind: "send"; readonly message: RouteMessage }
  | { readonly kind: "veto" }
  | { readonly kind: "wait"; readonly decision: Promise<RouteMessage | false> };

export interface ForwardGateOptions {
  readonly applications: () => readonly Application[];
  readonly maxPurpose: number;
  readonly maxPayloadBytes: number;
  /** Runs an application callback, reporting (not throwing) what it throws. */
  readonly guard: <T>(callback: () => T) => T | undefined;
  readonly reportError: (error: Error) => void;
}

export function toMessage(m: RouteMessage): Message {
  return { id: m.id, key: m.key, purpose: m.purpose, payload: m.payload, origin: m.origin, hops: m.hops };
}

export class ForwardGate {
  private readonly interceptors = new Set<ForwardInterceptor>();
  // Decisions taken on the core's "forward" output, applied to the "send" output that follows it.
  private readonly plans = new Map<string, HopPlan>();

  constructor(private readonly options: ForwardGateOptions) {}

  addInterceptor(interceptor: ForwardInterceptor): () => void {
    this.interceptors.add(interceptor);
    return () => this.interceptors.delete(interceptor);
  }

  /** The core is about to forward `message` to `next`: ask the hooks. */
  decide(message: RouteMessage, next: NodeInfo): void {
    // The runtime's own traffic is not the applications' to veto or change.
    if (message.purpose < FIRST_APPLICATION_PURPOSE) return;
    let current = message;
    for (const app of this.options.applications()) {
      if (app.onForward === undefined) continue;
      const decision = this.options.guard(() => app.onForward?.(toMessage(current), next));
      if (decision === false) {
        this.plans.set(message.id, { kind: "veto" });
        return;
      }
      if (typeof decision === "object" && decision !== null) current = this.applyChange(current, decision);
    }
    const interested = [...this.interceptors].filter((i) => i.wants(current.purpose));
    if (interested.length > 0) {
      this.plans.set(message.id, { kind: "wait", decision: this.ask(interested, current, next) });
    } else if (current !== message) {
      this.plans.set(message.id, { kind: "send", message: current });
    }
  }

  /** What to do with the hop the core now asks to send (decided by `decide` just before). */
  planFor(message: RouteMessage): HopPlan {
    const plan = this.plans.get(message.id);
    if (plan === undefined) return { kind: "send", message };
    this.plans.delete(message.id);
    return plan;
  }

  /** Runs the asynchronous hooks one after another; the first veto wins, changes accumulate. */
  private async ask(
    interceptors: readonly ForwardInterceptor[],
    message: RouteMessage,
    next: NodeInfo,
  ): Promise<RouteMessage | false> {
    let current = message;
    for (const interceptor of interceptors) {
      let decision: ForwardDecision;
      try {
        decision = await interceptor.decide(toMessage(current), next);
      } catch (error) {
        this.options.reportError(asError(error));
        continue;
      }
      if (decision === false) return false;
      if (typeof decision === "object" && decision !== null) current = this.applyChange(current, decision);
    }
    return current;
  }

  /** Only purpose and payload may change on the way; an invalid change is reported and ignored. */
  private applyChange(message: RouteMessage, change: Message): RouteMessage {
    const purpose = change.purpose;
    const problem =
      applicationPurposeProblem(purpose, this.options.maxPurpose) ??
      payloadProblem(change.payload.byteLength, this.options.maxPayloadBytes);
    if (problem !== undefined) {
      this.options.reportError(
        new InvalidArgumentError(
          `a forward hook returned an invalid message for ${message.id} (${problem}); forwarding it unchanged`,
        ),
      );
      return message;
    }
    return { ...message, purpose, payload: change.payload };
  }
}
