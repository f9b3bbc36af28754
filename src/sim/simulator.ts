// Runs many routing state machines on one virtual clock: the event loop. It delivers their messages after
// the virtual network's latency, ticks each node on its own phase and acts on every machine's outputs. Its
// parts: membership.ts (node lifecycle: join, crash, leave), message-ledger.ts (each application message
// followed and each delivery checked against global truth), send-counters.ts (measurement hooks on every
// send), virtual-wire.ts (a message's fate between two nodes), grow.ts (the build phase).
import type { NodeId } from "../routing/id.js";
import {
  DEFAULT_ROUTING_CONFIG,
  FIRST_APPLICATION_PURPOSE,
  isReportedFailure,
  type Output,
  type Outbound,
  type PeerMessageType,
  type RoutingConfig,
  type RoutingEvent,
} from "../routing/types.js";
import { EventQueue } from "./event-queue.js";
import { type GrowOptions, growOverlay } from "./grow.js";
import type { MachineFactory } from "./machine.js";
import { type FailedJoin, Membership } from "./membership.js";
import {
  type Accounting,
  type DeliveryChecks,
  MessageLedger,
  type TrackedMessage,
} from "./message-ledger.js";
import { type NetworkConfig, VirtualNetwork } from "./network.js";
import { Prng } from "./prng.js";
import { RingTruth } from "./ring-truth.js";
import {
  type CountsByCause,
  PeakMemory,
  receivedCause,
  type SendCause,
  SendCounters,
} from "./send-counters.js";
import type { SimEvent, TraceEntry } from "./sim-event.js";
import { type CrashKind, type SeedSelection, type SimNode, isDraining, isLive } from "./sim-node.js";
import { VirtualWire } from "./virtual-wire.js";

export type { GrowOptions } from "./grow.js";
export type { FailedJoin } from "./membership.js";
export type {
  Accounting,
  DeliveryChecks,
  MessageStatus,
  Misdelivery,
  TrackedMessage,
} from "./message-ledger.js";
export type { TraceEntry } from "./sim-event.js";
export type { CrashKind, NodeState, SeedSelection, SimNode } from "./sim-node.js";

export interface SimulatorOptions {
  readonly seed: number;
  readonly createMachine: MachineFactory;
  readonly routing?: Partial<RoutingConfig>;
  readonly network?: Partial<NetworkConfig>;
  /** A message lost or sent to a dead node is reported back to its sender this long after it was sent. */
  readonly hopTimeoutMs?: number;
  readonly seedSelection?: SeedSelection;
  /** Seeds handed to each joiner (it retries through the next one when a join times out). */
  readonly seedsPerJoin?: number;
  /** Sees every message as it is sent and as it arrives (or fails): for debugging one node's story. */
  readonly trace?: (entry: TraceEntry) => void;
  /**
   * Hold back the ticks of a ready node that its machine says have nothing to do (before its nextTickAt),
   * and run them just before its next input (see HeldTicks). The machine sees the very same calls in the
   * same order, so results are identical; only the work is batched. Default true; false ticks every node
   * at once, as before.
   */
  readonly lazyTicks?: boolean;
  /**
   * When a node's machine is ticked. "period" (default): every quarter heartbeat interval, on the node's own
   * phase, so a deadline (a probe's, a heartbeat's) is met at the next tick after it. "deadline": as the
   * runtime does (src/server/cluster/driver.ts), one timer per node set for its machine's nextTickAt after
   * every input, brought forward when an input brings a deadline forward; the figures then follow the
   * configured timeouts, not a tick period tied to the heartbeat interval.
   */
  readonly ticks?: TickMode;
}

export type TickMode = "period" | "deadline";

const MEMORY_SAMPLE_EVERY = 20_000;
/**
 * A tick is held back only when it comes at least this long before the machine's nextTickAt: a margin far
 * above any rounding in the deadlines nextTickAt adds up (a held-back tick that had work would be caught by
 * HeldTicks.replay, which throws).
 */
