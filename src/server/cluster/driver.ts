// The loop that runs the routing state machine: an input goes in (a peer's message, a tick, a send), the
// outputs it produced are acted on at once (hops and protocol messages handed to the transport, deliveries
// and events passed up), and each transport outcome comes back as the next input. It owns the ticker and
// the set of in-flight work a graceful stop waits for. It decides nothing itself: the machine decides, the
// Cluster says what a delivery or an event means to the applications.
import { status } from "@grpc/grpc-js";
import { BoundedMap } from "../../routing/bounded-map.js";
import type { PastryNode } from "../../routing/node.js";
import {
  MEASURED_ACKS,
  isReportedFailure,
  type NodeInfo,
  type Outbound,
  type Output,
  type RouteMessage,
  type RoutingEvent,
} from "../../routing/types.js";
import { peerRpcPath } from "../../wire/methods.js";
import type { Clock } from "../clock.js";
import type { ForwardGate } from "../forwarding.js";
import type { MessageTrace } from "../message-trace.js";
import type { WendyMetrics } from "../metrics/metrics.js";
import type { RoutingMetrics } from "../metrics/routing-metrics.js";
import type { PeerClientPool } from "../transport/peer-client.js";
import { PeerFailure } from "../transport/peer-failure.js";
import type { Logger } from "./options.js";

/** Peers remembered per address or per incarnation, at most (the least recent are forgotten). */
const MAX_REMEMBERED_PEERS = 4096;

/** One input to the machine: it is handed the machine and the current time. */
export type Step = (core: PastryNode, now: number) => void;

export interface CoreDriverOptions {
  readonly clock: Clock;
  readonly pool: PeerClientPool;
  readonly forwarding: ForwardGate;
  readonly heartbeatIntervalMs: number;
  readonly metrics?: WendyMetrics;
  readonly routingMetrics?: RoutingMetrics;
  readonly trace?: MessageTrace;
  readonly logger?: Logger;
  /** This node (known once it listens). */
  readonly self: () => NodeInfo;
  /** False once the node stopped: inputs are dropped and forwarded hops no longer sent. */
  readonly running: () => boolean;
  /** A message the machine delivered here. */
  readonly deliver: (message: RouteMessage) => void;
  /** An event the machine reported. */
  readonly event: (event: RoutingEvent) => void;
  /** Something that failed while acting on an output. */
  readonly reportError: (error: unknown) => void;
}

export class CoreDriver {
  private machine: PastryNode | undefined;
  /** One timer for every deadline of the machine, set for the earliest (see schedule). */
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private ticking = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Peer sends whose outcome has not come yet (counted, not kept as promises: one per hop). */
  private sendsInFlight = 0;
  /** Drains waiting for sendsInFlight to reach zero. */
  private sendsSettled: (() => void)[] = [];
  private readonly lastAcknowledged = new BoundedMap<string, number>(MAX_REMEMBERED_PEERS);
  /** The peer last called at each address (most recent last, bounded): whom a lost connection concerns. */
  private readonly peerAt = new BoundedMap<string, NodeInfo>(MAX_REMEMBERED_PEERS);

  constructor(private readonly options: CoreDriverOptions) {}

  /** The machine inputs go to (undefined before the node listens). */
  get core(): PastryNode | undefined {
    return this.machine;
  }

  /** Drives `core` from now on (a fresh machine for each join round). */
  use(core: PastryNode): void {
    this.machine = core;
    this.disarm();
    if (this.ticking) this.schedule();
  }

  /**
   * Ticks the machine when it has something to do (its nextTickAt: a probe, join or heartbeat deadline, held
   * back work), not on a period: an idle node wakes about twice a heartbeat instead of four times. The
   * machine never asks for a tick later than a quarter of the pause threshold after the last one, so a gap
   * as long as the failure timeout still means this process itself was paused (see config).
   */
  startTicker(): void {
    this.ticking = true;
    this.schedule();
  }

  stopTicker(): void {
    this.ticking = false;
    this.disarm();
  }

  /**
   * Sets the timer for the machine's next deadline if that is earlier than the one set (an input may bring a
   * deadline forward: a probe sent, a push held back). A timer set for a deadline that moved later only
   * fires early; its tick then sets the next.
   */
  private schedule(): void {
    const core = this.machine;
    if (core === undefined || !this.ticking) return;
    const at = core.nextTickAt();
    if (at >= this.timerAt || !Number.isFinite(at)) return;
    this.disarm();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.input((machine, now) => machine.tick(now));
        // A tick the machine found nothing to do in still needs the next one set.
        this.schedule();
      },
      Math.max(0, at - this.options.clock.now()),
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  /**
   * Runs one input through the state machine and acts on everything it produced. `inspect` sees each
   * output first (a caller learning the outcome of its own input within that input).
   */
  input(step: Step, inspect?: (output: Output) => void): void {
    const core = this.machine;
    if (core === undefined || !this.options.running()) return;
    step(core, this.options.clock.now());
    for (const output of core.takeOutputs()) {
      inspect?.(output);
      this.options.trace?.output(output);
      try {
        this.act(output);
      } catch (error) {
        this.options.reportError(error);
      }
    }
    this.schedule();
  }

