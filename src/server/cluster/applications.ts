// The applications registered on a Cluster and what they hear: deliveries (and, for a message whose
// sender waits, their answer: acknowledged, or refused with a status code), membership events, and the
// errors of their own callbacks, which are reported to them and never thrown into the runtime. Messages on
// the protocol's reserved purposes go to the runtime's own handlers instead, never to applications.
import { status } from "@grpc/grpc-js";
import {
  FIRST_APPLICATION_PURPOSE,
  type Refusal,
  type RouteMessage,
  type RoutingEvent,
} from "../../routing/types.js";
import { asError } from "../../shared/as-error.js";
import type { Application, Message } from "../application.js";
import { toMessage } from "../forwarding.js";
import { WendyError } from "../errors.js";
import type { WendyMetrics } from "../metrics/metrics.js";

export interface ApplicationsOptions {
  readonly metrics?: WendyMetrics;
  /** This node's id in hex, for the refusal when no application takes a delivery. */
  readonly selfHex: () => string;
  /** Hands the applications' answer to a delivered message that wants one to the routing core. */
  readonly answer: (messageId: string, answered: Promise<Refusal | undefined>) => void;
}

export class Applications {
  readonly registered: Application[] = [];
  private readonly reservedHandlers = new Map<number, (message: Message) => void>();
  /** Reserved purposes whose handler answers each message's origin (see Cluster.onReserved). */
  private readonly answering = new Set<number>();

  constructor(private readonly options: ApplicationsOptions) {}

  register(app: Application): void {
    this.registered.push(app);
  }

  /**
   * Receives messages delivered here on reserved `purpose`; `answersOrigin`: the handler answers each one's
   * origin directly (Cluster.sendToNode). Returns a function that unregisters.
   */
  onReserved(purpose: number, handler: (message: Message) => void, answersOrigin = false): () => void {
    this.reservedHandlers.set(purpose, handler);
    if (answersOrigin) this.answering.add(purpose);
    else this.answering.delete(purpose);
    return () => {
      if (this.reservedHandlers.get(purpose) !== handler) return;
      this.reservedHandlers.delete(purpose);
      this.answering.delete(purpose);
    };
  }

  /** Whether a message on `purpose` delivered here is answered to its origin by a handler. */
  answersOrigin(purpose: number): boolean {
    return this.answering.has(purpose);
  }

  /** A message delivered here: to the reserved handler of its purpose, or to every application. */
  deliver(message: RouteMessage): void {
    const delivered = toMessage(message);
    if (message.purpose < FIRST_APPLICATION_PURPOSE) {
      const handler = this.reservedHandlers.get(message.purpose);
      if (handler !== undefined) this.guard(() => handler(delivered));
      if (message.wantAck) this.answer(message, Promise.resolve());
      return;
    }
    this.options.metrics?.messageDelivered(message.hops);
    const answers: Promise<void>[] = [];
    for (const app of this.registered) {
      if (app.onDeliver === undefined) continue;
      try {
        answers.push(Promise.resolve(app.onDeliver(delivered)));
      } catch (error) {
        answers.push(Promise.reject(asError(error)));
      }
    }
    if (!message.wantAck) {
      // Nobody waits for the outcome: an application that refuses has counted or reported it itself.
      for (const answer of answers) answer.catch(() => undefined);
      return;
    }
    if (answers.length === 0) {
      const refusal = new WendyError(
        `no application at node ${this.options.selfHex()} (the key's owner) takes deliveries (purpose ${message.purpose})`,
        status.FAILED_PRECONDITION,
      );
      answers.push(Promise.reject(refusal));
    }
    this.answer(message, Promise.all(answers));
  }

  /** Tells every application of a membership event; other events are not theirs. */
  tell(event: RoutingEvent): void {
    switch (event.type) {
      case "nodeJoined":
        for (const app of this.registered) this.guard(() => app.onNodeJoin?.(event.node));
        return;
      case "nodeExited":
        for (const app of this.registered) this.guard(() => app.onNodeExit?.(event.node, event.graceful));
        return;
      case "leafSetChanged":
        for (const app of this.registered) this.guard(() => app.onNewLeaves?.(event.leafSet));
        return;
      case "heartbeat":
        for (const app of this.registered) this.guard(() => app.onHeartbeat?.(event.from));
        return;
    }
  }

  /** Runs an application callback; what it throws is reported, not thrown. */
  guard<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.reportError(error);
      return undefined;
    }
  }

  /** To every application's onError; a process warning when none has one. */
  reportError(error: unknown): void {
    const e = asError(error);
    let handled = false;
    for (const app of this.registered) {
      if (app.onError === undefined) continue;
      handled = true;
      try {
        app.onError(e);
      } catch {
        // An error handler that throws has nowhere left to report to.
      }
    }
    if (!handled) process.emitWarning(e);
  }

  /** The applications' answer: undefined once all acknowledged, the refusal of the first that refused. */
  private answer(message: RouteMessage, answered: Promise<unknown>): void {
    this.options.answer(
      message.id,
      answered.then(
        () => undefined,
        (error: unknown) => refusalOf(error),
      ),
    );
  }
}

/** gRPC status codes a refusal may carry; anything else an application throws is UNKNOWN. */
const MAX_STATUS_CODE = 16;
/** The longest refusal reason sent to the origin (the wire allows 1024). */
const MAX_REFUSAL_REASON = 1000;

/** What an application's rejection tells the message's origin: its status code and message. */
function refusalOf(error: unknown): Refusal {
  const reason = asError(error).message.slice(0, MAX_REFUSAL_REASON);
  const code = (error as { code?: unknown } | null)?.code;
  const valid = typeof code === "number" && Number.isInteger(code) && code > 0 && code <= MAX_STATUS_CODE;
  return { code: valid ? code : status.UNKNOWN, reason };
}
