// The driver of the data-driven protocol scenarios (test/routing/testdata/*.txt; the format is described in
// test/routing/testdata/README.md). Each scenario is a list of commands run against PastryNode state
// machines wired together by the overlay harness; a command's printed output must equal the block written
// under it. Only the node's public surface is used (inputs, takeOutputs, queries), so scenarios describe
// the protocol, not the code that implements it.
import { NodeId, isCloser } from "../../src/routing/id.js";
import type { PastryNode, PastryNodeStats } from "../../src/routing/node.js";
import {
  DEFAULT_ROUTING_CONFIG,
  isReportedFailure,
  type NodeInfo,
  type Outbound,
  type Output,
  type PeerMessage,
  type PeerMessageType,
  type Refusal,
  type RoutingConfig,
  type RoutingEvent,
} from "../../src/routing/types.js";
import { Overlay, type FailureReporting } from "./overlay-harness.js";

// ---- The file format -------------------------------------------------------------------------------------

export interface Directive {
  /** 1-based line of the command in its file. */
  readonly line: number;
  readonly command: string;
  /** The block under "----", or undefined when the command has none (it must then print nothing). */
  readonly expected: string | undefined;
}

export type Segment =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "directive"; readonly directive: Directive };

const SEPARATOR = "----";

/** Splits a scenario into comments and blank lines (kept for rewriting) and directives. */
export function parseScenario(text: string): Segment[] {
  const lines = text.replace(/\n$/, "").split("\n");
  const segments: Segment[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === "" || line.startsWith("#")) {
      segments.push({ kind: "text", text: line });
      i++;
      continue;
    }
    const at = i + 1;
    i++;
    let expected: string | undefined;
    if (lines[i] === SEPARATOR) {
      i++;
      const block: string[] = [];
      while (i < lines.length && (lines[i] as string).trim() !== "") block.push(lines[i++] as string);
      expected = block.join("\n");
    }
    segments.push({ kind: "directive", directive: { line: at, command: line.trim(), expected } });
  }
  return segments;
}

/** The scenario with each directive's block replaced by its actual output (the rewrite mode). */
export function renderScenario(segments: readonly Segment[], actual: ReadonlyMap<Directive, string>): string {
  const lines: string[] = [];
  for (const segment of segments) {
    if (segment.kind === "text") {
      lines.push(segment.text);
      continue;
    }
    const { directive } = segment;
    lines.push(directive.command);
    const output = actual.get(directive) ?? directive.expected ?? "";
    if (output !== "") lines.push(SEPARATOR, output);
  }
  return lines.join("\n") + "\n";
}

// ---- Names: nodes and keys are written as hex prefixes of their IDs ---------------------------------------

/** "58" is the ID 0x5800...0: a hex prefix of at most 32 digits, the rest zeros. */
function parseId(text: string): NodeId {
  if (!/^[0-9a-f]{1,32}$/.test(text)) throw new Error(`"${text}" is not an ID prefix (1 to 32 hex digits)`);
  return NodeId.fromHex(text.padEnd(32, "0"));
}

/** The shortest prefix that names an ID: trailing zeros dropped. */
function shortHex(id: NodeId): string {
  return id.hex.replace(/0+$/, "") || "0";
}

// ---- Commands ---------------------------------------------------------------------------------------------