const LAZY_TICK_MARGIN_MS = 1;

export class Simulator {
  readonly network: VirtualNetwork;
  readonly truth = new RingTruth();
  readonly routingConfig: RoutingConfig;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly random: Prng;
  private readonly membership: Membership;
  /** The membership's node list, by index. */
  private readonly nodes: readonly SimNode[];
  private readonly ledger = new MessageLedger();
  private readonly counters = new SendCounters();
  private readonly memory = new PeakMemory();
  private readonly wire: VirtualWire;
  private readonly tickIntervalMs: number;
  private eventsProcessed = 0;
  private readonly trace: ((entry: TraceEntry) => void) | undefined;
  private readonly heldTicks: HeldTicks | undefined;
  /** Deadline ticks only: by node index, when its timer is set for, and that timer's number. */
  private readonly deadlineTimers: DeadlineTimers | undefined;

  constructor(options: SimulatorOptions) {
    this.random = new Prng(options.seed);
    this.network = new VirtualNetwork(options.network);
    this.routingConfig = { ...DEFAULT_ROUTING_CONFIG, ...options.routing };
    this.tickIntervalMs = this.routingConfig.heartbeatIntervalMs / 4;
    const queue = this.queue;
    this.membership = new Membership({
      driver: {
        get now(): number {
          return queue.now;
        },
        after: (delayMs, event): void => queue.after(delayMs, event),
        process: (index, leaving): void => this.process(index, leaving ?? false, "command"),
      },
      random: this.random,
      network: this.network,
      truth: this.truth,
      routingConfig: this.routingConfig,
      createMachine: options.createMachine,
      tickIntervalMs: this.tickIntervalMs,
      seedSelection: options.seedSelection ?? { kind: "random" },
      seedsPerJoin: Math.max(1, options.seedsPerJoin ?? 2),
    });
    this.nodes = this.membership.nodes;
    this.trace = options.trace;
    this.wire = new VirtualWire({
      queue,
      network: this.network,
      random: this.random,
      counters: this.counters,
      hopTimeoutMs: options.hopTimeoutMs ?? 400,
      trace: this.trace,
    });
    // A finite pause threshold lets an input move the machine's last-tick time (a re-validation): then
    // nextTickAt's floor is not one the simulator can see, so every tick is run as it comes.
    this.deadlineTimers = options.ticks === "deadline" ? new DeadlineTimers() : undefined;
    const lazy =
      this.deadlineTimers === undefined &&
      options.lazyTicks !== false &&
      this.routingConfig.pauseThresholdMs === Number.POSITIVE_INFINITY;
    this.heldTicks = lazy ? new HeldTicks(this.tickIntervalMs) : undefined;
    this.memory.sample();
  }

