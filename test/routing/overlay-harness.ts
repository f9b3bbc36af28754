// A tiny in-test message pump: PastryNode instances wired together through a FIFO of their outputs.
// No timing: time only moves when a test advances it, and every loop is bounded.
import { clockwiseDistance, NodeId } from "../../src/routing/id.js";
import { PastryNode } from "../../src/routing/node.js";
import type {
  Millis,
  NodeInfo,
  Outbound,
  Output,
  RandomSource,
  RouteMessage,
  RoutingConfig,
  RoutingEvent,
} from "../../src/routing/types.js";
import { isReportedFailure } from "../../src/routing/types.js";

/** Deterministic randomness for tests (mulberry32). */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

export function nodeInfo(id: NodeId, port: number, incarnation = 1, region = "r1"): NodeInfo {
  return {
    id,
    localAddress: `127.0.0.1:${port}`,
    globalAddress: `127.0.0.2:${port}`,
    region,
    incarnation,
  };
}

export interface Delivery {
  readonly at: PastryNode;
  readonly message: RouteMessage;
  /** The live ready node closest to the key when the delivery happened (global truth). */
  readonly trueOwnerHex: string;
}

export interface RecordedEvent {
  readonly at: PastryNode;
  readonly event: RoutingEvent;
}

interface InFlight {
  readonly sender: PastryNode;
  readonly out: Outbound;
  /** Already passed through the overload model (a delayed message is not delayed again). */
  readonly settled?: boolean;
  /** The transport acknowledges it (the sender's heardFrom). */
  readonly acked?: boolean;
}

/** Which failed sends the "transport" reports back through sendFailed. */
export type FailureReporting = "route" | "all";

/**
 * An overloaded network, as 16 processes on 2 busy cores see it: until `until`, every message takes a random
 * delay up to `maxDelayMs`; one slower than `callTimeoutMs` is reported failed to its sender (as the runtime
 * does: route, join, probe, heartbeat) yet still arrives; a fraction `dropRate` never arrives (reported
 * failed too). A message that arrives in time is acknowledged: the sender's heardFrom.
 */
export interface Overload {
  readonly until: Millis;
  readonly maxDelayMs: Millis;
  readonly callTimeoutMs: Millis;
  readonly dropRate: number;
}

interface Timed {
  readonly at: Millis;
  readonly seq: number;
  readonly run: () => void;
}

export class Overlay {
  readonly byAddress = new Map<string, PastryNode>();
  readonly deliveries: Delivery[] = [];
  readonly events: RecordedEvent[] = [];
  now: Millis = 0;
  messagesMoved = 0;
  /** Compute the true owner at each delivery (O(N) each; benchmarks may turn it off). */
  trackOwners = true;
  private queue: InFlight[] = [];
  private queueHead = 0;
  private readonly down = new Set<string>();
  private nextPort = 20_000;
  private readonly random: RandomSource;
  /** See Overload; undefined: the network is instant and lossless. */
  overload: Overload | undefined;
  /** Acknowledge every delivered message to its sender (heardFrom), as the runtime does. */
  acks = false;
  /**
   * Loses chosen messages: true means this one never arrives, and the sender is told it was refused (if the
   * runtime reports failures of its type), as a stale connection to a restarted peer would.
   */
  lose: ((sender: PastryNode, out: Outbound) => boolean) | undefined;
  /**
   * Takes chosen messages out of the network without telling their senders (a paused receiver, a message
   * overtaken by later ones): true means the test has it now, and delivers it later itself or never.
   */
  hold: ((sender: PastryNode, out: Outbound) => boolean) | undefined;
  /** Sees every output of every node as it is collected, in order (scenario traces). */
  observe: ((node: PastryNode, output: Output) => void) | undefined;
  /** Messages sent per node by type, counted when they enter the network. */
  readonly sentByType = new Map<string, number>();
  private readonly overloadRandom = seededRandom(99);
  private timed: Timed[] = [];
  private timedSeq = 0;

  constructor(
    readonly config: Partial<RoutingConfig> = {},
    seed = 1,
    readonly failureReporting: FailureReporting = "route",
  ) {
    this.random = seededRandom(seed);
  }

  /** Live (not crashed, not left) nodes. */
  live(): PastryNode[] {
    return [...this.byAddress.entries()].filter(([a]) => !this.down.has(a)).map(([, n]) => n);
  }