/** A whole number argument (at least 0), or `fallback` when absent (undefined: it is required). */
function count(c: Command, arg: string, fallback: number | undefined): number {
  const text = c.args.get(arg);
  if (text === undefined) {
    if (fallback === undefined) throw new Error(`${c.name} needs ${arg}=`);
    return fallback;
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${arg}=${text} is not a whole number`);
  return value;
}

interface Command {
  readonly name: string;
  /** Words without "=": node names, flags. */
  readonly words: readonly string[];
  readonly args: ReadonlyMap<string, string>;
}

function parseCommand(text: string): Command {
  const [name, ...rest] = text.split(/\s+/);
  const words: string[] = [];
  const args = new Map<string, string>();
  for (const token of rest) {
    const eq = token.indexOf("=");
    if (eq < 0) words.push(token);
    else args.set(token.slice(0, eq), token.slice(eq + 1));
  }
  return { name: name as string, words, args };
}

const MESSAGE_TYPES: ReadonlySet<string> = new Set<PeerMessageType>([
  "join",
  "joinState",
  "probe",
  "probeReply",
  "announce",
  "heartbeat",
  "leafSetRequest",
  "leafSet",
  "rowRequest",
  "row",
  "route",
  "ack",
  "leave",
]);
/** Events that `show` can print ("heartbeat" names the message; its event says nothing more). */
const EVENT_TYPES: ReadonlySet<string> = new Set<RoutingEvent["type"]>([
  "ready",
  "nodeJoined",
  "nodeExited",
  "leafSetChanged",
  "dropped",
  "acked",
  "refused",
  "joinFailed",
]);
const DELIVER = "deliver";

/** Messages matching a drop or hold rule: every given field must match. */
interface Match {
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly type: string | undefined;
}

interface DropRule extends Match {
  remaining: number;
  readonly cause: "unreachable" | "broken" | "unknown" | "none";
}

interface InFlight {
  readonly sender: PastryNode;
  readonly out: Outbound;
}

/** The arguments (key=value) each command takes, besides show=; config takes RoutingConfig's fields. */
const ARGUMENTS: Readonly<Record<string, readonly string[]>> = {
  config: [...Object.keys(DEFAULT_ROUTING_CONFIG), "seed", "acks", "report"],
  bootstrap: ["incarnation"],
  join: ["via", "incarnation"],
  ring: [],
  send: ["key", "as"],
  run: [],
  step: ["n"],
  tick: ["ms", "every"],
  kill: [],
  leave: [],
  pause: [],
  resume: [],
  drop: ["from", "to", "type", "n", "cause"],
  timeout: ["from", "to", "type", "n"],
  accept: ["msg"],
  refuse: ["msg", "code", "reason"],
  hold: ["from", "to", "type"],
  release: ["n"],
  leafset: [],
  status: [],
  table: [],
  owner: ["key"],
  closest: ["key"],
  stats: ["fields"],
  deliveries: [],
  held: [],
};

/** Moves of one message at most this many times per `run` (a scenario never needs nearly as many). */
const MAX_STEPS = 100_000;
const STATS_FIELDS: readonly (keyof PastryNodeStats)[] = [
  "delivered",
  "forwarded",
  "dropped",
  "rerouted",
  "hopRetries",
  "hopsParked",
  "parkedHops",
  "suspects",
  "pending",
  "leafSetMembers",
];

/** One scenario's world: the overlay, the nodes by name, the rules on messages and what is printed. */
export class ScenarioEnv {
  private config: Partial<RoutingConfig> = {};
  private seed = 1;
  private acks = false;
  private reporting: FailureReporting = "route";
  private network: Overlay | undefined;
  /** Current incarnation by name (the short hex of its ID). */
  private readonly nodes = new Map<string, PastryNode>();
  private readonly paused = new Map<string, InFlight[]>();
  private readonly drops: DropRule[] = [];
  /** Messages that arrive, yet whose senders are told their call timed out. */
  private readonly timeouts: (Match & { remaining: number })[] = [];
  private holds: Match[] = [];
  private held: InFlight[] = [];
  private readonly labelOf = new Map<string, string>();
  private readonly idOfLabel = new Map<string, string>();
  private sends = 0;
  private queriedDeliveries = 0;
  /** For each delivery, the closest live node when it happened. */
  private readonly closestAtDelivery: string[] = [];
  /** What the running command prints, and which kinds of happenings it shows. */
  private output: string[] = [];
  private show: ReadonlySet<string> = new Set();
  /** With only=N: what is shown is limited to messages from or to N, and N's events and deliveries. */
  private only: string | undefined;
  private stamped = false;

  /** Runs one directive; returns what it printed. */
  run(directive: Directive): string {
    this.output = [];
    const command = parseCommand(directive.command);
    this.show = this.parseShow(command.args.get("show"));
    const only = command.args.get("only");
    this.only = only === undefined ? undefined : this.nameOf(this.node(only).self);
    this.stamped = false;
    this.execute(command);
    this.show = new Set();
    this.only = undefined;
    return this.output.join("\n");
  }

  private execute(c: Command): void {
    const allowed = ARGUMENTS[c.name];
    if (allowed === undefined) throw new Error(`unknown command "${c.name}"`);
    for (const arg of c.args.keys()) {
      if (arg !== "show" && arg !== "only" && !allowed.includes(arg))
        throw new Error(`${c.name} takes no argument ${arg}=`);
    }
    switch (c.name) {
      case "config":
        return this.configure(c);
      case "bootstrap":
        return this.bootstrap(c);
      case "join":
        return this.join(c);
      case "ring":
        return this.ring(c);
      case "send":
        return this.send(c);
      case "run":
        return this.pump();
      case "step":
        return this.step(count(c, "n", 1));
      case "tick":
        return this.tick(c);
      case "kill":
        for (const node of this.named(c.words)) this.net.crash(node);
        return;
      case "leave":
        return this.leave(c);
      case "pause":
        for (const node of this.named(c.words)) this.paused.set(this.nameOf(node.self), []);
        return;
      case "resume":
        return this.resume(c);
      case "drop":
        return this.addDrop(c);
      case "timeout":
        this.timeouts.push({ ...this.match(c), remaining: count(c, "n", 1) });
        return;
      case "accept":
        return this.answer(c, undefined);
      case "refuse":
        return this.answer(c, { code: count(c, "code", 9), reason: c.args.get("reason") ?? "refused" });
      case "hold":
        this.holds.push(this.match(c));
        return;
      case "release":
        return this.release(count(c, "n", this.held.length));
      case "leafset":
        return this.print(this.named(c.words).map((n) => this.describeLeafSet(n)));
      case "status":
        return this.print(this.named(c.words).map((n) => this.describeStatus(n)));
      case "table":
        return this.print(this.describeTable(this.single(c)));
      case "owner":
        return this.print([this.nameOf(this.single(c).owner(this.key(c)))]);
      case "closest":
        return this.print([this.closestLive(this.key(c))]);
      case "stats":
        return this.printStats(c);
      case "deliveries":
        return this.printDeliveries();
      case "held":
        return this.print(this.held.map(({ sender, out }) => this.describeFlight(sender, out)));
      default:
        throw new Error(`command "${c.name}" has no handler`);
    }
  }

  // ---- Setup ---------------------------------------------------------------------------------------------

  private configure(c: Command): void {
    if (this.network !== undefined) throw new Error("config must come before the first node");
    for (const [key, text] of c.args) {
      if (key === "seed") this.seed = Number(text);
      else if (key === "acks") this.acks = text === "true";
      else if (key === "report") {
        if (text !== "route" && text !== "all") throw new Error(`report is route or all, got ${text}`);
        this.reporting = text;
      } else {
        const value = text === "true" ? true : text === "false" ? false : Number(text);
        if (typeof value === "number" && Number.isNaN(value)) throw new Error(`${key}=${text} is no number`);
        this.config = { ...this.config, [key]: value };
      }
    }
  }

  private get net(): Overlay {
    if (this.network === undefined) {
      this.network = new Overlay(this.config, this.seed, this.reporting);
      this.network.acks = this.acks;
      this.network.hold = (sender, out) => this.intercept(sender, out);
      this.network.observe = (node, output) => this.observe(node, output);
    }
    return this.network;
  }

  private bootstrap(c: Command): void {
    const name = this.newName(c);
    const node = this.net.create(parseId(name), count(c, "incarnation", 1));
    this.nodes.set(name, node);
    node.bootstrap(this.net.now);
    this.collect(node);
  }

  /** Shorthand: the first node founds the ring, the others join through it one by one, each until quiet. */
  private ring(c: Command): void {
    const [first, ...others] = c.words;
    if (first === undefined) throw new Error("ring names its nodes");
    this.bootstrap({ name: "bootstrap", words: [first], args: new Map() });
    for (const name of others) {
      this.join({ name: "join", words: [name], args: new Map([["via", first]]) });
      this.pump();
    }
  }

  /** A new node, or a new incarnation of a known one (the old one is gone: crashed, left). */
  private join(c: Command): void {
    const name = this.newName(c);
    const via = this.node(this.required(c, "via"));
    const old = this.nodes.get(name);
    if (old !== undefined) this.net.crash(old);
    const incarnation = count(c, "incarnation", (old?.self.incarnation ?? 0) + 1);
    const node = this.net.create(parseId(name), incarnation);
    this.nodes.set(name, node);
    node.join([via.self.localAddress], this.net.now);
    this.collect(node);
  }

  private newName(c: Command): string {
    const [word] = c.words;
    if (word === undefined || c.words.length > 1) throw new Error(`${c.name} takes one node`);
    const name = shortHex(parseId(word));
    if (name !== word) throw new Error(`write ${word} as ${name}, as it is printed`);
    return name;
  }

  // ---- Traffic and time ------------------------------------------------------------------------------------

  private send(c: Command): void {
    const [name, ...flags] = c.words;
    if (name === undefined || flags.some((f) => f !== "ack")) throw new Error("send N key=K [as=L] [ack]");
    const from = this.node(name);
    const label = c.args.get("as") ?? `m${++this.sends}`;
    const wantAck = flags.includes("ack");
    const id = from.send(this.key(c), 16, new Uint8Array(0), { wantAck }, this.net.now);
    this.labelOf.set(id, label);
    this.idOfLabel.set(label, id);
    this.collect(from);
  }

  private pump(): void {
    for (let i = 0; i < MAX_STEPS; i++) if (!this.moveOne()) return;
    throw new Error(`the overlay did not go quiet within ${MAX_STEPS} messages`);
  }

  private step(n: number): void {
    for (let i = 0; i < n; i++) if (!this.moveOne()) throw new Error(`only ${i} of ${n} messages queued`);
  }

  private moveOne(): boolean {
    return this.net.step();
  }

  /** Time passes in steps of `every`: messages move, then every live, running node ticks. */
  private tick(c: Command): void {
    const ms = count(c, "ms", undefined);
    const every = count(c, "every", 250);
    if (every === 0) throw new Error("tick every=0 would never end");
    this.stamped = true;
    const end = this.net.now + ms;
    while (this.net.now < end) {
      this.net.now = Math.min(end, this.net.now + every);
      this.pump();
      for (const node of this.net.live()) {
        if (this.paused.has(this.nameOf(node.self))) continue;
        node.tick(this.net.now);
        this.collect(node);
      }
      this.pump();
    }
  }

  // ---- Faults ----------------------------------------------------------------------------------------------

  /** The nodes leave; like a stopping daemon they still take messages until they are killed. */
  private leave(c: Command): void {
    for (const node of this.named(c.words)) {
      node.leave(this.net.now);
      this.collect(node);
    }
  }

  /** A paused node wakes: the messages that waited for it arrive first, then it ticks again. */
  private resume(c: Command): void {
    for (const node of this.named(c.words)) {
      const name = this.nameOf(node.self);
      const waiting = this.paused.get(name);
      if (waiting === undefined) throw new Error(`${name} is not paused`);
      this.paused.delete(name);
      for (const flight of waiting) this.deliverNow(flight);
    }
  }

  /** The application at a node answers a delivery (config applicationAcks): taken, or refused. */
  private answer(c: Command, refusal: Refusal | undefined): void {
    const node = this.single(c);
    const label = this.required(c, "msg");
    const id = this.idOfLabel.get(label);
    if (id === undefined) throw new Error(`no message ${label}`);
    if (refusal === undefined) node.applicationAcknowledged(id, this.net.now);
    else node.applicationRefused(id, refusal, this.net.now);
    this.collect(node);
  }

  private addDrop(c: Command): void {
    const cause = c.args.get("cause") ?? "unreachable";
    if (cause !== "unreachable" && cause !== "broken" && cause !== "unknown" && cause !== "none")
      throw new Error(`cause is unreachable, broken, unknown or none, got ${cause}`);
    this.drops.push({ ...this.match(c), remaining: count(c, "n", 1), cause });
  }

  /** The first `n` held messages arrive now; no more are held from now on. */
  private release(n: number): void {
    if (n > this.held.length) throw new Error(`release n=${n}: only ${this.held.length} held`);
    const released = this.held.slice(0, n);
    this.held = this.held.slice(n);
    this.holds = [];
    for (const flight of released) this.deliverNow(flight);
  }

  private deliverNow({ sender, out }: InFlight): void {
    const target = this.net.byAddress.get(out.address);
    if (target === undefined || this.net.isDown(target)) {
      this.trace(sender, out, "arrives late, down");
      return;
    }
    this.trace(sender, out, "arrives late");
    target.receive(sender.self, out.message, this.net.now);
    this.collect(target);
  }

  /** Every message the network is about to move passes here: dropped, held, or let through (traced). */
  private intercept(sender: PastryNode, out: Outbound): boolean {
    const target = this.net.byAddress.get(out.address);
    const drop = this.drops.find((rule) => rule.remaining > 0 && this.matches(rule, sender, target, out));
    if (drop !== undefined) {
      drop.remaining--;
      this.trace(sender, out, "lost");
      if (drop.cause !== "none" && isReportedFailure(out.message)) {
        sender.sendFailed(out, this.net.now, drop.cause);
        this.collect(sender);
      }
      return true;
    }
    const pausedQueue = target === undefined ? undefined : this.paused.get(this.nameOf(target.self));
    if (pausedQueue !== undefined && target !== undefined && !this.net.isDown(target)) {
      this.trace(sender, out, "waits, paused");
      pausedQueue.push({ sender, out });
      return true;
    }
    if (this.holds.some((rule) => this.matches(rule, sender, target, out))) {
      this.trace(sender, out, "held");
      this.held.push({ sender, out });
      return true;
    }
    const down = target === undefined || this.net.isDown(target);
    const timeout = down
      ? undefined
      : this.timeouts.find((r) => r.remaining > 0 && this.matches(r, sender, target, out));
    this.trace(
      sender,
      out,
      down ? "down" : timeout === undefined ? undefined : "arrives, sender told it timed out",
    );
    if (timeout !== undefined) {
      timeout.remaining--;
      if (isReportedFailure(out.message)) {
        sender.sendFailed(out, this.net.now, "unknown");
        this.collect(sender);
      }
    }
    return false;
  }

  private match(c: Command): Match {
    const type = c.args.get("type");
    if (type !== undefined && !MESSAGE_TYPES.has(type)) throw new Error(`unknown message type ${type}`);
    return { from: c.args.get("from"), to: c.args.get("to"), type };
  }

  private matches(rule: Match, sender: PastryNode, target: PastryNode | undefined, out: Outbound): boolean {
    return (
      (rule.from === undefined || rule.from === this.nameOf(sender.self)) &&
      (rule.to === undefined || (target !== undefined && rule.to === this.nameOf(target.self))) &&
      (rule.type === undefined || rule.type === out.message.type)
    );
  }

  // ---- What is printed ------------------------------------------------------------------------------------

  private parseShow(text: string | undefined): ReadonlySet<string> {
    const kinds = new Set(text === undefined ? [] : text.split(","));
    for (const kind of kinds) {
      if (!MESSAGE_TYPES.has(kind) && !EVENT_TYPES.has(kind) && kind !== DELIVER)
        throw new Error(`show: unknown kind ${kind}`);
    }
    return kinds;
  }

  private emit(line: string): void {
    this.output.push(this.stamped ? `t=${this.net.now} ${line}` : line);
  }

  private trace(sender: PastryNode, out: Outbound, fate: string | undefined): void {
    if (!this.show.has(out.message.type)) return;
    const target = this.net.byAddress.get(out.address);
    if (this.only !== undefined && ![sender, target].some((n) => n !== undefined && this.isOnly(n))) return;
    this.emit(`${this.describeFlight(sender, out)}${fate === undefined ? "" : ` (${fate})`}`);
  }

  private isOnly(node: PastryNode): boolean {
    return this.nodes.get(this.only ?? "") === node;
  }

  private describeFlight(sender: PastryNode, out: Outbound): string {
    const target = this.net.byAddress.get(out.address);
    const to = target === undefined ? out.address : this.nameOf(target.self);
    return `${this.nameOf(sender.self)} -> ${to} ${this.describeMessage(out.message)}`;
  }

  private collect(node: PastryNode): void {
    this.net.collect(node);
  }

  /** Every output of every node, as collected: deliveries and events are printed if the command shows them. */
  private observe(node: PastryNode, output: Output): void {
    if (output.type === "deliver") this.closestAtDelivery.push(this.closestLive(output.message.key));
    if (this.only !== undefined && !this.isOnly(node)) return;
    if (output.type === "deliver") {
      if (this.show.has(DELIVER))
        this.emit(`${this.nameOf(node.self)}: deliver ${this.label(output.message.id)}`);
    } else if (
      output.type === "event" &&
      EVENT_TYPES.has(output.event.type) &&
      this.show.has(output.event.type)
    ) {
      this.emit(`${this.nameOf(node.self)}: ${this.describeEvent(output.event)}`);
    }
  }

  private describeMessage(m: PeerMessage): string {
    switch (m.type) {
      case "join":
        return `join ${this.nameOf(m.joiner)}`;
      case "joinState":
        return m.final ? "joinState final" : "joinState";
      case "probe":
        return m.joining ? "probe joining" : "probe";
      case "leafSet":
        return m.removed.length === 0
          ? "leafSet"
          : `leafSet removed=${m.removed.map((id) => shortHex(id)).join(",")}`;
      case "rowRequest":
        return `rowRequest row=${m.row}`;
      case "row":
        return `row ${m.row.row}`;
      case "route":
        return `route ${this.label(m.message.id)}`;
      case "ack":
        return `ack ${this.label(m.messageId)}${m.refusal === undefined ? "" : " refused"}`;
      default:
        return m.type;
    }
  }

  private describeEvent(event: RoutingEvent): string {
    switch (event.type) {
      case "nodeJoined":
        return `nodeJoined ${this.nameOf(event.node)}`;
      case "nodeExited":
        return `nodeExited ${this.nameOf(event.node)} ${event.graceful ? "left" : "failed"}`;
      case "leafSetChanged":
        return `leafSetChanged ${this.sorted(event.leafSet).join(" ")}`;
      case "dropped":
        return `dropped ${this.label(event.message.id)} ${event.reason}`;
      case "acked":
        return `acked ${this.label(event.messageId)} by ${this.nameOf(event.deliveredBy)} hops=${event.hops}`;
      case "refused":
        return `refused ${this.label(event.messageId)} by ${this.nameOf(event.refusedBy)}`;
      case "joinFailed":
        return `joinFailed ${event.reason}`;
      default:
        return event.type;
    }
  }

  /** Farthest left member first, the node itself in brackets, then the right side nearest first. */
  private describeLeafSet(node: PastryNode): string {
    const { left, right } = node.leafSet();
    const ring = [...[...left].reverse().map((n) => this.nameOf(n)), `[${this.nameOf(node.self)}]`];
    ring.push(...right.map((n) => this.nameOf(n)));
    return `${this.nameOf(node.self)}: ${ring.join(" ")}`;
  }

  private describeStatus(node: PastryNode): string {
    const name = this.nameOf(node.self);
    const notes = [this.net.isDown(node) ? "down" : "", this.paused.has(name) ? "paused" : ""].filter(
      Boolean,
    );
    return `${name} ${node.stats().status}${notes.length === 0 ? "" : ` (${notes.join(", ")})`}`;
  }

  private describeTable(node: PastryNode): string[] {
    return node.routingTable().flatMap((row, r) => {
      const entries = row.flatMap((n) => (n === undefined ? [] : [this.nameOf(n)]));
      return entries.length === 0 ? [] : [`row ${r}: ${entries.join(" ")}`];
    });
  }

  private printStats(c: Command): void {
    const node = this.single(c);
    const fields = (c.args.get("fields") ?? STATS_FIELDS.join(",")).split(",");
    const stats = node.stats();
    const cells = fields.map((f) => {
      if (!(STATS_FIELDS as readonly string[]).includes(f)) throw new Error(`stats: unknown field ${f}`);
      return `${f}=${stats[f as keyof PastryNodeStats]}`;
    });
    this.print([cells.join(" ")]);
  }

  /** Deliveries since the last `deliveries`, each with where the closest live node was if elsewhere. */
  private printDeliveries(): void {
    const lines: string[] = [];
    for (let i = this.queriedDeliveries; i < this.net.deliveries.length; i++) {
      const d = this.net.deliveries[i]!;
      const at = this.nameOf(d.at.self);
      const closest = this.closestAtDelivery[i];
      const hops = `hops=${d.message.hops}`;
      lines.push(
        `${this.label(d.message.id)} at ${at} ${hops}${closest === at ? "" : ` (closest: ${closest})`}`,
      );
    }
    this.queriedDeliveries = this.net.deliveries.length;
    this.print(lines.length === 0 ? ["none"] : lines);
  }

  private print(lines: readonly string[]): void {
    this.output.push(...lines);
  }

  // ---- Lookups ---------------------------------------------------------------------------------------------

  private node(name: string): PastryNode {
    const node = this.nodes.get(shortHex(parseId(name)));
    if (node === undefined) throw new Error(`no node ${name}`);
    return node;
  }

  /** The nodes named, or for "all" every current incarnation neither crashed nor left, in ID order. */
  private named(words: readonly string[]): PastryNode[] {
    if (words.length === 1 && words[0] === "all")
      return [...this.nodes.values()]
        .filter((n) => !this.net.isDown(n) && n.stats().status !== "left")
        .sort((a, b) => a.self.id.compare(b.self.id));
    if (words.length === 0) throw new Error("name at least one node");
    return words.map((w) => this.node(w));
  }

  private single(c: Command): PastryNode {
    const [word] = c.words;
    if (word === undefined || c.words.length > 1) throw new Error(`${c.name} takes one node`);
    return this.node(word);
  }

  private required(c: Command, arg: string): string {
    const value = c.args.get(arg);
    if (value === undefined) throw new Error(`${c.name} needs ${arg}=`);
    return value;
  }

  private key(c: Command): NodeId {
    return parseId(this.required(c, "key"));
  }

  /** The short hex of a node's ID, with "#incarnation" when it is not the incarnation by that name now. */
  private nameOf(info: NodeInfo): string {
    const name = shortHex(info.id);
    const current = this.nodes.get(name);
    return current === undefined || current.self.incarnation === info.incarnation
      ? name
      : `${name}#${info.incarnation}`;
  }

  private sorted(nodes: readonly NodeInfo[]): string[] {
    return [...nodes].sort((a, b) => a.id.compare(b.id)).map((n) => this.nameOf(n));
  }

  private label(messageId: string): string {
    return this.labelOf.get(messageId) ?? messageId;
  }

  /** Global truth: the ready node closest to `key` among those neither down nor paused. */
  private closestLive(key: NodeId): string {
    let best: PastryNode | undefined;
    for (const node of this.net.live()) {
      if (!node.isReady() || this.paused.has(this.nameOf(node.self))) continue;
      if (best === undefined || isCloser(key, node.self.id, best.self.id)) best = node;
    }
    return best === undefined ? "none" : this.nameOf(best.self);
  }
}

/** What each directive printed, in order; an error names the file's line and command. */
export function runScenario(segments: readonly Segment[], file: string): Map<Directive, string> {
  const env = new ScenarioEnv();
  const actual = new Map<Directive, string>();
  for (const segment of segments) {
    if (segment.kind !== "directive") continue;
    const { directive } = segment;
    try {
      actual.set(directive, env.run(directive));
    } catch (error) {
      throw new Error(`${file}:${directive.line}: ${directive.command}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return actual;
}

/** The directives whose output differs from their block (a directive without a block must print nothing). */
export function mismatches(actual: ReadonlyMap<Directive, string>): Directive[] {
  return [...actual].filter(([d, output]) => output !== (d.expected ?? "")).map(([d]) => d);
}
