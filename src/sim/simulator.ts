// Runs many routing state machines on one virtual clock. It delivers their messages after the virtual
// network's latency, ticks each node on its own phase, joins nodes through the real join protocol, crashes
// them and lets them leave, injects application traffic, and checks every delivery against global truth.
import type { NodeId } from "../routing/id.js";
import type { SendFailure } from "../routing/node.js";
import {
  DEFAULT_ROUTING_CONFIG,
  FIRST_APPLICATION_PURPOSE,
  REPORTED_FAILURES,
  type DropReason,
  type NodeInfo,
  type Output,
  type Outbound,
  type PeerMessageType,
  type RoutingConfig,
  type RoutingEvent,
} from "../routing/types.js";
import { EventQueue } from "./event-queue.js";
import type { MachineFactory, RoutingMachine } from "./machine.js";
import { type NetworkConfig, VirtualNetwork } from "./network.js";
import { Prng } from "./prng.js";
import { RingTruth } from "./ring-truth.js";

/** "joinFailed": the machine gave up joining (a joinFailed event); the process is still up but not ready. */
export type NodeState = "joining" | "ready" | "joinFailed" | "crashed" | "left";

/**
 * How a node stops without saying goodbye. "process": the process died but its host is up, so a connection
 * to it is refused one round trip later (the sender learns "unreachable": it surely never arrived), and the
 * peers holding an open connection to it (its leaf-set neighbours, which talk to it all the time) see that
 * connection break one hop later (connectionLost, as the runtime's connection pool reports it). "host": the
 * machine or its network went silent, so a send only times out (hopTimeoutMs, cause "unknown").
 */
export type CrashKind = "process" | "host";

export interface SimNode {
  readonly index: number;
  readonly info: NodeInfo;
  readonly machine: RoutingMachine;
  state: NodeState;
  readonly createdAt: number;
  readyAt: number | undefined;
  /** When it crashed or left (undefined while live). */
  endedAt: number | undefined;
  crashKind: CrashKind | undefined;
}

/** How a joining node picks the live node it contacts first. */
export type SeedSelection =
  | { readonly kind: "random" }
  /** The nearest of a few random live nodes, as a node would find with a local discovery (Pastry's "nearby node"). */
  | { readonly kind: "nearestOfSample"; readonly sample: number };

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
}

export interface TraceEntry {
  readonly at: number;
  readonly what: "send" | "arrive" | "fail";
  readonly from: number;
  /** The destination host, or undefined for an address nobody has. */
  readonly to: number | undefined;
  readonly out: Outbound;
}

export type MessageStatus = "pending" | "delivered" | "dropped";

export interface TrackedMessage {
  readonly id: string;
  readonly key: NodeId;
  readonly origin: number;
  readonly sentAt: number;
  /** The node that last received the message (the origin until its first hop arrives). */
  holder: number;
  status: MessageStatus;
  dropReason: DropReason | undefined;
  deliveredBy: number | undefined;
  deliveredCorrectly: boolean | undefined;
  /** The ring's true owner of the key when it was delivered. */
  trueOwner: number | undefined;
  hops: number | undefined;
  /** Sum of the one-way latencies of the overlay hops the message took. */
  pathLatencyMs: number;
  acked: boolean;
}

export interface Misdelivery {
  readonly messageId: string;
  readonly key: string;
  readonly deliveredBy: string;
  readonly trueOwner: string | undefined;
  readonly at: number;
}

export interface Accounting {
  readonly sent: number;
  readonly delivered: number;
  readonly deliveredCorrectly: number;
  readonly misdelivered: number;
  /** Deliveries of a message id that had already been delivered (must be zero). */
  readonly duplicateDeliveries: number;
  readonly dropped: Partial<Record<DropReason, number>>;
  /** Pending messages last held by a node that crashed. */
  readonly lostToCrash: number;
  /** Pending messages last held by a node that left gracefully. */
  readonly lostToLeave: number;
  /** Pending messages still held by a live node: must be zero once the simulation has drained. */
  readonly unaccounted: number;
  readonly acked: number;
}

