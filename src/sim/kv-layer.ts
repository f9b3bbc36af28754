// The key-value layer over a simulated overlay: a replica (SimKvNode) on every node, their calls carried by
// the virtual network (latency both ways; a call to a crashed host times out, to a dead process or a node
// not yet joined is refused one round trip later), writes coordinated as the runtime does (version read,
// then Replicate to the key's replica set, acknowledged at W), an index of which nodes hold each key, and
// the ledger of acknowledged versions that the census checks. Deterministic: all randomness is the seed's.
import type { NodeId } from "../routing/id.js";
import type { NodeInfo } from "../routing/types.js";
import { Quorum, versionReadQuorum } from "../kv/quorum.js";
import type { KvRecord } from "../kv/record.js";
import { compareVersions, nextVersion, type Version } from "../kv/version.js";
import type { ChurnListener, DepartureKind } from "./churn.js";
import { DEFAULT_SIM_KV_CONFIG, SimKvNode, type KvNet, type SimKvConfig } from "./kv-node.js";
import {
  KEY_BYTES,
  KvTraffic,
  MESSAGE_OVERHEAD_BYTES,
  RECORD_HEADER_BYTES,
  VERSION_BYTES,
} from "./kv-traffic.js";
import type { Prng } from "./prng.js";
import type { SimNode } from "./sim-node.js";
import type { Simulator } from "./simulator.js";

export interface WriteOutcome {
  readonly key: NodeId;
  readonly acked: boolean;
}

export class SimKv {
  readonly config: SimKvConfig;
  readonly traffic = new KvTraffic();
  private readonly replicas = new Map<number, SimKvNode>();
  /** Key hex -> nodes (indices) holding some version of it. */
  private readonly holders = new Map<string, Set<number>>();
  /** Key hex -> the latest acknowledged version (the census's truth). */
  private readonly acked = new Map<string, { key: NodeId; version: Version }>();
  /** Key hex -> the fewest live holders of its acknowledged version seen at any departure. */
  private readonly fewestHolders = new Map<string, number>();
  private readonly net: KvNet;
  private attachedCount = 0;

  constructor(
    private readonly sim: Simulator,
    private readonly random: Prng,
    config: Partial<SimKvConfig> = {},
  ) {
    this.config = { ...DEFAULT_SIM_KV_CONFIG, ...config };
    this.net = this.makeNet();
  }

  /** Gives every live node that has none a replica (call once the overlay is built, and for newcomers). */
  attachAll(): void {
    for (const node of this.sim.allNodes()) if (node.endedAt === undefined) this.attach(node);
  }

  attach(node: SimNode): SimKvNode {
    const existing = this.replicas.get(node.index);
    if (existing !== undefined) return existing;
    const replica = new SimKvNode(node, this.net, this.config);
    this.replicas.set(node.index, replica);
    this.attachedCount++;
    const tick = (): void => {
      if (node.endedAt !== undefined) return;
      if (replica.ready) this.traffic.nodeUp(this.config.tickMs);
      replica.tick();
      this.sim.at(this.config.tickMs, tick);
    };
    this.sim.at(this.random.next() * this.config.tickMs, tick);
    return replica;
  }

  /** What churn must tell the layer: newcomers get a replica, a departing node's records go with it. */
  listener(): ChurnListener {
    return {
      onArrival: (node) => void this.attach(node),
      onDeparture: (node, kind) => this.departing(node, kind),
    };
  }

  /** Call just before a node stops (crash or leave): its records are gone (a leave hands nothing over). */
  departing(node: SimNode, _kind: DepartureKind): void {
    const replica = this.replicas.get(node.index);
    if (replica === undefined) return;
    const held = [...replica.store.values()];
    replica.wipe();
    for (const record of held) {
      const hex = record.key.hex;
      if (!this.acked.has(hex)) continue;
      const live = this.liveHolders(hex);
      if (live < (this.fewestHolders.get(hex) ?? Number.POSITIVE_INFINITY)) this.fewestHolders.set(hex, live);
    }
  }

  replica(index: number): SimKvNode | undefined {
    return this.replicas.get(index);
  }

  get attached(): number {
    return this.attachedCount;
  }

  /** Keys with an acknowledged write, and their latest acknowledged versions. */
  acknowledged(): ReadonlyMap<string, { readonly key: NodeId; readonly version: Version }> {
    return this.acked;
  }

  /** Live nodes holding the key's acknowledged version or a newer one. */
  liveHolders(hex: string): number {
    const want = this.acked.get(hex);
    let n = 0;
    for (const index of this.holders.get(hex) ?? []) {
      const replica = this.replicas.get(index);
      const held = replica?.store.get(hex);
      if (replica === undefined || replica.sim.endedAt !== undefined || held === undefined) continue;
      if (want === undefined || compareVersions(held.version, want.version) >= 0) n++;
    }
    return n;
  }

  /** The fewest live holders of each acknowledged key's version seen at a departure (k when none struck). */
  fewestLiveHolders(): ReadonlyMap<string, number> {
    return this.fewestHolders;
  }

