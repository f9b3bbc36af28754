// What a churn run measures, window by window of virtual time: routed messages and their fate against the
// ring's truth, key consistency, hops and stretch, control messages by kind and by what prompted them,
// routing-table fill, and the time from each crash until every leaf set that held the crashed node is repaired.
import { ID_DIGITS } from "../routing/id.js";
import type { PeerMessageType } from "../routing/types.js";
import { leafSetMembers } from "./machine.js";
import type { Prng } from "./prng.js";
import type { SendCause } from "./send-counters.js";
import type { SimNode, Simulator } from "./simulator.js";
import { summarize, type Summary } from "./stats.js";
import type { DepartureKind } from "./churn.js";

export interface ChurnWindow {
  /** Window start, virtual ms since the measurement began. */
  readonly startMs: number;
  readonly liveNodes: number;
  /** Messages sent in the window (each of a pair counts). */
  readonly sent: number;
  readonly delivered: number;
  readonly misdelivered: number;
  readonly lost: number;
  readonly hopsMean: number;
  readonly stretchMean: number;
  /** Control messages (all but route and ack) per live node per second, by kind. */
  readonly controlPerNodePerSecond: Record<string, number>;
  readonly controlTotalPerNodePerSecond: number;
  /** Routing-table entries per ready node (sampled) over the entries its slots could hold. */
  readonly tableFill: number;
  /** Share of sampled table entries naming a node that is no longer live. */
  readonly tableStale: number;
  readonly departures: number;
}

export interface ChurnTotals {
  readonly sent: number;
  readonly delivered: number;
  /** Delivered at a node that was not the ring's owner of the key at that moment. */
  readonly deliveredWrong: number;
  /** Sent and never delivered: dropped by the core, or lost with a node that stopped. */
  readonly lost: number;
  readonly lostAcked: number;
  readonly dropped: Record<string, number>;
  readonly lostToCrash: number;
  readonly lostToLeave: number;
  /**
   * Keys sent twice at once from two origins, both copies delivered while the key's true owner stayed the
   * same (keyPairs); inconsistent: those delivered at two different nodes. Pairs whose key changed owner
   * between the two deliveries are counted apart.
   */
  readonly keyPairs: number;
  readonly inconsistentKeys: number;
  readonly keyPairsOwnerChanged: number;
  readonly hops: Summary;
  readonly stretch: Summary;
  readonly controlPerNodePerSecond: Record<string, number>;
  readonly controlTotalPerNodePerSecond: number;
  /**
   * Control messages per node per second by what the sender was handling when it sent them (a message it
   * received, a tick, a failed send...: SendCause) and by kind, most first. Absent in rows measured before
   * causes were counted.
   */
  readonly controlByCause?: readonly ControlCause[];
  /** Crashes followed, and how long until every leaf set that held the crashed node was repaired. */
  readonly repairsTracked: number;
  readonly repairsUnfinished: number;
  readonly repairMs: Summary;
  /** From a crash until no leaf set that held the crashed node names it any more (refilled or not). */
  readonly removalMs: Summary;
  readonly departures: Record<DepartureKind, number>;
  readonly arrivals: number;
  readonly windows: readonly ChurnWindow[];
}

/** Control messages of one kind sent while handling one kind of input, per live node per second. */
export interface ControlCause {
  readonly cause: SendCause;
  readonly type: PeerMessageType;
  readonly perNodePerSecond: number;
}

interface PendingRepair {
  readonly crashedHex: string;
  readonly at: number;
  /** The nodes whose true leaf set held the crashed one. */
  readonly holders: readonly SimNode[];
  /** How long until no holder named the crashed node any more. */
  removedAfter?: number;
}

export interface ChurnObserverOptions {
  readonly windowMs: number;
  /** How often pending leaf-set repairs are checked (the resolution of repair times). */
  readonly repairCheckMs?: number;
  /** At most this many crashes are followed to their repair (each check costs ~l leaf-set reads). */
  readonly maxTrackedRepairs?: number;
  /** Ready nodes whose tables are read for fill, per window. */
  readonly tableSample?: number;
}

/**
 * Watches a simulator from start() on. Call observeDeparture from the churn's listener, then finish() after
 * the traffic has drained.
 */