  create(id: NodeId, incarnation = 1): PastryNode {
    const node = new PastryNode(nodeInfo(id, this.nextPort++, incarnation), {
      random: this.random,
      config: this.config,
    });
    this.byAddress.set(node.self.localAddress, node);
    return node;
  }

  bootstrap(id: NodeId): PastryNode {
    const node = this.create(id);
    node.bootstrap(this.now);
    this.collect(node);
    this.pump();
    return node;
  }

  /** Joins a new node through a random live ready node and pumps until quiet. */
  join(id: NodeId, incarnation = 1): PastryNode {
    const node = this.startJoin(id, incarnation);
    this.pump();
    return node;
  }

  startJoin(id: NodeId, incarnation = 1): PastryNode {
    const seeds = this.live().filter((n) => n.isReady());
    const seed = seeds[Math.floor(this.random.next() * seeds.length)];
    if (seed === undefined) throw new Error("no ready seed");
    const node = this.create(id, incarnation);
    node.join([seed.self.localAddress], this.now);
    this.collect(node);
    return node;
  }

  /** The node stops: everything sent to it afterwards is lost (route hops are reported as failed). */
  crash(node: PastryNode): void {
    this.down.add(node.self.localAddress);
  }

  isDown(node: PastryNode): boolean {
    return this.down.has(node.self.localAddress);
  }

  leave(node: PastryNode): void {
    node.leave(this.now);
    this.collect(node);
    this.down.add(node.self.localAddress);
    this.pump();
  }

  send(from: PastryNode, key: NodeId, wantAck = false): string {
    const id = from.send(key, 16, new Uint8Array(0), { wantAck }, this.now);
    this.collect(from);
    return id;
  }

  /** Moves queued messages until none are left (bounded). */
  pump(maxSteps = 500_000): void {
    for (let step = 0; step < maxSteps; step++) {
      if (!this.step()) return;
    }
    throw new Error(`the overlay did not go quiet within ${maxSteps} messages`);
  }

