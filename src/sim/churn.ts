// Churn for the simulator: node sessions of random length, each departure replaced by a fresh arrival so the
// population stays steady, departures mixed between crashes (no goodbye) and graceful leaves; or the replay
// of a recorded trace. Every draw comes from the simulator's seeded generator (a fork of it).
import type { Prng } from "./prng.js";
import type { CrashKind, SimNode, Simulator } from "./simulator.js";

/**
 * How long a node stays. "exponential": memoryless sessions with the given median. "pareto": heavy-tailed
 * sessions as measured in deployed peer-to-peer systems (many short, a few very long), drawn from the Lomax
 * form (Pareto type II, support from 0) with the given median; `shape` (alpha) > 1 keeps the mean finite,
 * the smaller the heavier the tail.
 */
export type LifetimeDistribution =
  | { readonly kind: "exponential"; readonly medianMs: number }
  | { readonly kind: "pareto"; readonly medianMs: number; readonly shape: number };

export interface ChurnOptions {
  readonly lifetime: LifetimeDistribution;
  /** Share of departures that are crashes (no goodbye); the rest leave gracefully. Default 0.5. */
  readonly crashFraction?: number;
  /** Share of crashes where only the process died (its host refuses connections), see CrashKind. Default 0.5. */
  readonly processCrashFraction?: number;
}

export type DepartureKind = "leave" | CrashKind;

export interface ChurnListener {
  onArrival?(node: SimNode): void;
  /** Called just before the node stops (its state still live), so its neighbours can be looked up. */
  onDeparture?(node: SimNode, kind: DepartureKind): void;
}

/** One lifetime draw: a session of the distribution's own law. */
export function drawLifetime(d: LifetimeDistribution, random: Prng): number {
  const u = random.next();
  switch (d.kind) {
    case "exponential":
      // Median m: mean m / ln 2.
      return (-d.medianMs / Math.LN2) * Math.log(1 - u);
    case "pareto":
      return lomaxScale(d) * ((1 - u) ** (-1 / d.shape) - 1);
  }
}

/**
 * The remaining lifetime of a node alive at an arbitrary moment of a steady population (the renewal
 * process's equilibrium law): exponential, the same law (memoryless); Lomax(scale, alpha), Lomax(scale,
 * alpha - 1). Drawing the initial population's departures from it makes the overlay steady from the start
 * instead of all its nodes being newborn.
 */
export function drawResidualLifetime(d: LifetimeDistribution, random: Prng): number {
  if (d.kind === "exponential") return drawLifetime(d, random);
  const u = random.next();
  return lomaxScale(d) * ((1 - u) ** (-1 / (d.shape - 1)) - 1);
}

function lomaxScale(d: { readonly medianMs: number; readonly shape: number }): number {
  return d.medianMs / (2 ** (1 / d.shape) - 1);
}

function validate(d: LifetimeDistribution): void {
  if (!(d.medianMs > 0) || !Number.isFinite(d.medianMs)) {
    throw new RangeError(`median session must be a positive number of ms, got ${d.medianMs}`);
  }
  if (d.kind === "pareto" && !(d.shape > 1)) {
    throw new RangeError(`pareto shape must be > 1 (a finite mean session), got ${d.shape}`);
  }
}

