// The node lifecycle: creating a node and joining it through the real join protocol via seeds chosen like a
// real newcomer would, the join's end (ready or failed), crashes (process or host) and graceful leaves. It
// keeps the node list and the global ring truth in step with each node's state.
import type { NodeInfo, RoutingConfig } from "../routing/types.js";
import { type MachineFactory, releasedMachine } from "./machine.js";
import type { VirtualNetwork } from "./network.js";
import type { Prng } from "./prng.js";
import type { RingTruth } from "./ring-truth.js";
import type { SimEvent } from "./sim-event.js";
import { type CrashKind, type SeedSelection, type SimNode, isLive } from "./sim-node.js";

/** How long a node that left drains its own calls: a daemon's default stop grace (Cluster.stop). */
export const LEAVE_DRAIN_MS = 2_000;

/** What the lifecycle needs from the event loop that runs it. */
export interface LifecycleDriver {
  readonly now: number;
  /** Queues `event` at virtual time now + delayMs. */
  after(delayMs: number, event: SimEvent): void;
  /** Acts on everything the node's machine has output; `leaving` lets a node that is leaving still send. */
  process(index: number, leaving?: boolean): void;
}

export interface MembershipOptions {
  readonly driver: LifecycleDriver;
  readonly random: Prng;
  readonly network: VirtualNetwork;
  readonly truth: RingTruth;
  readonly routingConfig: RoutingConfig;
  readonly createMachine: MachineFactory;
  readonly tickIntervalMs: number;
  readonly seedSelection: SeedSelection;
  /** Seeds handed to each joiner (it retries through the next one when a join times out). */
  readonly seedsPerJoin: number;
}

export interface FailedJoin {
  readonly node: number;
  readonly reason: string;
  readonly at: number;
}

export class Membership {
  /** Every node ever created, by index (its host's index). */
  readonly nodes: SimNode[] = [];
  private joiningCount = 0;
  private readonly joinFailures: FailedJoin[] = [];
  private readonly driver: LifecycleDriver;
  private readonly random: Prng;
  private readonly network: VirtualNetwork;
  private readonly truth: RingTruth;

  constructor(private readonly options: MembershipOptions) {
    this.driver = options.driver;
    this.random = options.random;
    this.network = options.network;
    this.truth = options.truth;
  }

  get joining(): number {
    return this.joiningCount;
  }

  failedJoins(): readonly FailedJoin[] {
    return this.joinFailures;
  }

  /**
   * Creates a node now. The very first node bootstraps a new ring; every other one joins through the real
   * join protocol via live ready seed(s) chosen by `seedSelection`.
   */
  addNode(): SimNode {
    const now = this.driver.now;
    const host = this.network.addHost(this.random);
    const info: NodeInfo = {
      id: this.random.nodeId(),
      localAddress: host.localAddress,
      globalAddress: host.globalAddress,
      region: host.region,
      incarnation: this.random.nextUint32(),
    };
    const machine = this.options.createMachine(info, {
      random: this.random.fork(),
      config: this.options.routingConfig,
    });
    const node: SimNode = {
      index: host.index,
      info,
      machine,
      state: "joining",
      createdAt: now,
      readyAt: undefined,
      endedAt: undefined,
      drainsUntil: undefined,
      crashKind: undefined,
    };
    this.nodes.push(node);
    this.joiningCount++;
    if (this.nodes.length === 1) {
      machine.bootstrap(now);
    } else {
      const seeds = this.chooseSeeds(node);
      if (seeds.length === 0) throw new Error("no live ready node to join through");
      machine.join(seeds, now);
    }
    this.driver.process(node.index);
    // Each node ticks on its own phase so ticks do not all land on the same instant.
    this.driver.after(this.random.next() * this.options.tickIntervalMs, { kind: "tick", node: node.index });
    return node;
  }

  /** Schedules `count` joins spread uniformly over the next `spreadMs`. */
  scheduleJoins(count: number, spreadMs: number): void {
    for (let i = 0; i < count; i++) {
      this.driver.after(this.random.next() * spreadMs, { kind: "call", run: () => void this.addNode() });
    }
  }

  /** The machine announced it is ready: it now owns its part of the ring. */
  markReady(node: SimNode): void {
    if (node.state === "joining") {
      node.state = "ready";
      node.readyAt = this.driver.now;
      this.joiningCount--;
      this.truth.add({ id: node.info.id, index: node.index });
    }
  }

  /** The machine gave up joining. */
  markJoinFailed(node: SimNode, reason: string): void {
    this.joinFailures.push({ node: node.index, reason, at: this.driver.now });
    if (node.state === "joining") {
      node.state = "joinFailed";
      this.joiningCount--;
    }
  }

  /** The node stops at once, see CrashKind. */
  crash(node: SimNode, kind: CrashKind): void {
    if (node.state === "crashed" || node.state === "left") return;
    if (node.state === "joining") this.joiningCount--;
    node.state = "crashed";
    node.crashKind = kind;
    node.endedAt = this.driver.now;
    if (kind === "process" && this.truth.has(node.info.id)) {
      for (const peer of this.ringNeighbours(node, this.options.routingConfig.leafSetSize / 2)) {
        this.driver.after(this.network.latency(node.index, peer), {
          kind: "connectionLost",
          node: peer,
          peer: node.index,
        });
      }
    }
    this.truth.remove(node.info.id);
    node.machine = releasedMachine(node.index);
  }

  /** Graceful leave: the machine tells its peers, then stops. */
  leave(node: SimNode): void {
    if (node.state === "crashed" || node.state === "left") return;
    if (node.state === "joining") this.joiningCount--;
    this.truth.remove(node.info.id);
    node.machine.leave(this.driver.now);
    this.driver.process(node.index, true);
    node.state = "left";
    node.endedAt = this.driver.now;
    node.drainsUntil = this.driver.now + LEAVE_DRAIN_MS;
    this.driver.after(LEAVE_DRAIN_MS, {
      kind: "call",
      run: () => {
        node.drainsUntil = undefined;
        node.machine = releasedMachine(node.index);
      },
    });
  }

  /** `count` distinct random live nodes, to crash. */
  pickVictims(count: number): number[] {
    return this.random.shuffle(this.nodes.filter(isLive).map((n) => n.index)).slice(0, count);
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

  private chooseSeeds(joiner: SimNode): string[] {
    const n = this.truth.size;
    if (n === 0) return [];
    const picks: number[] = [];
    const wanted = Math.min(this.options.seedsPerJoin, n);
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
    const selection = this.options.seedSelection;
    if (selection.kind === "random") return randomReady();
    let best = randomReady();
    for (let i = 1; i < selection.sample; i++) {
      const c = randomReady();
      if (this.network.latency(joiner, c) < this.network.latency(joiner, best)) best = c;
    }
    return best;
  }
}