type SimEvent =
  | {
      readonly kind: "arrive";
      readonly from: number;
      readonly to: number;
      readonly out: Outbound;
      readonly sentAt: number;
    }
  | {
      readonly kind: "failed";
      readonly node: number;
      readonly out: Outbound;
      readonly cause: SendFailure;
    }
  | { readonly kind: "connectionLost"; readonly node: number; readonly peer: number }
  | { readonly kind: "tick"; readonly node: number }
  | { readonly kind: "call"; readonly run: () => void };

const MAX_MISDELIVERY_DETAILS = 20;
const MEMORY_SAMPLE_EVERY = 20_000;

export class Simulator {
  readonly network: VirtualNetwork;
  readonly truth = new RingTruth();
  readonly routingConfig: RoutingConfig;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly random: Prng;
  private readonly nodes: SimNode[] = [];
  private readonly tracked = new Map<string, TrackedMessage>();
  private readonly createMachine: MachineFactory;
  private readonly hopTimeoutMs: number;
  private readonly tickIntervalMs: number;
  private readonly seedSelection: SeedSelection;
  private readonly seedsPerJoin: number;
  private joiningCount = 0;
  private readonly misdeliveryDetails: Misdelivery[] = [];
  private misdeliveries = 0;
  private duplicateDeliveries = 0;
  private untrackedDeliveries = 0;
  private eventsProcessed = 0;
  /** Messages sent per type since the counters were last reset (a measurement window). */
  private windowCounts = new Map<PeerMessageType, number>();
  private windowStartedAt = 0;
  private readonly totalCounts = new Map<PeerMessageType, number>();
  /** Sends whose address is not the one the contract asks for (local in the same region, else global). */
  private addressChoiceErrors = 0;
  private unknownAddressSends = 0;
  private joinFailures: { node: number; reason: string; at: number }[] = [];
  private peakRss = 0;
  private peakHeapUsed = 0;
  private readonly trace: ((entry: TraceEntry) => void) | undefined;

  constructor(options: SimulatorOptions) {
    this.random = new Prng(options.seed);
    this.network = new VirtualNetwork(options.network);
    this.routingConfig = { ...DEFAULT_ROUTING_CONFIG, ...options.routing };
    this.createMachine = options.createMachine;
    this.hopTimeoutMs = options.hopTimeoutMs ?? 400;
    this.tickIntervalMs = this.routingConfig.heartbeatIntervalMs / 4;
    this.seedSelection = options.seedSelection ?? { kind: "random" };
    this.seedsPerJoin = Math.max(1, options.seedsPerJoin ?? 2);
    this.trace = options.trace;
    this.sampleMemory();
  }