  /** A connection to `address` broke: the machine hears of it about the peer last called there. */
  connectionLost(address: string): void {
    const peer = this.peerAt.get(address);
    if (peer !== undefined) this.input((core, now) => core.connectionLost(peer, now));
  }

  /** Keeps `work` in the set that a graceful stop waits for. */
  track(work: Promise<unknown>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /**
   * Resolves true once no tracked work is left, false when `ms` passed first. Work settling may add work (a
   * hop handed on after a failed one, an ack sent again), so the set is awaited until it stays empty.
   */
  async drain(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    let settled = true;
    // Bounded by the timer: each round waits for at least one promise, and rounds end when time runs out.
    while (this.inFlight.size > 0 || this.sendsInFlight > 0) {
      const round = await Promise.race([
        Promise.all([Promise.allSettled([...this.inFlight]), this.whenSendsSettled()]).then(() => true),
        outOfTime,
      ]);
      if (!round) {
        settled = false;
        break;
      }
    }
    clearTimeout(timer);
    return settled;
  }

  private whenSendsSettled(): Promise<void> {
    if (this.sendsInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.sendsSettled.push(resolve));
  }

  private act(output: Output): void {
    switch (output.type) {
      case "send":
        return this.transmit(output.out);
      case "deliver":
        return this.options.deliver(output.message);
      case "forward":
        return this.options.forwarding.decide(output.message, output.next);
      case "event":
        return this.options.event(output.event);
    }
  }

  /** A route hop goes out as the forward hooks decided; anything else at once. */
  private transmit(out: Outbound): void {
    if (out.message.type !== "route") return this.dispatch(out);
    const metrics = this.options.metrics;
    const plan = this.options.forwarding.planFor(out.message.message);
    switch (plan.kind) {
      case "veto":
        metrics?.messageDropped("vetoed");
        return;
      case "send":
        metrics?.messageForwarded();
        return this.dispatch({ ...out, message: { type: "route", message: plan.message } });
      case "wait":
        return this.track(
          plan.decision.then((message) => {
            if (!this.options.running()) return metrics?.messageDropped("undeliverable");
            if (message === false) return metrics?.messageDropped("vetoed");
            metrics?.messageForwarded();
            this.dispatch({ ...out, message: { type: "route", message } });
          }),
        );
    }
  }

  /** Hands one message to the transport and feeds the outcome back. */
  private dispatch(outbound: Outbound): void {
    const self = this.options.self();
    if (outbound.to !== undefined) this.notePeerAt(outbound.address, outbound.to);
    const path = peerRpcPath(outbound.message.type);
    const clock = this.options.clock;
    const started = clock.now();
    this.sendsInFlight++;
    this.options.pool.transmit(self, outbound, (error, rtt) => {
      try {
        if (error === undefined) this.sent(outbound, path, rtt);
        else this.sendFailed(outbound, path, error, (clock.now() - started) / 1000);
      } catch (thrown) {
        this.options.reportError(thrown);
      } finally {
        // After the outcome was acted on: work it started (a hop handed on again) keeps a stop waiting.
        if (--this.sendsInFlight === 0) for (const resolve of this.sendsSettled.splice(0)) resolve();
      }
    });
  }

  private sent(outbound: Outbound, path: string, rtt: number): void {
    this.options.metrics?.peerRpcCompleted(path, status.OK, rtt / 1000);
    const to = outbound.to;
    if (to === undefined) return;
    if (MEASURED_ACKS.has(outbound.message.type)) this.input((core, now) => core.reportRtt(to, rtt, now));
    this.noteAcknowledged(to);
  }

  private sendFailed(outbound: Outbound, path: string, error: unknown, seconds: number): void {
    const failure = error instanceof PeerFailure ? error : undefined;
    const code = failure?.code ?? status.UNKNOWN;
    this.options.logger?.debug(
      { to: outbound.address, type: outbound.message.type, code, error: String(error) },
      "peer call failed",
    );
    this.options.metrics?.peerRpcCompleted(path, code, seconds);
    // Only failures that demand action go back to the core (see isReportedFailure).
    if (isReportedFailure(outbound.message)) {
      const cause =
        failure?.neverArrived === true
          ? "unreachable"
          : failure?.connectionBroken === true
            ? "broken"
            : "unknown";
      this.input((core, now) => core.sendFailed(outbound, now, cause));
    }
  }

  private notePeerAt(address: string, peer: NodeInfo): void {
    // Re-inserted, so the addresses called longest ago are the ones forgotten.
    this.peerAt.delete(address);
    this.peerAt.set(address, peer);
  }

  /**
   * An acknowledged call is first-hand proof that the peer lives: the core hears of it, at most a few times
   * per heartbeat interval per peer (busy links acknowledge thousands of hops a second).
   */
  private noteAcknowledged(peer: NodeInfo): void {
    const now = this.options.clock.now();
    const key = `${peer.id.hex}:${peer.incarnation}`;
    const last = this.lastAcknowledged.get(key);
    if (last !== undefined && now - last < this.options.heartbeatIntervalMs / 4) return;
    // Re-inserted, so the peers heard from longest ago are the ones forgotten.
    this.lastAcknowledged.delete(key);
    this.lastAcknowledged.set(key, now);
    this.options.routingMetrics?.heardFrom(peer, now);
    this.input((core, at) => core.heardFrom(peer, at));
  }
}
