// Steady application traffic from chosen nodes (every send waits for its end-to-end ack), and the
// judgement of what happened to it against the order of events the test saw.
import { NodeId, isCloser } from "../../../src/routing/id.js";
import type { Delivery, PeerProcess } from "../../integration/harness.js";
import { sleep, table, type ChaosWorld } from "./scenario.js";

export const TRAFFIC_PURPOSE = 16;

export interface SendRecord {
  readonly origin: PeerProcess;
  readonly key: string;
  /** Unique per send: ties a delivery to its send even when the send failed and has no message id. */
  readonly payload: string;
  /** When the send was asked for (ms on the world's clock). */
  readonly sentAt: number;
  doneAt?: number;
  messageId?: string;
  deliveredBy?: string;
  error?: string;
}

export type Disruption = "killed" | "frozen" | "thawed" | "stopped";

/** What happened to which node process when, as the test saw it. */
export class Lifecycle {
  private readonly log = new Map<PeerProcess, { kind: Disruption; at: number }[]>();

  record(peer: PeerProcess, kind: Disruption, at: number): void {
    const entries = this.log.get(peer) ?? [];
    entries.push({ kind, at });
    this.log.set(peer, entries);
  }

  /** When `peer` was first disrupted (killed, frozen or stopped), or undefined if never. */
  firstDisruption(peer: PeerProcess): number | undefined {
    return this.log.get(peer)?.find((e) => e.kind !== "thawed")?.at;
  }

  /** Processes ended on purpose (so their exit is not a crash). */
  ended(peer: PeerProcess): boolean {
    return (this.log.get(peer) ?? []).some((e) => e.kind === "killed" || e.kind === "stopped");
  }

  /**
   * Whether `peer` was down at some time in [from, to]: killed or frozen within it, or frozen before it and
   * not yet thawed at `from` (a message sent to a frozen node waits in its socket and is delivered at thaw).
   */
  failedBetween(peer: PeerProcess, from: number, to: number): boolean {
    const entries = this.log.get(peer) ?? [];
    // The latest freeze or thaw before `from` says whether the node was frozen when the send began.
    const lastBefore = entries
      .filter((e) => e.at < from && (e.kind === "frozen" || e.kind === "thawed"))
      .reduce<{ kind: Disruption; at: number } | undefined>(
        (a, e) => (a === undefined || e.at >= a.at ? e : a),
        undefined,
      );
    if (lastBefore?.kind === "frozen") return true;
    return entries.some((e) => (e.kind === "killed" || e.kind === "frozen") && e.at >= from && e.at <= to);
  }

  events(): { peer: PeerProcess; kind: Disruption; at: number }[] {
    return [...this.log].flatMap(([peer, list]) => list.map((e) => ({ peer, ...e })));
  }
}

export interface TrafficOptions {
  /** Sends per sender at most. */
  readonly perSender: number;
  /** Pause between one sender's sends (each send also waits for its ack). */
  readonly intervalMs: number;
  /** Stop starting new sends after this long. */
  readonly forMs: number;
}

/** Keys are drawn from a fixed list in turn, so a run can be repeated. */
export class Traffic {
  readonly records: SendRecord[] = [];
  private stopped = false;
  private next = 0;

  constructor(
    private readonly world: ChaosWorld,
    private readonly keys: readonly string[],
    private readonly tag: string,
  ) {}

  /** Runs one loop per sender until every loop reached its bound; resolves when all sends settled. */
  async run(senders: readonly PeerProcess[], options: TrafficOptions): Promise<void> {
    const until = this.world.now() + options.forMs;
    await Promise.all(
      senders.map(async (origin) => {
        for (let n = 0; n < options.perSender && !this.stopped && this.world.now() < until; n++) {
          if (origin.exited) return;
          await this.sendOne(origin);
          await sleep(options.intervalMs);
        }
      }),
    );
  }

  stop(): void {
    this.stopped = true;
  }