  get now(): number {
    return this.queue.now;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  get joining(): number {
    return this.joiningCount;
  }

  get events(): number {
    return this.eventsProcessed;
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

  // ---- membership -------------------------------------------------------------------------------------

  /**
   * Creates a node now. The very first node bootstraps a new ring; every other one joins through the real
   * join protocol via live ready seed(s) chosen by `seedSelection`.
   */
  addNode(): SimNode {
    const host = this.network.addHost(this.random);
    const info: NodeInfo = {
      id: this.random.nodeId(),
      localAddress: host.localAddress,
      globalAddress: host.globalAddress,
      region: host.region,
      incarnation: this.random.nextUint32(),
    };
    const machine = this.createMachine(info, { random: this.random.fork(), config: this.routingConfig });
    const node: SimNode = {
      index: host.index,
      info,
      machine,
      state: "joining",
      createdAt: this.now,
      readyAt: undefined,
      endedAt: undefined,
      crashKind: undefined,
    };
    this.nodes.push(node);
    this.joiningCount++;
    if (this.nodes.length === 1) {
      machine.bootstrap(this.now);
    } else {
      const seeds = this.chooseSeeds(node);
      if (seeds.length === 0) throw new Error("no live ready node to join through");
      machine.join(seeds, this.now);
    }
    this.process(node.index);
    // Each node ticks on its own phase so ticks do not all land on the same instant.
    this.queue.after(this.random.next() * this.tickIntervalMs, { kind: "tick", node: node.index });
    return node;
  }

  /** Schedules `count` joins spread uniformly over the next `spreadMs`. */
  scheduleJoins(count: number, spreadMs: number): void {
    for (let i = 0; i < count; i++) {
      this.queue.after(this.random.next() * spreadMs, { kind: "call", run: () => void this.addNode() });
    }
  }

  /**
   * The node stops at once: it sends nothing more and everything sent to it fails at the sender, refused
   * ("process") or timed out ("host", the default), see CrashKind.
   */
  crash(index: number, kind: CrashKind = "host"): void {
    const node = this.node(index);
    if (node.state === "crashed" || node.state === "left") return;
    if (node.state === "joining") this.joiningCount--;
    node.state = "crashed";
    node.crashKind = kind;
    node.endedAt = this.now;
    if (kind === "process" && this.truth.has(node.info.id)) {
      for (const peer of this.ringNeighbours(node, this.routingConfig.leafSetSize / 2)) {
        this.queue.after(this.network.latency(index, peer), {
          kind: "connectionLost",
          node: peer,
          peer: index,
        });
      }
    }
    this.truth.remove(node.info.id);
  }

  /** The ready nodes up to `half` ring positions away from `node` (a ready node) on either side. */
  private ringNeighbours(node: SimNode, half: number): number[] {
    const at = this.truth.lowerBound(node.info.id.value);
    const n = this.truth.size;
    const out = new Set<number>();
    for (let k = 1; k <= Math.min(half, n - 1); k++) {
      out.add(this.truth.at((at + k) % n).index);
      out.add(this.truth.at((at - k + n) % n).index);
    }
    out.delete(node.index);
    return [...out];
  }

  /** Graceful leave: the machine tells its peers, then stops. */
  leave(index: number): void {
    const node = this.node(index);
    if (node.state === "crashed" || node.state === "left") return;
    if (node.state === "joining") this.joiningCount--;
    this.truth.remove(node.info.id);
    node.machine.leave(this.now);
    this.process(index, true);
    node.state = "left";
    node.endedAt = this.now;
  }

  /** Crashes `count` distinct random live nodes; returns their indices. */
  crashRandom(count: number): number[] {
    const victims = this.random.shuffle(this.liveNodes().map((n) => n.index)).slice(0, count);
    for (const v of victims) this.crash(v);
    return victims;
  }

  // ---- traffic ----------------------------------------------------------------------------------------

  /** Routes one application message from `origin` to `key`; returns its id. */
  sendMessage(origin: number, key: NodeId, wantAck = true): string {
    const node = this.node(origin);
    if (node.state === "crashed" || node.state === "left") throw new Error(`node ${origin} is not live`);
    const id = node.machine.send(key, FIRST_APPLICATION_PURPOSE, new Uint8Array(0), { wantAck }, this.now);
    this.tracked.set(id, {
      id,
      key,
      origin,
      sentAt: this.now,
      holder: origin,
      status: "pending",
      dropReason: undefined,
      deliveredBy: undefined,
      deliveredCorrectly: undefined,
      trueOwner: undefined,
      hops: undefined,
      pathLatencyMs: 0,
      acked: false,
    });
    this.process(origin);
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

  /**
   * Grows the overlay to `total` nodes in waves: each wave adds up to `growth` times the current number
   * of ready nodes, spread over `spreadMs`, and waits (at most `waveTimeoutMs`) until no more than
   * `stragglers` (a fraction of the wave) are still joining; the last wave waits for every join to end.
   */
  grow(
    total: number,
    options: {
      growth?: number;
      spreadMs?: number;
      waveTimeoutMs?: number;
      /** Fraction of a wave that may still be joining when the next wave starts (default 0: wait for all). */
      stragglers?: number;
      /** How long the last wave may take to finish every join (default: waveTimeoutMs). */
      finalTimeoutMs?: number;
      /** Called after each wave with the nodes created so far and the ready count. */
      onWave?: (created: number, ready: number) => void;
      /** Checked every 100 ms of virtual time: true stops the growth early (e.g. a wall-clock budget). */
      abort?: () => boolean;
    } = {},
  ): boolean {
    const growth = options.growth ?? 0.5;
    const spreadMs = options.spreadMs ?? 1000;
    const waveTimeoutMs = options.waveTimeoutMs ?? 30_000;
    const stragglers = options.stragglers ?? 0;
    const abort = options.abort ?? ((): boolean => false);
    if (this.nodes.length === 0) {
      this.addNode();
      this.runUntilCondition(() => this.joiningCount === 0, waveTimeoutMs);
    }
    while (this.nodes.length < total) {
      const wave = Math.min(total - this.nodes.length, Math.max(1, Math.floor(this.truth.size * growth)));
      const allowed = this.nodes.length + wave < total ? Math.floor(wave * stragglers) : 0;
      this.scheduleJoins(wave, spreadMs);
      if (!this.runUntilCondition(abort, spreadMs)) {
        const last = this.nodes.length >= total;
        this.runUntilCondition(
          () => abort() || this.joiningCount <= allowed,
          last ? (options.finalTimeoutMs ?? waveTimeoutMs) : waveTimeoutMs,
        );
      }
      options.onWave?.(this.nodes.length, this.truth.size);
      if (abort()) return false;
    }
    return true;
  }

  private step(): void {
    const ev = this.queue.pop();
    if (ev === undefined) return;
    if (++this.eventsProcessed % MEMORY_SAMPLE_EVERY === 0) this.sampleMemory();
    switch (ev.kind) {
      case "arrive":
        this.arrive(ev.from, ev.to, ev.out, ev.sentAt);
        break;
      case "failed": {
        const node = this.nodes[ev.node] as SimNode;
        this.trace?.({ at: this.now, what: "fail", from: ev.node, to: undefined, out: ev.out });
        // As the runtime: only the failures the core acts on are reported, each with its cause.
        if (isLive(node) && REPORTED_FAILURES.has(ev.out.message.type)) {
          node.machine.sendFailed(ev.out, this.now, ev.cause);
          this.process(ev.node);
        }
        break;
      }
      case "connectionLost": {
        const node = this.nodes[ev.node] as SimNode;
        if (isLive(node)) {
          node.machine.connectionLost((this.nodes[ev.peer] as SimNode).info, this.now);
          this.process(ev.node);
        }
        break;
      }
      case "tick": {
        const node = this.nodes[ev.node] as SimNode;
        if (isLive(node)) {
          node.machine.tick(this.now);
          this.process(ev.node);
          this.queue.after(this.tickIntervalMs, ev);
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
      if (target.state === "left" || target.crashKind === "process") {
        // Nobody listens at the address any more: the refusal comes back one hop later.
        this.queue.after(this.network.latency(to, from), {
          kind: "failed",
          node: from,
          out,
          cause: "unreachable",
        });
      } else {
        this.queue.schedule(sentAt + this.hopTimeoutMs, {
          kind: "failed",
          node: from,
          out,
          cause: "unknown",
        });
      }
      return;
    }
    this.trace?.({ at: this.now, what: "arrive", from, to, out });
    const msg = out.message;
    if (msg.type === "route") {
      const t = this.tracked.get(msg.message.id);
      if (t !== undefined) {
        t.holder = to;
        t.pathLatencyMs += this.network.latency(from, to);
      }
    }
    target.machine.receive((this.nodes[from] as SimNode).info, msg, this.now);
    this.process(to);
  }

  /** Acts on everything a machine has output. `leaving` lets a node that is leaving still send. */
  private process(index: number, leaving = false): void {
    const node = this.nodes[index] as SimNode;
    if (!leaving && !isLive(node)) return;
    const outputs: Output[] = node.machine.takeOutputs();
    for (const o of outputs) {
      switch (o.type) {
        case "send":
          this.transmit(node, o.out);
          break;
        case "deliver":
          this.checkDelivery(node, o.message.id, o.message.key, o.message.hops);
          break;
        case "forward":
          break;
        case "event":
          this.onEvent(node, o.event);
          break;
      }
    }
  }

  private transmit(sender: SimNode, out: Outbound): void {
    const type = out.message.type;
    this.windowCounts.set(type, (this.windowCounts.get(type) ?? 0) + 1);
    this.totalCounts.set(type, (this.totalCounts.get(type) ?? 0) + 1);
    const dest = this.network.resolve(out.address);
    this.trace?.({ at: this.now, what: "send", from: sender.index, to: dest, out });
    if (dest === undefined) {
      this.unknownAddressSends++;
      this.queue.after(this.hopTimeoutMs, { kind: "failed", node: sender.index, out, cause: "unreachable" });
      return;
    }
    if (out.to !== undefined) {
      const expected = out.to.region === sender.info.region ? out.to.localAddress : out.to.globalAddress;
      if (out.address !== expected) this.addressChoiceErrors++;
    }
    if (this.network.isLost(this.random)) {
      this.queue.after(this.hopTimeoutMs, { kind: "failed", node: sender.index, out, cause: "unknown" });
      return;
    }
    this.queue.after(this.network.latency(sender.index, dest), {
      kind: "arrive",
      from: sender.index,
      to: dest,
      out,
      sentAt: this.now,
    });
  }

  private checkDelivery(node: SimNode, id: string, key: NodeId, hops: number): void {
    const owner = this.truth.owner(key);
    const correct = owner !== undefined && owner.index === node.index;
    if (!correct) {
      this.misdeliveries++;
      if (this.misdeliveryDetails.length < MAX_MISDELIVERY_DETAILS) {
        this.misdeliveryDetails.push({
          messageId: id,
          key: key.hex,
          deliveredBy: node.info.id.hex,
          trueOwner: owner?.id.hex,
          at: this.now,
        });
      }
    }
    const t = this.tracked.get(id);
    if (t === undefined) {
      this.untrackedDeliveries++;
      return;
    }
    if (t.status === "delivered") {
      this.duplicateDeliveries++;
      return;
    }
    t.status = "delivered";
    t.holder = node.index;
    t.deliveredBy = node.index;
    t.deliveredCorrectly = correct;
    t.trueOwner = owner?.index;
    t.hops = hops;
  }

  private onEvent(node: SimNode, event: RoutingEvent): void {
    switch (event.type) {
      case "ready":
        if (node.state === "joining") {
          node.state = "ready";
          node.readyAt = this.now;
          this.joiningCount--;
          this.truth.add({ id: node.info.id, index: node.index });
        }
        break;
      case "dropped": {
        const t = this.tracked.get(event.message.id);
        if (t !== undefined && t.status === "pending") {
          t.status = "dropped";
          t.dropReason = event.reason;
        }
        break;
      }
      case "acked": {
        const t = this.tracked.get(event.messageId);
        if (t !== undefined) t.acked = true;
        break;
      }
      case "joinFailed":
        this.joinFailures.push({ node: node.index, reason: event.reason, at: this.now });
        if (node.state === "joining") {
          node.state = "joinFailed";
          this.joiningCount--;
        }
        break;
      default:
        break;
    }
  }

  private chooseSeeds(joiner: SimNode): string[] {
    const n = this.truth.size;
    if (n === 0) return [];
    const picks: number[] = [];
    const wanted = Math.min(this.seedsPerJoin, n);
    for (let attempt = 0; picks.length < wanted && attempt < wanted * 4; attempt++) {
      const idx = this.pickSeed(joiner.index);
      if (!picks.includes(idx)) picks.push(idx);
    }
    return picks.map((i) => {
      const seed = this.nodes[i] as SimNode;
      return seed.info.region === joiner.info.region ? seed.info.localAddress : seed.info.globalAddress;
    });
  }

  private pickSeed(joiner: number): number {
    const randomReady = (): number => this.truth.at(this.random.int(this.truth.size)).index;
    if (this.seedSelection.kind === "random") return randomReady();
    let best = randomReady();
    for (let i = 1; i < this.seedSelection.sample; i++) {
      const c = randomReady();
      if (this.network.latency(joiner, c) < this.network.latency(joiner, best)) best = c;
    }
    return best;
  }

  // ---- measurements -----------------------------------------------------------------------------------

  /** Starts a new measurement window for message counts. */
  resetMessageCounts(): void {
    this.windowCounts = new Map();
    this.windowStartedAt = this.now;
  }

  /** Messages sent per type in the current window, and the window's length in ms. */
  messageCounts(): { readonly counts: Partial<Record<PeerMessageType, number>>; readonly windowMs: number } {
    return { counts: Object.fromEntries(this.windowCounts), windowMs: this.now - this.windowStartedAt };
  }

  totalMessageCounts(): Partial<Record<PeerMessageType, number>> {
    return Object.fromEntries(this.totalCounts);
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
    return [...this.tracked.values()];
  }

  message(id: string): TrackedMessage | undefined {
    return this.tracked.get(id);
  }

  /** Forgets tracked messages (e.g. between measurement phases) without touching the overlay. */
  clearTrackedMessages(): void {
    this.tracked.clear();
  }

  /** Every tracked message, accounted for. */
  account(): Accounting {
    let delivered = 0;
    let deliveredCorrectly = 0;
    let lostToCrash = 0;
    let lostToLeave = 0;
    let unaccounted = 0;
    let acked = 0;
    const dropped: Partial<Record<DropReason, number>> = {};
    for (const t of this.tracked.values()) {
      if (t.acked) acked++;
      if (t.status === "delivered") {
        delivered++;
        if (t.deliveredCorrectly === true) deliveredCorrectly++;
      } else if (t.status === "dropped") {
        const r = t.dropReason as DropReason;
        dropped[r] = (dropped[r] ?? 0) + 1;
      } else {
        const holder = (this.nodes[t.holder] as SimNode).state;
        if (holder === "crashed") lostToCrash++;
        else if (holder === "left") lostToLeave++;
        else unaccounted++;
      }
    }
    return {
      sent: this.tracked.size,
      delivered,
      deliveredCorrectly,
      misdelivered: delivered - deliveredCorrectly,
      duplicateDeliveries: this.duplicateDeliveries,
      dropped,
      lostToCrash,
      lostToLeave,
      unaccounted,
      acked,
    };
  }

  /** Delivery checks over the whole run, including messages no longer tracked. */
  deliveryChecks(): {
    readonly misdeliveries: number;
    readonly duplicateDeliveries: number;
    readonly untrackedDeliveries: number;
    readonly examples: readonly Misdelivery[];
  } {
    return {
      misdeliveries: this.misdeliveries,
      duplicateDeliveries: this.duplicateDeliveries,
      untrackedDeliveries: this.untrackedDeliveries,
      examples: this.misdeliveryDetails.slice(),
    };
  }

  /** Sends that broke the addressing contract (wrong local/global choice, or an address nobody has). */
  addressingErrors(): { readonly wrongChoice: number; readonly unknownAddress: number } {
    return { wrongChoice: this.addressChoiceErrors, unknownAddress: this.unknownAddressSends };
  }

  failedJoins(): readonly { readonly node: number; readonly reason: string; readonly at: number }[] {
    return this.joinFailures;
  }

  /** Peak resident set and heap seen so far (sampled every few thousand events). */
  peakMemory(): { readonly rssBytes: number; readonly heapUsedBytes: number } {
    this.sampleMemory();
    return { rssBytes: this.peakRss, heapUsedBytes: this.peakHeapUsed };
  }

  private sampleMemory(): void {
    const m = process.memoryUsage();
    if (m.rss > this.peakRss) this.peakRss = m.rss;
    if (m.heapUsed > this.peakHeapUsed) this.peakHeapUsed = m.heapUsed;
  }
}

function isLive(node: SimNode): boolean {
  return node.state === "joining" || node.state === "ready" || node.state === "joinFailed";
}