function checkFraction(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${value}`);
  return value;
}

/** Ends `node` the way `kind` says. */
export function depart(sim: Simulator, node: SimNode, kind: DepartureKind): void {
  if (kind === "leave") sim.leave(node.index);
  else sim.crash(node.index, kind);
}

/**
 * Steady churn: every live node gets a departure time; each departure is replaced at once by a new node
 * (joining through the real join protocol) with a lifetime of its own. stop() ends it: nodes then stay.
 */
export class Churn {
  private active = false;
  private readonly crashFraction: number;
  private readonly processCrashFraction: number;
  private arrivalsCount = 0;
  private readonly departures: Record<DepartureKind, number> = { leave: 0, process: 0, host: 0 };

  constructor(
    private readonly sim: Simulator,
    private readonly options: ChurnOptions,
    private readonly random: Prng,
    private readonly listener: ChurnListener = {},
  ) {
    validate(options.lifetime);
    this.crashFraction = checkFraction("crashFraction", options.crashFraction ?? 0.5);
    this.processCrashFraction = checkFraction("processCrashFraction", options.processCrashFraction ?? 0.5);
  }

  get arrivals(): number {
    return this.arrivalsCount;
  }

  departed(): Readonly<Record<DepartureKind, number>> {
    return { ...this.departures };
  }

  /** Gives every live node its remaining lifetime (equilibrium law) and starts replacing departures. */
  start(): void {
    if (this.active) return;
    this.active = true;
    for (const node of this.sim.liveNodes()) {
      this.scheduleDeparture(node, drawResidualLifetime(this.options.lifetime, this.random));
    }
  }

  /** No more departures or arrivals (already scheduled ones are cancelled). */
  stop(): void {
    this.active = false;
  }

  private scheduleDeparture(node: SimNode, afterMs: number): void {
    this.sim.at(afterMs, () => {
      if (!this.active || node.endedAt !== undefined) return;
      const kind = this.drawKind();
      this.listener.onDeparture?.(node, kind);
      this.departures[kind]++;
      depart(this.sim, node, kind);
      if (this.sim.truth.size === 0) return; // nobody left to join through
      const arrival = this.sim.addNode();
      this.arrivalsCount++;
      this.listener.onArrival?.(arrival);
      this.scheduleDeparture(arrival, drawLifetime(this.options.lifetime, this.random));
    });
  }

  private drawKind(): DepartureKind {
    if (!this.random.chance(this.crashFraction)) return "leave";
    return this.random.chance(this.processCrashFraction) ? "process" : "host";
  }
}

// ---- Trace replay -----------------------------------------------------------------------------------------

/**
 * One line of a churn trace. The format (docs in docs/simulation.md): one event per line,
 * `<seconds> <join|leave|crash> <name>`, whitespace-separated; `seconds` is a non-negative decimal time since
 * the trace's start, non-decreasing from line to line; `name` is any token naming one session (a join
 * starts it, a leave or crash ends it, and the name may join again afterwards). `leave` is a graceful
 * departure, `crash` one without goodbye (its kind, process or host, drawn as for random churn). Blank lines
 * and lines starting with # are ignored.
 */
export interface TraceEvent {
  readonly atMs: number;
  readonly verb: "join" | "leave" | "crash";
  readonly name: string;
  readonly line: number;
}

export function parseTrace(text: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  const live = new Set<string>();
  let last = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const fields = trimmed.split(/\s+/);
    if (fields.length !== 3) {
      throw new SyntaxError(
        `trace line ${line}: expected "<seconds> <join|leave|crash> <name>", got "${trimmed}"`,
      );
    }
    const [time, verb, name] = fields as [string, string, string];
    const seconds = Number(time);
    if (!/^\d+(\.\d+)?$/.test(time) || !Number.isFinite(seconds)) {
      throw new SyntaxError(
        `trace line ${line}: time "${time}" is not a non-negative decimal number of seconds`,
      );
    }
    if (seconds < last) {
      throw new SyntaxError(`trace line ${line}: time ${seconds} s goes back before ${last} s`);
    }
    last = seconds;
    if (verb !== "join" && verb !== "leave" && verb !== "crash") {
      throw new SyntaxError(`trace line ${line}: unknown event "${verb}" (join, leave or crash)`);
    }
    if (verb === "join") {
      if (live.has(name)) throw new SyntaxError(`trace line ${line}: "${name}" joins while already in`);
      live.add(name);
    } else {
      if (!live.has(name))
        throw new SyntaxError(`trace line ${line}: "${name}" departs without having joined`);
      live.delete(name);
    }
    events.push({ atMs: seconds * 1000, verb, name, line });
  });
  return events;
}

/**
 * Replays a parsed trace from the simulator's current time: joins create nodes (the first one bootstraps an
 * empty simulator), leaves and crashes end the node of that name. Returns the time the last event is due.
 */
export function replayTrace(
  sim: Simulator,
  events: readonly TraceEvent[],
  random: Prng,
  options: { readonly processCrashFraction?: number; readonly listener?: ChurnListener } = {},
): number {
  const processCrashFraction = checkFraction("processCrashFraction", options.processCrashFraction ?? 0.5);
  const byName = new Map<string, SimNode>();
  const start = sim.now;
  for (const event of events) {
    sim.at(event.atMs, () => {
      if (event.verb === "join") {
        if (sim.nodeCount > 0 && sim.truth.size === 0) {
          throw new Error(
            `trace line ${event.line}: "${event.name}" joins with no live ready node to join through`,
          );
        }
        const node = sim.addNode();
        byName.set(event.name, node);
        options.listener?.onArrival?.(node);
        return;
      }
      const node = byName.get(event.name);
      byName.delete(event.name);
      if (node === undefined || node.endedAt !== undefined) return;
      const kind: DepartureKind =
        event.verb === "leave" ? "leave" : random.chance(processCrashFraction) ? "process" : "host";
      options.listener?.onDeparture?.(node, kind);
      depart(sim, node, kind);
    });
  }
  return start + (events.at(-1)?.atMs ?? 0);
}