export class ChurnObserver {
  private readonly windows: ChurnWindow[] = [];
  private readonly pendingRepairs: PendingRepair[] = [];
  private readonly repairTimes: number[] = [];
  private readonly removalTimes: number[] = [];
  private repairsTracked = 0;
  private readonly departures: Record<DepartureKind, number> = { leave: 0, process: 0, host: 0 };
  private windowDepartures = 0;
  private arrivals = 0;
  private startedAt = 0;
  private windowStart = 0;
  private readonly totalControl = new Map<string, number>();
  /** Control messages over the measured windows by cause, then kind. */
  private readonly totalControlByCause = new Map<SendCause, Map<PeerMessageType, number>>();
  private nodeSeconds = 0;
  private readonly pairs: [string, string][] = [];
  private readonly windowOfMessage = new Map<string, number>();
  private started = false;
  private stopped = false;
  private readonly repairCheckMs: number;
  private readonly maxTrackedRepairs: number;
  private readonly tableSample: number;

  constructor(
    private readonly sim: Simulator,
    private readonly options: ChurnObserverOptions,
    private readonly random: Prng,
  ) {
    this.repairCheckMs = options.repairCheckMs ?? 100;
    this.maxTrackedRepairs = options.maxTrackedRepairs ?? 2_000;
    this.tableSample = options.tableSample ?? 500;
  }

  /** Starts the first window now (message counts and tracked messages start afresh). */
  start(): void {
    this.started = true;
    this.startedAt = this.sim.now;
    this.windowStart = this.sim.now;
    this.sim.resetMessageCounts();
    this.sim.clearTrackedMessages();
    const tickWindow = (): void => {
      if (this.stopped) return;
      this.closeWindow();
      this.sim.at(this.options.windowMs, tickWindow);
    };
    this.sim.at(this.options.windowMs, tickWindow);
    const checkRepairs = (): void => {
      if (this.stopped) return;
      this.checkRepairs();
      this.sim.at(this.repairCheckMs, checkRepairs);
    };
    this.sim.at(this.repairCheckMs, checkRepairs);
  }

  observeArrival(): void {
    if (this.measuring()) this.arrivals++;
  }

  private measuring(): boolean {
    return this.started && !this.stopped;
  }

  /** Before `node` departs: a crash starts a repair clock over the nodes whose leaf set holds it. */
  observeDeparture(node: SimNode, kind: DepartureKind): void {
    if (!this.measuring()) return;
    this.departures[kind]++;
    this.windowDepartures++;
    if (kind === "leave" || node.state !== "ready") return;
    if (this.repairsTracked >= this.maxTrackedRepairs) return;
    this.repairsTracked++;
    this.pendingRepairs.push({
      crashedHex: node.info.id.hex,
      at: this.sim.now,
      holders: this.trueLeafSet(node),
    });
  }

  /** Sends `perSecond` random messages a second until stop(); `pairShare` of them as same-key pairs. */
  startTraffic(perSecond: number, pairShare: number): void {
    const gapMs = 1000 / perSecond;
    const send = (): void => {
      if (this.stopped) return;
      this.sim.at(this.random.next() * 2 * gapMs, send);
      if (this.sim.truth.size < 2) return;
      const window = this.windows.length;
      if (this.random.chance(pairShare)) {
        const key = this.random.nodeId();
        const a = this.sim.truth.at(this.random.int(this.sim.truth.size)).index;
        const b = this.sim.truth.at(this.random.int(this.sim.truth.size)).index;
        const first = this.sim.sendMessage(a, key, true);
        const second = this.sim.sendMessage(b, key, true);
        this.pairs.push([first, second]);
        this.windowOfMessage.set(first, window);
        this.windowOfMessage.set(second, window);
      } else {
        const id = this.sim.sendRandomMessage(true);
        if (id !== undefined) this.windowOfMessage.set(id, window);
      }
    };
    this.sim.at(this.random.next() * gapMs, send);
  }

  /** Ends the last window and stops sampling; traffic stops too (run the simulator on to drain it). */
  stop(): void {
    if (this.stopped) return;
    this.closeWindow();
    this.stopped = true;
  }