  /** One send with ack from `origin`; the outcome lands in `records`. */
  async sendOne(origin: PeerProcess, key?: string): Promise<SendRecord> {
    const k = key ?? this.keys[this.next++ % this.keys.length]!;
    const record: SendRecord = {
      origin,
      key: k,
      payload: `${this.tag}-${this.records.length}`,
      sentAt: this.world.now(),
    };
    this.records.push(record);
    try {
      const reply = await origin.send(k, TRAFFIC_PURPOSE, record.payload);
      record.messageId = reply.messageId;
      record.deliveredBy = reply.deliveredBy;
    } catch (error) {
      record.error = error instanceof Error ? error.message : String(error);
    }
    record.doneAt = this.world.now();
    return record;
  }
}

export interface Verdict {
  readonly sent: number;
  readonly acknowledged: number;
  /** Sends (acked or not) delivered at least once. */
  readonly delivered: number;
  /** Extra deliveries of a message already delivered (counted per extra delivery). */
  readonly duplicated: number;
  /** Deliveries made while a settled, undisturbed node was numerically closer to the key. */
  readonly misdelivered: readonly { delivery: Delivery; closer: string }[];
  /**
   * Acknowledged sends not delivered exactly once at the node that acknowledged them, or delivered anywhere
   * else too (except as `redeliveredAfterFailure` allows).
   */
  readonly ackedNotOnce: readonly SendRecord[];
  /**
   * Acknowledged sends delivered once at the acknowledging node and also at a node that was killed or frozen
   * while the send was in flight: that node delivered, then failed before its ack went out, so the origin
   * routed the message to the next owner. Delivery is at most once per node (README), not once overall: a
   * node that dies between delivering and acknowledging cannot tell anyone it delivered.
   */
  readonly redeliveredAfterFailure: readonly SendRecord[];
  /** Sends that failed and were never delivered anywhere. */
  readonly lost: number;
  /** Sends that failed (no ack) although the message was delivered. */
  readonly deliveredUnacked: number;
  /** Messages delivered more than once, with where each delivery happened (for the report). */
  readonly duplicates: readonly { payload: string; at: readonly string[] }[];
}

/**
 * Judges the traffic conservatively: a delivery at X for key K counts as misdelivered only when some node
 * Y strictly closer to K had been ready for `settleMs` before the send started and was neither killed,
 * frozen nor stopped until after the delivery was seen.
 */
export function judge(
  world: ChaosWorld,
  records: readonly SendRecord[],
  lifecycle: Lifecycle,
  settleMs: number,
  /** The nodes a delivery is judged against (e.g. one side of a partition); default every node. */
  among: readonly PeerProcess[] = world.peers,
): Verdict {
  const byPayload = new Map<string, Delivery[]>();
  for (const d of world.deliveries) {
    const list = byPayload.get(d.payload) ?? [];
    list.push(d);
    byPayload.set(d.payload, list);
  }
  let delivered = 0;
  let duplicated = 0;
  let lost = 0;
  let deliveredUnacked = 0;
  const ackedNotOnce: SendRecord[] = [];
  const redeliveredAfterFailure: SendRecord[] = [];
  // A restarted node is a new process under the same ID: the delivery may have been its earlier life's.
  const livesOf = (id: string): PeerProcess[] =>
    [...world.peers, ...among].filter((p) => p.info !== undefined && p.id === id);
  const duplicates: { payload: string; at: string[] }[] = [];
  const misdelivered: { delivery: Delivery; closer: string }[] = [];
  for (const r of records) {
    const ds = byPayload.get(r.payload) ?? [];
    if (ds.length > 0) delivered++;
    duplicated += Math.max(0, ds.length - 1);
    if (ds.length > 1) duplicates.push({ payload: r.payload, at: ds.map((d) => d.at) });
    if (r.messageId !== undefined && r.error === undefined) {
      const atAcker = ds.filter((d) => d.id === r.messageId && d.at === r.deliveredBy);
      const elsewhere = ds.filter((d) => d.id !== r.messageId || d.at !== r.deliveredBy);
      const until = r.doneAt ?? Number.POSITIVE_INFINITY;
      const failedInFlight = (d: Delivery): boolean =>
        d.id === r.messageId && livesOf(d.at).some((p) => lifecycle.failedBetween(p, r.sentAt, until));
      if (atAcker.length !== 1 || !elsewhere.every(failedInFlight)) ackedNotOnce.push(r);
      else if (elsewhere.length > 0) redeliveredAfterFailure.push(r);
    } else if (ds.length === 0) lost++;
    else deliveredUnacked++;
    for (const d of ds) {
      const closer = settledCloser(world, lifecycle, d, r.sentAt - settleMs, among);
      if (closer !== undefined) misdelivered.push({ delivery: d, closer });
    }
  }
  return {
    sent: records.length,
    acknowledged: records.filter((r) => r.messageId !== undefined && r.error === undefined).length,
    delivered,
    duplicated,
    misdelivered,
    ackedNotOnce,
    redeliveredAfterFailure,
    lost,
    deliveredUnacked,
    duplicates,
  };
}