  get now(): number {
    return this.queue.now;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  get joining(): number {
    return this.membership.joining;
  }

  get events(): number {
    return this.eventsProcessed;
  }

  /** Ticks held back so far because the machine had nothing due (each run later, see lazyTicks). */
  get ticksHeld(): number {
    return this.heldTicks?.total ?? 0;
  }

  node(index: number): SimNode {
    const n = this.nodes[index];
    if (n === undefined) throw new RangeError(`no simulated node ${index}`);
    return n;
  }

  allNodes(): readonly SimNode[] {
    return this.nodes;
  }

  liveNodes(): SimNode[] {
    return this.nodes.filter(isLive);
  }

  readyNodes(): SimNode[] {
    return this.nodes.filter((n) => n.state === "ready");
  }

  // ---- membership (membership.ts) ---------------------------------------------------------------------

  /**
   * Creates a node now. The very first node bootstraps a new ring; every other one joins through the real
   * join protocol via live ready seed(s) chosen by `seedSelection`.
   */
  addNode(): SimNode {
    return this.membership.addNode();
  }

  /** Schedules `count` joins spread uniformly over the next `spreadMs`. */
  scheduleJoins(count: number, spreadMs: number): void {
    this.membership.scheduleJoins(count, spreadMs);
  }

  /**
   * The node stops at once: it sends nothing more and everything sent to it fails at the sender, refused
   * ("process") or timed out ("host", the default), see CrashKind.
   */
  crash(index: number, kind: CrashKind = "host"): void {
    const node = this.node(index);
    // Its state stays readable (leaf set, table): as it was with every tick up to now.
    this.heldTicks?.replay(node);
    this.membership.crash(node, kind);
    this.heldTicks?.stopped(node);
  }

  /** Graceful leave: the machine tells its peers, then stops. */
  leave(index: number): void {
    const node = this.node(index);
    this.heldTicks?.replay(node);
    this.membership.leave(node);
    this.heldTicks?.stopped(node);
  }

  /** Crashes `count` distinct random live nodes; returns their indices. */
  crashRandom(count: number): number[] {
    const victims = this.membership.pickVictims(count);
    for (const v of victims) this.crash(v);
    return victims;
  }

  /** Grows the overlay to `total` nodes in waves (grow.ts); false if `abort` stopped it. */
  grow(total: number, options: GrowOptions = {}): boolean {
    return growOverlay(this, total, options);
  }

  failedJoins(): readonly FailedJoin[] {
    return this.membership.failedJoins();
  }

  // ---- traffic ----------------------------------------------------------------------------------------

  /** Routes one application message from `origin` to `key`; returns its id. */
  sendMessage(origin: number, key: NodeId, wantAck = true): string {
    const node = this.node(origin);
    if (node.state === "crashed" || node.state === "left") throw new Error(`node ${origin} is not live`);
    this.heldTicks?.replay(node);
    const id = node.machine.send(key, FIRST_APPLICATION_PURPOSE, new Uint8Array(0), { wantAck }, this.now);
    this.ledger.track(id, key, origin, this.now);
    this.process(origin, false, "command");
    return id;
  }

  /** Sends one message to a random key from a random ready node; returns its id (undefined if none ready). */
  sendRandomMessage(wantAck = true): string | undefined {
    if (this.truth.size === 0) return undefined;
    const origin = this.truth.at(this.random.int(this.truth.size));
    return this.sendMessage(origin.index, this.random.nodeId(), wantAck);
  }

  /** Schedules `count` random messages spread uniformly over the next `spreadMs`. */
  scheduleTraffic(count: number, spreadMs: number, wantAck = true): void {
    for (let i = 0; i < count; i++) {
      this.queue.after(this.random.next() * spreadMs, {
        kind: "call",
        run: () => void this.sendRandomMessage(wantAck),
      });
    }
  }

  /** Runs `run` at virtual time now + delay. */
  at(delayMs: number, run: () => void): void {
    this.queue.after(delayMs, { kind: "call", run });
  }

  // ---- running ----------------------------------------------------------------------------------------

  /** Processes every event up to and including virtual time `time`; the clock ends at `time`. */
  runUntil(time: number): void {
    while (true) {
      const t = this.queue.peekTime();
      if (t === undefined || t > time) break;
      this.step();
    }
    this.queue.advanceTo(time);
  }

  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /**
   * Runs until `done()` holds (checked every `checkEveryMs` of virtual time) or `maxMs` has passed.
   * Returns whether `done()` held.
   */
  runUntilCondition(done: () => boolean, maxMs: number, checkEveryMs = 100): boolean {
    const deadline = this.now + maxMs;
    while (!done()) {
      if (this.now >= deadline) return false;
      this.runUntil(Math.min(deadline, this.now + checkEveryMs));
    }
    return true;
  }

  private step(): void {
    const ev = this.queue.pop();
    if (ev === undefined) return;
    if (++this.eventsProcessed % MEMORY_SAMPLE_EVERY === 0) this.memory.sample();
    switch (ev.kind) {
      case "arrive":
        this.arrive(ev.from, ev.to, ev.out, ev.sentAt);
        break;
      case "failed": {
        const node = this.nodes[ev.node] as SimNode;
        this.trace?.({ at: this.now, what: "fail", from: ev.node, to: undefined, out: ev.out });
        // As the runtime: only the failures the core acts on are reported, each with its cause; a node that
        // left hears of its own calls' failures while it drains them.
        if (!isReportedFailure(ev.out.message)) break;
        if (isLive(node)) {
          this.heldTicks?.replay(node);
          node.machine.sendFailed(ev.out, this.now, ev.cause);
          this.process(ev.node, false, "send failed");
        } else if (isDraining(node, this.now)) {
          node.machine.sendFailed(ev.out, this.now, ev.cause);
          this.process(ev.node, true, "send failed");
        }
        break;
      }
      case "connectionLost": {
        const node = this.nodes[ev.node] as SimNode;
        if (isLive(node)) {
          this.heldTicks?.replay(node);
          node.machine.connectionLost((this.nodes[ev.peer] as SimNode).info, this.now);
          this.process(ev.node, false, "connection lost");
        }
        break;
      }
      case "acked": {
        const node = this.nodes[ev.node] as SimNode;
        if (isLive(node)) {
          this.heldTicks?.replay(node);
          node.machine.reportRtt((this.nodes[ev.peer] as SimNode).info, ev.rttMs, this.now);
          this.process(ev.node, false, "round trip");
        }
        break;
      }
      case "tick": {
        const timers = this.deadlineTimers;
        if (timers !== undefined) {
          if (!timers.fires(ev.node, ev.timer)) break;
          const node = this.nodes[ev.node] as SimNode;
          if (isLive(node)) {
            node.machine.tick(this.now);
            this.process(ev.node, false, "tick");
          }
          break;
        }
        const held = this.heldTicks;
        // Decided from the simulator's own arrays, without loading the node (with many nodes, a cache miss).
        // Ticks come back one period after the one just taken: in time order, the queue's cheap lane.
        if (held?.hold(ev.node, this.now) === true) {
          this.queue.scheduleInOrder(this.now + this.tickIntervalMs, ev);
          break;
        }
        const node = this.nodes[ev.node] as SimNode;
        if (isLive(node)) {
          held?.replay(node);
          node.machine.tick(this.now);
          held?.ticked(node);
          this.process(ev.node, false, "tick");
          this.queue.scheduleInOrder(this.now + this.tickIntervalMs, ev);
        }
        break;
      }
      case "call":
        ev.run();
        break;
    }
  }

  private arrive(from: number, to: number, out: Outbound, sentAt: number): void {
    const target = this.nodes[to] as SimNode;
    if (!isLive(target)) {
      this.wire.bounce(from, target, out, sentAt);
      return;
    }
    this.trace?.({ at: this.now, what: "arrive", from, to, out });
    const msg = out.message;
    if (msg.type === "route") this.ledger.hopArrived(msg.message.id, to, this.network.latency(from, to));
    this.heldTicks?.replay(target);
    target.machine.receive((this.nodes[from] as SimNode).info, msg, this.now);
    this.process(to, false, receivedCause(msg.type));
    this.wire.acknowledge(from, to, out, sentAt);
  }

  /**
   * Acts on everything a machine has output while handling `cause`. `leaving` lets a node that is leaving
   * still send.
   */
  private process(index: number, leaving: boolean, cause: SendCause): void {
    const node = this.nodes[index] as SimNode;
    if (!leaving && !isLive(node)) return;
    const outputs: Output[] = node.machine.takeOutputs();
    for (const o of outputs) {
      switch (o.type) {
        case "send":
          this.wire.transmit(node, o.out, cause);
          break;
        case "deliver":
          this.ledger.delivered(
            node,
            o.message.id,
            o.message.key,
            o.message.hops,
            this.truth.owner(o.message.key),
            this.now,
          );
          break;
        case "forward":
          break;
        case "event":
          this.onEvent(node, o.event);
          break;
      }
    }
    this.heldTicks?.inputDone(node);
    if (this.deadlineTimers !== undefined && node.state !== "crashed") {
      const timer = this.deadlineTimers.set(index, node.machine.nextTickAt());
      if (timer !== undefined) this.queue.schedule(timer.at, { kind: "tick", node: index, timer: timer.id });
    }
  }

  private onEvent(node: SimNode, event: RoutingEvent): void {
    switch (event.type) {
      case "ready":
        this.membership.markReady(node);
        break;
      case "dropped":
        this.ledger.dropped(event.message.id, event.reason);
        break;
      case "acked":
        this.ledger.acked(event.messageId);
        break;
      case "joinFailed":
        this.membership.markJoinFailed(node, event.reason);
        break;
      default:
        break;
    }
  }

  // ---- measurements (message-ledger.ts, send-counters.ts) ---------------------------------------------

  /** Starts a new measurement window for message counts. */
  resetMessageCounts(): void {
    this.counters.resetWindow(this.now);
  }

  /** Messages sent per type, and per what prompted them, in the current window; the window's length in ms. */
  messageCounts(): {
    readonly counts: Partial<Record<PeerMessageType, number>>;
    readonly byCause: CountsByCause;
    readonly windowMs: number;
  } {
    return this.counters.window(this.now);
  }

  totalMessageCounts(): Partial<Record<PeerMessageType, number>> {
    return this.counters.totals();
  }

  /** Maintenance messages (everything but `route` and `ack`) per live node per second in the window. */
  maintenanceRate(): number {
    const { counts, windowMs } = this.messageCounts();
    let maintenance = 0;
    for (const [type, n] of Object.entries(counts)) {
      if (type !== "route" && type !== "ack") maintenance += n;
    }
    const live = this.liveNodes().length;
    return windowMs > 0 && live > 0 ? maintenance / live / (windowMs / 1000) : 0;
  }

  messages(): readonly TrackedMessage[] {
    return this.ledger.messages();
  }

  message(id: string): TrackedMessage | undefined {
    return this.ledger.message(id);
  }

  /** Forgets tracked messages (e.g. between measurement phases) without touching the overlay. */
  clearTrackedMessages(): void {
    this.ledger.clear();
  }

  /** Every tracked message, accounted for. */
  account(): Accounting {
    return this.ledger.account((index) => (this.nodes[index] as SimNode).state);
  }

  /** Delivery checks over the whole run, including messages no longer tracked. */
  deliveryChecks(): DeliveryChecks {
    return this.ledger.deliveryChecks();
  }

  /** Sends that broke the addressing contract (wrong local/global choice, or an address nobody has). */
  addressingErrors(): { readonly wrongChoice: number; readonly unknownAddress: number } {
    return this.counters.addressingErrors();
  }

  /** Peak resident set and heap seen so far (sampled every few thousand events). */
  peakMemory(): { readonly rssBytes: number; readonly heapUsedBytes: number } {
    this.memory.sample();
    return this.memory.peak();
  }
}

/**
 * Ticks held back per node. A ready machine names in nextTickAt() when tick() next has anything to do;
 * ticks before that only move its clocks (the time of its last tick, its failure-rate estimate, the
 * one-push-per-tick allowance) and send nothing. Such a tick is not run when it falls due but counted, and
 * the held ticks are run, at their own times and in order, just before the node's next input (a message,
 * a failed send, a broken connection, a send, a leave or crash, or a tick that has work). The machine
 * receives exactly the calls it would have, in the same order, so every result is the same; the simulator
 * only batches them: a node's state is loaded once for its held ticks and its input instead of once per
 * tick, which is most of a tick's cost with thousands of nodes. The tick events themselves stay on the
 * queue, so the order of all events (and the events count) is untouched. A held tick that turns out to
 * have output would have sent it late: replay throws rather than let a run differ silently.
 * nextTickAt() is never earlier than a minimum gap after the machine's last tick (or, before its first,
 * after its last input), even when work is due sooner. After a tick that floor falls before the next
 * periodic tick (the gap, 250 ms, is shorter than the period), so it holds nothing back; before a node's
 * first tick it could, so a node's ticks are held only once it has ticked.
 */
class HeldTicks {
  /** By node index: when the machine's next tick with work is due (-Infinity: tick it as it comes). */
  private readonly wakeAt: number[] = [];
  /** By node index: how many ticks are held, and the time of the first (the rest follow a period apart). */
  private readonly count: number[] = [];
  private readonly firstAt: number[] = [];
  /** By node index: 1 once the machine has ticked (its nextTickAt then counts from its last tick). */
  private readonly hasTicked: number[] = [];
  /** Ticks held so far. */
  total = 0;