  finish(): ChurnTotals {
    this.stop();
    const acc = this.sim.account();
    const hops: number[] = [];
    const stretch: number[] = [];
    const perWindow = this.windows.map(() => ({
      sent: 0,
      delivered: 0,
      wrong: 0,
      lost: 0,
      hops: [] as number[],
      stretch: [] as number[],
    }));
    let lostAcked = 0;
    for (const m of this.sim.messages()) {
      const w = perWindow[this.windowOfMessage.get(m.id) ?? -1];
      if (w !== undefined) w.sent++;
      if (m.status !== "delivered" || m.deliveredBy === undefined || m.hops === undefined) {
        if (m.acked) lostAcked++;
        if (w !== undefined) w.lost++;
        continue;
      }
      hops.push(m.hops);
      let s: number | undefined;
      if (m.deliveredBy !== m.origin && m.pathLatencyMs > 0) {
        s = m.pathLatencyMs / this.sim.network.latency(m.origin, m.deliveredBy);
        stretch.push(s);
      }
      if (w !== undefined) {
        w.delivered++;
        if (m.deliveredCorrectly !== true) w.wrong++;
        w.hops.push(m.hops);
        if (s !== undefined) w.stretch.push(s);
      }
    }
    let inconsistent = 0;
    let bothDelivered = 0;
    let ownerChanged = 0;
    for (const [a, b] of this.pairs) {
      const ma = this.sim.message(a);
      const mb = this.sim.message(b);
      if (ma?.status !== "delivered" || mb?.status !== "delivered") continue;
      // Copies delivered apart while the key changed hands in between (a join or a departure) are both right.
      if (ma.trueOwner !== mb.trueOwner) {
        ownerChanged++;
        continue;
      }
      bothDelivered++;
      if (ma.deliveredBy !== mb.deliveredBy) inconsistent++;
    }
    const windows = this.windows.map((w, i) => {
      const m = perWindow[i] as (typeof perWindow)[number];
      return {
        ...w,
        sent: m.sent,
        delivered: m.delivered,
        misdelivered: m.wrong,
        lost: m.lost,
        hopsMean: summarize(m.hops).mean,
        stretchMean: summarize(m.stretch).mean,
      };
    });
    const controlPerNodePerSecond: Record<string, number> = {};
    let controlTotal = 0;
    for (const [type, n] of this.totalControl) {
      const rate = this.nodeSeconds > 0 ? n / this.nodeSeconds : 0;
      controlPerNodePerSecond[type] = rate;
      controlTotal += rate;
    }
    const controlByCause: ControlCause[] = [];
    for (const [cause, byType] of this.totalControlByCause) {
      for (const [type, n] of byType) {
        if (this.nodeSeconds > 0)
          controlByCause.push({ cause, type, perNodePerSecond: n / this.nodeSeconds });
      }
    }
    controlByCause.sort((a, b) => b.perNodePerSecond - a.perNodePerSecond);
    const lost = acc.sent - acc.delivered;
    return {
      sent: acc.sent,
      delivered: acc.delivered,
      deliveredWrong: acc.misdelivered,
      lost,
      lostAcked,
      dropped: { ...acc.dropped },
      lostToCrash: acc.lostToCrash,
      lostToLeave: acc.lostToLeave,
      keyPairs: bothDelivered,
      inconsistentKeys: inconsistent,
      keyPairsOwnerChanged: ownerChanged,
      hops: summarize(hops),
      stretch: summarize(stretch),
      controlPerNodePerSecond,
      controlTotalPerNodePerSecond: controlTotal,
      controlByCause,
      repairsTracked: this.repairsTracked,
      repairsUnfinished: this.pendingRepairs.length,
      repairMs: summarize(this.repairTimes),
      removalMs: summarize(this.removalTimes),
      departures: { ...this.departures },
      arrivals: this.arrivals,
      windows,
    };
  }