  /** Moves one queued message; false when none was queued. */
  step(): boolean {
    const next = this.queue[this.queueHead];
    if (next === undefined) return false;
    this.queueHead++;
    // Compact now and then instead of shifting: shift() on a long array costs O(length) every time.
    if (this.queueHead >= 4096 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.messagesMoved++;
    const { sender, out } = next;
    if (next.settled !== true && this.overload !== undefined && this.now < this.overload.until) {
      this.delay(next, this.overload);
      return true;
    }
    if (this.hold?.(sender, out) === true) return true;
    // A sender that crashed since it sent hears nothing back: no failure report, no acknowledgement.
    const senderUp = !this.isDown(sender);
    if (this.lose?.(sender, out) === true) {
      if (senderUp && isReportedFailure(out.message)) {
        sender.sendFailed(out, this.now, "unreachable");
        this.collect(sender);
      }
      return true;
    }
    const target = this.byAddress.get(out.address);
    if (target === undefined || this.down.has(out.address)) {
      if (senderUp && (this.failureReporting === "all" || out.message.type === "route")) {
        // Nobody listens at that address: the message surely did not arrive.
        sender.sendFailed(out, this.now, "unreachable");
        this.collect(sender);
      }
      return true;
    }
    target.receive(sender.self, out.message, this.now);
    this.collect(target);
    if (senderUp && (next.acked ?? this.acks)) {
      sender.heardFrom(target.self, this.now);
      this.collect(sender);
    }
    return true;
  }

  /** The overload model's fate for one message (see Overload). */
  private delay(flight: InFlight, overload: Overload): void {
    const reported = isReportedFailure(flight.out.message);
    const fail = (): void => {
      // A node that crashed meanwhile hears nothing more (a dead process gets no failure reports).
      if (this.isDown(flight.sender)) return;
      flight.sender.sendFailed(flight.out, this.now);
      this.collect(flight.sender);
    };
    if (this.overloadRandom.next() < overload.dropRate) {
      if (reported) this.at(this.now + overload.callTimeoutMs, fail);
      return;
    }
    const delay = Math.floor(this.overloadRandom.next() * overload.maxDelayMs);
    const late = delay > overload.callTimeoutMs;
    if (late && reported) this.at(this.now + overload.callTimeoutMs, fail);
    this.at(this.now + delay, () => this.queue.push({ ...flight, settled: true, acked: this.acks && !late }));
  }

  private at(at: Millis, run: () => void): void {
    this.timed.push({ at, seq: this.timedSeq++, run });
  }

  /** Runs timed actions due by now, in time order (ties in the order they were set). */
  private runDue(): void {
    const due = this.timed.filter((t) => t.at <= this.now);
    if (due.length === 0) return;
    this.timed = this.timed.filter((t) => t.at > this.now);
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const t of due) t.run();
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Advances time in steps, ticking every live node and pumping after each step. */
  advance(ms: Millis, step: Millis = 250): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      this.runDue();
      this.pump();
      for (const node of this.live()) {
        node.tick(this.now);
        this.collect(node);
      }
      this.pump();
    }
  }

  /**
   * Advances time as a runtime with one timer per node does: each live node is ticked only when its
   * nextTickAt() has come (and timed actions run when due), pumping after each step. Returns the ticks made.
   */
  advanceByDeadlines(ms: Millis): number {
    const end = this.now + ms;
    let ticks = 0;
    while (this.now < end) {
      let next = end;
      for (const node of this.live()) next = Math.min(next, node.nextTickAt());
      for (const t of this.timed) next = Math.min(next, t.at);
      this.now = Math.max(this.now, next);
      this.runDue();
      this.pump();
      for (const node of this.live()) {
        if (node.nextTickAt() > this.now) continue;
        node.tick(this.now);
        ticks++;
        this.collect(node);
      }
      this.pump();
    }
    return ticks;
  }

  collect(node: PastryNode): void {
    for (const output of node.takeOutputs()) {
      this.observe?.(node, output);
      if (output.type === "send") {
        this.queue.push({ sender: node, out: output.out });
        const type = output.out.message.type;
        this.sentByType.set(type, (this.sentByType.get(type) ?? 0) + 1);
      } else if (output.type === "deliver") {
        const trueOwnerHex = this.trackOwners ? this.trueOwner(output.message.key).self.id.hex : "";
        this.deliveries.push({ at: node, message: output.message, trueOwnerHex });
      } else if (output.type === "event") this.events.push({ at: node, event: output.event });
    }
  }

  /** Global truth: the live ready node numerically closest to `key`. */
  trueOwner(key: NodeId): PastryNode {
    let best: PastryNode | undefined;
    for (const node of this.live()) {
      if (!node.isReady()) continue;
      if (best === undefined || isCloserNode(key, node, best)) best = node;
    }
    if (best === undefined) throw new Error("no live node");
    return best;
  }

  deliveriesOf(messageId: string): Delivery[] {
    return this.deliveries.filter((d) => d.message.id === messageId);
  }
}

function isCloserNode(key: NodeId, a: PastryNode, b: PastryNode): boolean {
  const da = distance(key, a.self.id);
  const db = distance(key, b.self.id);
  return da !== db ? da < db : a.self.id.value < b.self.id.value;
}

function distance(a: NodeId, b: NodeId): bigint {
  const ring = 1n << 128n;
  const d = (((b.value - a.value) % ring) + ring) % ring;
  return d > ring / 2n ? ring - d : d;
}

/** An ID from 16 random bytes drawn from `random`. */
export function randomId(random: RandomSource): NodeId {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Math.floor(random.next() * 256);
  return NodeId.fromBytes(bytes);
}

/**
 * The IDs (hex, sorted, comma-separated) a converged leaf set of size `leafSetSize` holds at `node` among the
 * `ready` nodes: its l/2 nearest on each side (all others on a ring of at most l + 1).
 */
export function trueLeafSet(node: PastryNode, ready: readonly PastryNode[], leafSetSize: number): string {
  const ring = [...ready].sort((a, b) => (a.self.id.value < b.self.id.value ? -1 : 1));
  const at = ring.indexOf(node);
  const out = new Set<string>();
  for (let k = 1; k <= Math.min(leafSetSize / 2, ring.length - 1); k++) {
    out.add(ring[(at + k) % ring.length]!.self.id.hex);
    out.add(ring[(at - k + ring.length) % ring.length]!.self.id.hex);
  }
  return [...out].sort().join(",");
}

/** `node`'s true sides among `live` (IDs in hex, nearest first): its l/2 nearest live nodes each way. */
export function trueSides(
  node: PastryNode,
  live: readonly PastryNode[],
  leafSetSize: number,
): { left: string[]; right: string[] } {
  const others = live.filter((n) => n !== node).map((n) => n.self.id);
  const nearest = (distance: (o: NodeId) => bigint): string[] =>
    [...others]
      .sort((a, b) => (distance(a) < distance(b) ? -1 : distance(a) > distance(b) ? 1 : 0))
      .slice(0, leafSetSize / 2)
      .map((id) => id.hex);
  return {
    left: nearest((o) => clockwiseDistance(o, node.self.id)),
    right: nearest((o) => clockwiseDistance(node.self.id, o)),
  };
}