  constructor(private readonly periodMs: number) {}

  /** `node` crashed or left: its ticks are never held again (the simulator drops them). */
  stopped(node: SimNode): void {
    this.wakeAt[node.index] = Number.NEGATIVE_INFINITY;
  }

  /** The tick of `node` was run as it came. */
  ticked(node: SimNode): void {
    this.hasTicked[node.index] = 1;
  }

  /**
   * Holds the tick of node `i` due at `now` if its machine has nothing to do then; false: run it (or drop
   * it, for a node that stopped).
   */
  hold(i: number, now: number): boolean {
    if (!(now + LAZY_TICK_MARGIN_MS < (this.wakeAt[i] ?? Number.NEGATIVE_INFINITY))) return false;
    const held = this.count[i] as number;
    if (held === 0) this.firstAt[i] = now;
    this.count[i] = held + 1;
    this.total++;
    return true;
  }

  /** Runs the held ticks of `node`, at their own times, before it takes another input. */
  replay(node: SimNode): void {
    const i = node.index;
    const held = this.count[i];
    if (held === undefined || held === 0) return;
    this.count[i] = 0;
    let at = this.firstAt[i] as number;
    for (let k = 0; k < held; k++) {
      // The queue timed each tick one period after the previous one (now + period): the same sum here.
      if (k > 0) at = at + this.periodMs;
      node.machine.tick(at);
      if (node.machine.takeOutputs().length > 0) {
        throw new Error(
          `simulator: node ${i}'s tick at ${at} ms had output although its nextTickAt() said ` +
            `${this.wakeAt[i]} ms; held-back ticks would change the results (run with lazyTicks: false)`,
        );
      }
    }
  }

