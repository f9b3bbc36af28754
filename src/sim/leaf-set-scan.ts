// A look at every ready node's leaf set, once per sampled moment, against the truth the nodes cannot see:
// how long a node that crashed or left stays in someone's leaf set (a ghost), and how long a live ready node
// that belongs in someone's leaf set (among its l/2 nearest on a side) is missing there (a hole). The
// churn benchmark's repair times follow sampled crashes over the holders the truth names; a holder from
// farther out, a leave and a hole are not in them, and those are where the repair rules' gaps show
// (docs/simulation.md). Sampling only reads the machines' queries, so a scanned run follows the very same
// trajectory as one not scanned.
import type { Simulator } from "./simulator.js";
import type { SimNode } from "./sim-node.js";

/** The departures a ghost is counted by: how its node ended. */
export type GhostKind = "host" | "process" | "left";

/** Durations of one kind of (holder, node) pair, in milliseconds, from the first sample to the last. */
export interface PairDurations {
  readonly pairs: number;
  readonly over10s: number;
  readonly over15s: number;
  readonly maxMs: number;
  /** The longest: holder and node as ID prefixes (6 hex digits), and when the pair began (virtual ms). */
  readonly worst: { readonly holder: string; readonly node: string; readonly fromMs: number } | undefined;
}

export interface LeafSetScanSummary {
  readonly samples: number;
  /** A node that crashed or left, from its end to the last sample that saw it in the holder's leaf set. */
  readonly ghosts: Readonly<Record<GhostKind, PairDurations>>;
  /** A live ready node missing from a holder's leaf set where it belongs, first to last sample seen so. */
  readonly holes: PairDurations;
  /** Pairs still open at the last sample (not in the durations). */
  readonly openGhosts: number;
  readonly openHoles: number;
}

interface Open {
  readonly holder: SimNode;
  readonly node: SimNode;
  readonly from: number;
  last: number;
}

const prefix = (node: SimNode): string => node.info.id.hex.slice(0, 6);

/** The durations gathered for one kind of pair. */
class Durations {
  private readonly all: number[] = [];
  private worst: PairDurations["worst"];
  private maxMs = 0;

  add(pair: Open): void {
    const ms = pair.last - pair.from;
    this.all.push(ms);
    if (this.worst === undefined || ms > this.maxMs) {
      this.maxMs = ms;
      this.worst = { holder: prefix(pair.holder), node: prefix(pair.node), fromMs: pair.from };
    }
  }

  summary(): PairDurations {
    return {
      pairs: this.all.length,
      over10s: this.all.filter((ms) => ms > 10_000).length,
      over15s: this.all.filter((ms) => ms > 15_000).length,
      maxMs: this.maxMs,
      worst: this.worst,
    };
  }
}

export class LeafSetScan {
  private readonly ghostsOpen = new Map<string, Open>();
  private readonly holesOpen = new Map<string, Open>();
  private readonly ghosts: Record<GhostKind, Durations> = {
    host: new Durations(),
    process: new Durations(),
    left: new Durations(),
  };
  private readonly holes = new Durations();
  /** Every node that ever existed, by ID and incarnation: a leaf-set entry names one of them. */
  private readonly byIncarnation = new Map<string, SimNode>();
  private known = 0;
  private samples = 0;

  constructor(private readonly sim: Simulator) {}

  /** Looks at every ready node's leaf set now. */
  sample(): void {
    const now = this.sim.now;
    this.samples++;
    const nodes = this.sim.allNodes();
    for (; this.known < nodes.length; this.known++) {
      const node = nodes[this.known] as SimNode;
      this.byIncarnation.set(`${node.info.id.hex}:${node.info.incarnation}`, node);
    }
    const truth = this.sim.truth;
    const n = truth.size;
    const half = Math.min(this.sim.routingConfig.leafSetSize / 2, Math.floor((n - 1) / 2));
    const ghostsSeen = new Set<string>();
    const holesSeen = new Set<string>();
    for (let p = 0; p < n; p++) {
      const holder = this.sim.node(truth.at(p).index);
      if (holder.state !== "ready") continue;
      const { left, right } = holder.machine.leafSet();
      const held = new Set<string>();
      for (const member of [...left, ...right]) {
        held.add(member.id.hex);
        const node = this.byIncarnation.get(`${member.id.hex}:${member.incarnation}`);
        if (node === undefined || (node.state !== "crashed" && node.state !== "left")) continue;
        const key = `${holder.index}:${node.index}`;
        ghostsSeen.add(key);
        this.touch(this.ghostsOpen, key, holder, node, node.endedAt ?? now, now);
      }
      for (let k = 1; k <= half; k++) {
        for (const q of [(p + k) % n, (p - k + n) % n]) {
          const member = truth.at(q);
          if (held.has(member.id.hex)) continue;
          const key = `${holder.index}:${member.index}`;
          holesSeen.add(key);
          this.touch(this.holesOpen, key, holder, this.sim.node(member.index), now, now);
        }
      }
    }
    this.close(this.ghostsOpen, ghostsSeen, (pair) => this.ghosts[ghostKind(pair.node)].add(pair));
    this.close(this.holesOpen, holesSeen, (pair) => this.holes.add(pair));
  }

  summary(): LeafSetScanSummary {
    return {
      samples: this.samples,
      ghosts: {
        host: this.ghosts.host.summary(),
        process: this.ghosts.process.summary(),
        left: this.ghosts.left.summary(),
      },
      holes: this.holes.summary(),
      openGhosts: this.ghostsOpen.size,
      openHoles: this.holesOpen.size,
    };
  }

  private touch(
    open: Map<string, Open>,
    key: string,
    holder: SimNode,
    node: SimNode,
    from: number,
    now: number,
  ): void {
    const pair = open.get(key);
    if (pair === undefined) open.set(key, { holder, node, from, last: now });
    else pair.last = now;
  }

  /** Pairs not seen in this sample have ended: their durations run to the last sample that saw them. */
  private close(open: Map<string, Open>, seen: ReadonlySet<string>, done: (pair: Open) => void): void {
    for (const [key, pair] of open) {
      if (seen.has(key)) continue;
      open.delete(key);
      done(pair);
    }
  }
}

function ghostKind(node: SimNode): GhostKind {
  return node.state === "left" ? "left" : (node.crashKind ?? "host");
}