  /**
   * A put coordinated by the key's owner as the ring has it (where routing delivers the key): it reads the
   * versions of its replica set (its own view), needs max(R, k-W+1) answers, writes the next version to
   * every member and is acknowledged once W hold it. `done` learns whether it was.
   */
  write(key: NodeId, value: Uint8Array, done: (outcome: WriteOutcome) => void): void {
    const owner = this.sim.truth.owner(key);
    const coordinator = owner === undefined ? undefined : this.replicas.get(owner.index);
    if (coordinator === undefined || !coordinator.ready) return done({ key, acked: false });
    const { replicas: k, writeQuorum, readQuorum } = this.config;
    const set = coordinator.sim.machine.replicas(key, k);
    const others = set.filter((n) => !n.id.equals(coordinator.id));
    const seen: (Version | undefined)[] = [coordinator.store.get(key.hex)?.version];
    let answered = set.length - others.length;
    let left = others.length;
    const afterRead = (): void => {
      if (answered < versionReadQuorum(k, writeQuorum, readQuorum)) return done({ key, acked: false });
      const record: KvRecord = { key, version: nextVersion(seen, coordinator.id), value, deleted: false };
      this.replicate(coordinator, record, set, done);
    };
    if (left === 0) return afterRead();
    for (const node of others) {
      this.net.call(
        coordinator,
        node,
        "write",
        MESSAGE_OVERHEAD_BYTES + KEY_BYTES,
        (target) => ({
          answer: target.store.get(key.hex)?.version ?? null,
          bytes: MESSAGE_OVERHEAD_BYTES + RECORD_HEADER_BYTES,
        }),
        (version) => {
          if (version !== undefined) {
            answered++;
            seen.push(version ?? undefined);
          }
          if (--left === 0) afterRead();
        },
      );
    }
  }

  private replicate(
    coordinator: SimKvNode,
    record: KvRecord,
    set: readonly NodeInfo[],
    done: (outcome: WriteOutcome) => void,
  ): void {
    const quorum = new Quorum(set.length, this.config.writeQuorum);
    let reported = false;
    let everywhere = true;
    const settle = (ok: boolean): void => {
      if (!ok) everywhere = false;
      const state = ok ? quorum.succeeded() : quorum.failed();
      if (!reported && state !== "pending") {
        reported = true;
        if (state === "reached") this.acknowledge(record);
        done({ key: record.key, acked: state === "reached" });
      }
      if (quorum.settled) coordinator.tracker.written(record.key, set, everywhere);
    };
    for (const node of set) {
      if (node.id.equals(coordinator.id)) {
        coordinator.apply(record);
        settle(true);
        continue;
      }
      this.net.call(
        coordinator,
        node,
        "write",
        MESSAGE_OVERHEAD_BYTES + RECORD_HEADER_BYTES + record.value.byteLength,
        (target) => {
          if (target.apply(record)) target.tracker.received(record.key.hex);
          return { answer: true, bytes: MESSAGE_OVERHEAD_BYTES + VERSION_BYTES };
        },
        (ok) => settle(ok !== undefined),
      );
    }
  }

  private acknowledge(record: KvRecord): void {
    const hex = record.key.hex;
    const prior = this.acked.get(hex);
    if (prior === undefined || compareVersions(record.version, prior.version) > 0)
      this.acked.set(hex, { key: record.key, version: record.version });
  }

  private makeNet(): KvNet {
    const sim = this.sim;
    const traffic = this.traffic;
    const replicas = this.replicas;
    const holders = this.holders;
    const timeoutMs = this.config.replicaTimeoutMs;
    return {
      get now() {
        return sim.now;
      },
      call: (from, to, work, bytes, serve, done) => {
        traffic.count(work, bytes);
        const index = sim.network.resolve(to.localAddress);
        const target = index === undefined ? undefined : replicas.get(index);
        const back = (delay: number, answer: Parameters<typeof done>[0]): void =>
          sim.at(delay, () => {
            if (from.sim.endedAt === undefined) done(answer);
          });
        if (target === undefined || index === undefined) return back(timeoutMs, undefined);
        const oneWay = sim.network.latency(from.sim.index, index);
        sim.at(oneWay, () => {
          const node = target.sim;
          if (node.endedAt !== undefined && node.crashKind === "host")
            return back(timeoutMs - oneWay, undefined);
          // A dead process or a node not (yet) joined refuses the call.
          if (node.endedAt !== undefined || !target.ready) return back(oneWay, undefined);
          const served = serve(target);
          traffic.count(work, served.bytes);
          back(oneWay, served.answer);
        });
      },
      stored(node: SimKvNode, record: KvRecord): void {
        let set = holders.get(record.key.hex);
        if (set === undefined) holders.set(record.key.hex, (set = new Set()));
        set.add(node.sim.index);
      },
      dropped(node: SimKvNode, record: KvRecord): void {
        holders.get(record.key.hex)?.delete(node.sim.index);
      },
    };
  }
}