  /** `node` took an input and its outputs were handled: when does its machine next need a tick? */
  inputDone(node: SimNode): void {
    const i = node.index;
    if (this.count[i] === undefined) {
      // First seen at its creation (indices come in order): every array stays dense.
      this.count[i] = 0;
      this.firstAt[i] = 0;
      this.hasTicked[i] = 0;
    }
    const trusted = this.hasTicked[i] === 1 && node.state === "ready" && node.machine.isReady();
    this.wakeAt[i] = trusted ? node.machine.nextTickAt() : Number.NEGATIVE_INFINITY;
  }
}

/**
 * The runtime's timer per node (see ClusterDriver.schedule): set for the machine's nextTickAt when that is
 * earlier than the one set; a timer whose deadline moved later fires early, and its tick sets the next. A
 * timer replaced by an earlier one is not run (the runtime clears it).
 */
class DeadlineTimers {
  private readonly at: number[] = [];
  private readonly id: number[] = [];
  private nextId = 1;

  /** The timer to schedule for node `i` wanting a tick at `wantedAt`, if it is earlier than the one set. */
  set(i: number, wantedAt: number): { readonly at: number; readonly id: number } | undefined {
    if (!Number.isFinite(wantedAt) || wantedAt >= (this.at[i] ?? Number.POSITIVE_INFINITY)) return undefined;
    const id = this.nextId++;
    this.at[i] = wantedAt;
    this.id[i] = id;
    return { at: wantedAt, id };
  }

  /** Whether the tick event of node `i` set as timer `timer` is to run (the first one, set at creation, is). */
  fires(i: number, timer: number | undefined): boolean {
    if (timer === undefined) return true;
    if (this.id[i] !== timer) return false;
    this.at[i] = Number.POSITIVE_INFINITY;
    this.id[i] = 0;
    return true;
  }
}