/** Whether every live node's sides are exactly its l/2 nearest live nodes on each side, in order. */
export function leafSetsExact(overlay: Overlay, leafSetSize: number): boolean {
  const live = overlay.live();
  return live.every((node) => {
    const truth = trueSides(node, live, leafSetSize);
    const { left, right } = node.leafSet();
    return (
      left.map((n) => n.id.hex).join() === truth.left.join() &&
      right.map((n) => n.id.hex).join() === truth.right.join()
    );
  });
}

/** The IDs (hex, sorted, comma-separated) in `node`'s leaf set, as trueLeafSet writes them. */
export function leafSetOf(node: PastryNode): string {
  const { left, right } = node.leafSet();
  return [...new Set([...left, ...right].map((n) => n.id.hex))].sort().join(",");
}

/**
 * `size` ready nodes with a leaf set of 4 (and `config`), a minute after the last join, their outputs so far
 * drained.
 */
export function quietOverlay(size: number, seed: number, config: Partial<RoutingConfig> = {}): Overlay {
  const o = new Overlay({ leafSetSize: 4, ...config }, seed);
  const random = seededRandom(seed + 1);
  o.bootstrap(randomId(random));
  for (let i = 1; i < size; i++) o.join(randomId(random));
  o.advance(60_000);
  for (const n of o.live()) n.takeOutputs();
  return o;
}

/** Whether `id` falls within `node`'s leaf-set range (from its farthest left member clockwise to its farthest right). */
export function inLeafRange(node: PastryNode, id: NodeId): boolean {
  const { left, right } = node.leafSet();
  const ring = 1n << 128n;
  const from = (left.at(-1) ?? node.self).id.value;
  const to = (right.at(-1) ?? node.self).id.value;
  return (((id.value - from) % ring) + ring) % ring <= (((to - from) % ring) + ring) % ring;
}

/**
 * `count` nodes outside the overlay, each for a held slot of `asker`'s row 0 (so the table does not take it
 * unmeasured, and it stays out of the asker's state) and outside the asker's leaf-set range (so it is no
 * leaf-set candidate, probed whatever its distance), with the holder of its slot.
 */
export function rowZeroStrangers(
  asker: PastryNode,
  count: number,
  firstPort: number,
): { holders: NodeInfo[]; named: NodeInfo[] } {
  const holders: NodeInfo[] = [];
  const named: NodeInfo[] = [];
  for (const held of asker.routingTable()[0] ?? []) {
    if (held === undefined || named.length === count) continue;
    const id = NodeId.fromHex(held.id.hex[0]! + "7".repeat(31));
    if (inLeafRange(asker, id)) continue;
    holders.push(held);
    named.push(nodeInfo(id, firstPort + named.length));
  }
  if (named.length < count)
    throw new Error(`fewer than ${count} held row-0 slots outside the leaf-set range`);
  return { holders, named };
}

/** A node, and an ID none has next to it (see strangersPastFarRight). */
export interface Stranger {
  readonly node: PastryNode;
  readonly stranger: NodeInfo;
}

/**
 * For each node of `o`, in ring order, whose routing-table slot for it is held: a stranger (an ID no node
 * has, on port 2000 plus the node's place in the ring) halfway between the node's far right member and the
 * node after that one. With the slot held and the neighbourhood set full, it is in none of the node's state.
 */
export function strangersPastFarRight(o: Overlay): Stranger[] {
  const ring = o.live().sort((a, b) => a.self.id.compare(b.self.id));
  return ring.flatMap((node, i) => {
    const far = node.leafSet().right.at(-1) as NodeInfo;
    const next = ring[(ring.findIndex((n) => n.self.id.equals(far.id)) + 1) % ring.length] as PastryNode;
    const id = NodeId.fromBigInt((far.id.value + next.self.id.value) / 2n);
    const row = node.self.id.commonPrefixLength(id);
    const held = node.routingTable()[row]?.[id.digit(row)] !== undefined;
    return held ? [{ node, stranger: nodeInfo(id, 2000 + i) }] : [];
  });
}