/** Markdown lines detailing a verdict's failures (first few of each kind), for the results file. */
export function verdictDetails(v: Verdict, limit = 5): string[] {
  const short = (id: string): string => id.slice(0, 8);
  const ackedLine = (r: SendRecord): string =>
    `- ${r.payload} key ${short(r.key)} acknowledged by ${short(r.deliveredBy ?? "?")}`;
  const lines: string[] = [];
  if (v.duplicates.length > 0) {
    lines.push("", `Duplicated messages (first ${limit} of ${v.duplicates.length}):`);
    for (const d of v.duplicates.slice(0, limit))
      lines.push(`- ${d.payload} delivered at ${d.at.map(short).join(", ")}`);
  }
  if (v.misdelivered.length > 0) {
    lines.push("", `Misdeliveries (first ${limit} of ${v.misdelivered.length}):`);
    for (const m of v.misdelivered.slice(0, limit))
      lines.push(
        `- ${m.delivery.payload} key ${short(m.delivery.key)} delivered at ${short(m.delivery.at)} (hops ${m.delivery.hops}) while settled node ${short(m.closer)} was closer`,
      );
  }
  if (v.ackedNotOnce.length > 0) {
    lines.push(
      "",
      `Acknowledged but not delivered exactly once there (first ${limit} of ${v.ackedNotOnce.length}):`,
    );
    for (const r of v.ackedNotOnce.slice(0, limit)) lines.push(ackedLine(r));
  }
  if (v.redeliveredAfterFailure.length > 0) {
    lines.push(
      "",
      `Delivered, then the delivering node failed before acknowledging; delivered again at the next owner (first ${limit} of ${v.redeliveredAfterFailure.length}):`,
    );
    for (const r of v.redeliveredAfterFailure.slice(0, limit)) lines.push(ackedLine(r));
  }
  return lines;
}

function settledCloser(
  world: ChaosWorld,
  lifecycle: Lifecycle,
  d: Delivery,
  settledBy: number,
  among: readonly PeerProcess[],
): string | undefined {
  const key = NodeId.fromHex(d.key);
  const at = NodeId.fromHex(d.at);
  const deliveredAt = world.timeOf(d.order);
  for (const y of among) {
    if (y.info === undefined || y.id === d.at || y.readyOrder === undefined) continue;
    if (world.timeOf(y.readyOrder) > settledBy) continue;
    const disrupted = lifecycle.firstDisruption(y);
    if (disrupted !== undefined && disrupted <= deliveredAt) continue;
    if (y.exited && disrupted === undefined) continue;
    if (isCloser(key, NodeId.fromHex(y.id), at)) return y.id;
  }
  return undefined;
}

/** The figures of a verdict as one markdown table row's cells. */
function verdictCells(v: Verdict): (string | number)[] {
  return [
    v.sent,
    v.acknowledged,
    v.delivered,
    v.duplicated,
    v.misdelivered.length,
    v.lost,
    v.deliveredUnacked,
    v.ackedNotOnce.length,
    v.redeliveredAfterFailure.length,
  ];
}

const VERDICT_HEAD = [
  "sent",
  "acknowledged",
  "delivered",
  "duplicated",
  "misdelivered",
  "lost",
  "delivered, unacked",
  "acked but not delivered exactly once",
  "acked, also delivered by a node that then failed",
];

/** The verdicts as a markdown table, a row each; `by` adds a first column naming each row. */
export function verdictTable(
  verdicts: readonly Verdict[],
  by?: { readonly column: string; readonly names: readonly string[] },
): string {
  if (by === undefined) return table(VERDICT_HEAD, verdicts.map(verdictCells));
  return table(
    [by.column, ...VERDICT_HEAD],
    verdicts.map((v, i) => [by.names[i] ?? "", ...verdictCells(v)]),
  );
}