  private closeWindow(): void {
    const { counts, byCause, windowMs } = this.sim.messageCounts();
    if (windowMs <= 0) return;
    const live = this.sim.liveNodes().length;
    const seconds = windowMs / 1000;
    const control: Record<string, number> = {};
    let controlTotal = 0;
    for (const [type, n] of Object.entries(counts) as [PeerMessageType, number][]) {
      if (!isControl(type)) continue;
      this.totalControl.set(type, (this.totalControl.get(type) ?? 0) + n);
      control[type] = n / live / seconds;
      controlTotal += control[type];
    }
    for (const [cause, byType] of Object.entries(byCause) as [
      SendCause,
      Partial<Record<PeerMessageType, number>>,
    ][]) {
      let total = this.totalControlByCause.get(cause);
      if (total === undefined) {
        total = new Map();
        this.totalControlByCause.set(cause, total);
      }
      for (const [type, n] of Object.entries(byType) as [PeerMessageType, number][]) {
        if (!isControl(type)) continue;
        total.set(type, (total.get(type) ?? 0) + n);
      }
    }
    this.nodeSeconds += live * seconds;
    const table = this.tableFill();
    this.windows.push({
      startMs: this.windowStart - this.startedAt,
      liveNodes: live,
      sent: 0,
      delivered: 0,
      misdelivered: 0,
      lost: 0,
      hopsMean: NaN,
      stretchMean: NaN,
      controlPerNodePerSecond: control,
      controlTotalPerNodePerSecond: controlTotal,
      tableFill: table.fill,
      tableStale: table.stale,
      departures: this.windowDepartures,
    });
    this.windowDepartures = 0;
    this.windowStart = this.sim.now;
    this.sim.resetMessageCounts();
  }

  /**
   * Mean table entries of sampled ready nodes over the slots a table can fill among N nodes: slot (r, c) is
   * fillable when some node has the node's first r digits then c, probability 1 - (1 - 16^-(r+1))^(N-1).
   */
  private tableFill(): { fill: number; stale: number } {
    const n = this.sim.truth.size;
    if (n < 2) return { fill: NaN, stale: NaN };
    let fillable = 0;
    for (let r = 0; r < ID_DIGITS; r++) {
      const p = 1 - (1 - 16 ** -(r + 1)) ** (n - 1);
      if (p < 1e-6) break;
      fillable += 15 * p;
    }
    let entries = 0;
    let stale = 0;
    let sampled = 0;
    for (let i = 0; i < this.tableSample; i++) {
      const member = this.sim.truth.at(this.random.int(n));
      const node = this.sim.node(member.index);
      for (const row of node.machine.routingTable()) {
        for (const entry of row) {
          if (entry === undefined) continue;
          entries++;
          if (!this.sim.truth.has(entry.id)) stale++;
        }
      }
      sampled++;
    }
    return { fill: entries / sampled / fillable, stale: entries > 0 ? stale / entries : 0 };
  }

  /** The ready nodes within l/2 ring positions of `node` on either side (those whose leaf set holds it). */
  private trueLeafSet(node: SimNode): SimNode[] {
    const truth = this.sim.truth;
    const at = truth.lowerBound(node.info.id.value);
    const half = this.sim.routingConfig.leafSetSize / 2;
    const n = truth.size;
    const out = new Map<number, SimNode>();
    for (let k = 1; k <= Math.min(half, n - 1); k++) {
      for (const i of [(at + k) % n, (at - k + n) % n]) {
        const m = truth.at(i);
        if (m.index !== node.index) out.set(m.index, this.sim.node(m.index));
      }
    }
    return [...out.values()];
  }

  /**
   * A crash is repaired once every live holder's leaf set no longer names the crashed node and is back to
   * its full size (l, or every other node on a ring of at most l + 1): the hole has been refilled.
   */
  private checkRepairs(): void {
    const full = Math.min(this.sim.routingConfig.leafSetSize, this.sim.truth.size - 1);
    for (let i = this.pendingRepairs.length - 1; i >= 0; i--) {
      const repair = this.pendingRepairs[i] as PendingRepair;
      let named = false;
      let short = false;
      for (const holder of repair.holders) {
        if (holder.endedAt !== undefined || holder.state !== "ready") continue;
        const members = leafSetMembers(holder.machine);
        if (members.some((m) => m.id.hex === repair.crashedHex)) named = true;
        if (members.length < full) short = true;
        if (named) break;
      }
      if (!named && repair.removedAfter === undefined) {
        repair.removedAfter = this.sim.now - repair.at;
        this.removalTimes.push(repair.removedAfter);
      }
      if (!named && !short) {
        this.repairTimes.push(this.sim.now - repair.at);
        this.pendingRepairs.splice(i, 1);
      }
    }
  }
}

/** Control messages: every kind but the routed messages themselves and their acknowledgements. */
function isControl(type: PeerMessageType): boolean {
  return type !== "route" && type !== "ack";
}
