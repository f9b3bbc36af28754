// Failure detection (MSPastry, Castro et al. DSN 2004, hardened against overload storms): probes, suspects,
// contact times, and the nodes found dead or departed lately.
// Invariants:
// - At most one probe per peer is outstanding. It is sent up to PROBE_ATTEMPTS times, attempt k waiting
//   k * max(probeTimeoutMs, srtt + 4 * rttvar) (capped at 2 failure timeouts); only then is the peer dead.
//   A proximity probe of a node another named, not in our state, is sent once: nothing of ours rests on it.
//   A peer that talked to us meanwhile, or whose message made us probe it, is alive, whatever became of the
//   probe.
// - A probe refused REFUSALS_FOR_DEATH times (nothing listens at the address) ends in death at once.
// - A probe whose connection broke under it is retried soon, as a refused one is: a broken connection
//   says the peer's end went away (a crashed process), not that the peer is slow.
// - First-hand contact clears suspicion, answers a liveness probe and strikes the node from the dead.
// - Every memory is bounded (capacities below) and answers only about a recent window.
// It decides and sends probes; what a verdict means for the leaf set, table and parked hops is the node's.
import { BoundedMap } from "./bounded-map.js";
import type { LeafSet } from "./leaf-set.js";
import type { Outbox } from "./outbox.js";
import type { ProximityStore } from "./proximity.js";
import { RecentTimes } from "./recent-times.js";
import type { Avoid } from "./router.js";
import type { NodeId } from "./id.js";
import type { Millis, NodeInfo, RoutingConfig } from "./types.js";

/** Why a probe is outstanding: a leaf-set candidate (blocks readiness while joining), liveness or proximity. */
export type ProbeKind = "leaf" | "liveness" | "proximity";

export interface OutstandingProbe {
  readonly node: NodeInfo;
  deadline: Millis;
  kind: ProbeKind;
  /** 1 for the first probe; each unanswered attempt is retried until lastAttempt. */
  attempt: number;
  /** PROBE_ATTEMPTS, or 1 for a proximity probe of a node not in our state (see proximityProbe). */
  lastAttempt: number;
  /** Who named the node to us, to be told if it is dead (see namedBy). */
  namedBy?: NodeInfo;
  /**
   * When the peer last talked to us (or acknowledged a call) while the probe was out: it is alive, only
   * slow. Undefined: not heard from (or only before a liveness check merged into the probe asked from then).
   */
  heardAt: Millis | undefined;
  /** Sends of this probe that the transport reported refused (nobody listening at the peer's address). */
  refusals?: number;
}

/** What became of a probe whose deadline passed. */
export type ProbeExpiry = "alive" | "retried" | "dead";

/** Probe attempts, each with its own timeout, before a silent peer is declared dead (MSPastry). */
export const PROBE_ATTEMPTS = 3;
/**
 * A refused connection is not a slow peer: nothing listens at its address. A probe refused this many times
 * in a row, at least REFUSED_PROBE_RETRY_MS apart (the runtime opens a fresh connection for the retry), ends
 * in death at once instead of after its timeouts.
 */
const REFUSALS_FOR_DEATH = 2;
const REFUSED_PROBE_RETRY_MS = 250;
/** Adaptive probe timeouts never exceed this many failure timeouts (a bound, as TCP caps its RTO). */
const MAX_PROBE_TIMEOUT_FAILURE_TIMEOUTS = 2;
/** Direct contact (a message or an acknowledged call) is remembered for this many peers. */
const CONTACT_MEMORY = 1_024;
/** A peer whose proximity probe ended without a round trip is not probed for proximity again this soon. */
const PROXIMITY_PROBE_INTERVAL_MS = 5_000;
const PROXIMITY_PROBE_MEMORY = 512;
/** How many nodes found dead (and nodes departed) are remembered, and how long a death is. */
const RECENTLY_DEAD_CAPACITY = 256;
const DEAD_MEMORY_MS = 60_000;
/** The incarnation of a death told to us of a node not in our state: pushes carry IDs only (see recordToldDeath). */
const ANY_INCARNATION = -1;

/** A death remembered: the incarnation found dead (ANY_INCARNATION: told, of a node not held), and how. */
interface RecordedDeath {
  readonly incarnation: number;
  readonly at: Millis;
  readonly firstHand: boolean;
  /** Pushed to our leaf set and to the node itself, which refutes it if alive (a leaf-set member's). */
  readonly pushed: boolean;
  /** Who told us (ID hex), for a death we did not find ourselves. */
  readonly reporter: string | undefined;
}

export class FailureDetector {
  /** ID hex of peers a send to failed: routed around and probed until contact or a verdict. */
  private readonly suspectSet = new Set<string>();
  /** Changes of suspectSet so far: what depends on the suspects (replica sets) caches on it. */
  private suspectChanges = 0;
  /** The suspects, in the form the router avoids. */
  readonly avoidSuspects: Avoid = { suspects: this.suspectSet, idHex: undefined };
  private readonly probes = new Map<string, OutstandingProbe>();
  /** Last message from each leaf-set member (kept for members only: see pruneLastHeard). */
  private readonly lastHeard = new Map<string, Millis>();
  /** Last direct evidence of life from any peer in our state (a message from it, or an acknowledged call). */
  private readonly lastContact: RecentTimes;
  /** Peers whose proximity probe ended without a round trip (they talked, the reply never came). */
  private readonly unmeasured = new RecentTimes(PROXIMITY_PROBE_INTERVAL_MS, PROXIMITY_PROBE_MEMORY);
  /** ID hex -> the incarnation found dead, when, and whether we found it (else: we were told). */
  private readonly recentlyDead = new BoundedMap<string, RecordedDeath>(RECENTLY_DEAD_CAPACITY);
  /** Nodes that left gracefully (ID hex -> incarnation): a late acknowledgement does not bring them back. */
  private readonly departed = new BoundedMap<string, number>(RECENTLY_DEAD_CAPACITY);

  constructor(
    private readonly config: RoutingConfig,
    private readonly proximity: ProximityStore,
    private readonly outbox: Outbox,
  ) {
    this.lastContact = new RecentTimes(config.failureTimeoutMs, CONTACT_MEMORY);
  }

  get suspects(): ReadonlySet<string> {
    return this.suspectSet;
  }

  /** Grows whenever a peer becomes or stops being a suspect. */
  get suspectsVersion(): number {
    return this.suspectChanges;
  }

  get outstandingProbes(): number {
    return this.probes.size;
  }

  // ---- Probes ----------------------------------------------------------------------------------------

  /** Probes `node` unless a probe to it is out already (that one then takes the stronger kind). */
  probe(
    node: NodeInfo,
    kind: ProbeKind,
    now: Millis,
    joining: boolean,
    lastAttempt: number = PROBE_ATTEMPTS,
    since: Millis = now,
  ): void {
    const existing = this.probes.get(node.id.hex);
    if (existing !== undefined) {
      // A leaf-set probe must block readiness even if a proximity probe was already on its way; a liveness
      // probe must end in a verdict.
      if (kind === "leaf" || existing.kind === "proximity") existing.kind = kind;
      if (kind !== "proximity") existing.lastAttempt = PROBE_ATTEMPTS;
      // A liveness check asks about the peer from now on (a failed send, a broken connection, a death we
      // were told of): contact before it does not answer it. Otherwise a crashed peer whose last message
      // reached us while our leaf-set probe was out could no longer die of that probe: its refusals were
      // ignored and it ended "alive", and the check merged into it with it (a crash stayed in a leaf set
      // for 29 s, until its neighbour's gossip left it out, at 2,000 simulated nodes). A check that asks
      // from an earlier time (`since`: a probe attempt that timed out) is answered by contact after that.
      if (kind === "liveness" && !(existing.heardAt !== undefined && existing.heardAt > since))
        existing.heardAt = undefined;
      return;
    }
    this.probes.set(node.id.hex, {
      node,
      deadline: now + this.probeTimeout(node, 1),
      kind,
      attempt: 1,
      lastAttempt,
      heardAt: undefined,
    });
    this.outbox.send(node, { type: "probe", sentAt: now, joining });
  }

  /**
   * A proximity probe, unless one is out already or the last one ended without a round trip lately.
   * `held`: the node is in our state. One that is not (a candidate another named) gets one attempt, not
   * PROBE_ATTEMPTS: if it is silent we only miss a candidate. Dead nodes still named in others' tables
   * drew three probes each, the largest growth in control traffic as an overlay ages under churn (10,000
   * simulated nodes, 30-minute sessions: probes 0.117 -> 0.148 per node per second from the first 5
   * minutes to the last, their replies only 0.093 -> 0.097).
   */
  proximityProbe(node: NodeInfo, now: Millis, joining: boolean, held: boolean): void {
    if (this.probes.has(node.id.hex) || this.unmeasured.recent(node.id.hex, now) !== undefined) return;
    this.probe(node, "proximity", now, joining, held ? PROBE_ATTEMPTS : 1);
  }

  /**
   * `namer` named `hex` in its routing-table row, or in its whole leaf set: if our proximity probe to it (now
   * out, and of a node not in our state) or our probe of it as a leaf-set candidate finds it dead, `namer`
   * is told (see PastryNode.tellNamer).
   */
  namedBy(hex: string, namer: NodeInfo): void {
    const probe = this.probes.get(hex);
    if (probe === undefined) return;
    if (probe.kind === "leaf" || (probe.kind === "proximity" && probe.lastAttempt === 1))
      probe.namedBy ??= namer;
  }

  probeKind(hex: string): ProbeKind | undefined {
    return this.probes.get(hex)?.kind;
  }

  isProbing(hex: string): boolean {
    return this.probes.has(hex);
  }

  /** Whether a leaf-set probe is outstanding (a joining node is not ready before they all ended). */
  awaitingLeafProbes(): boolean {
    for (const probe of this.probes.values()) if (probe.kind === "leaf") return true;
    return false;
  }

  /** The probe to `hex` is over (answered, or moot): forgets it and returns what it was for. */
  endProbe(hex: string): ProbeKind | undefined {
    const kind = this.probes.get(hex)?.kind;
    this.probes.delete(hex);
    return kind;
  }

  clearProbes(): void {
    this.probes.clear();
  }

  /**
   * How long attempt `attempt` (1-based) waits: max(probeTimeoutMs, srtt + 4 * rttvar) as TCP computes its
   * timeout, times the attempt (a peer on a starved machine answers late, not never).
   */
  probeTimeout(node: NodeInfo, attempt: number): Millis {
    const ceiling = Math.max(
      this.config.probeTimeoutMs,
      MAX_PROBE_TIMEOUT_FAILURE_TIMEOUTS * this.config.failureTimeoutMs,
    );
    // A joiner gets no shorter timeouts: a live member it gave up on too early would leave a hole in its
    // leaf set, and it would deliver that member's keys. The join deadline waits for these probes instead.
    return attempt * this.proximity.timeout(node.id.hex, this.config.probeTimeoutMs, ceiling);
  }

  /** The silence was ours (this node was paused): every outstanding probe waits afresh from `now`. */
  restartProbeClocks(now: Millis): void {
    for (const probe of this.probes.values())
      probe.deadline = now + this.probeTimeout(probe.node, probe.attempt);
  }

  /**
   * A probe to `peer` was refused: it is retried soon. Returns the probe, whose node is to be declared dead,
   * when this was the REFUSALS_FOR_DEATH-th refusal in a row (the probe is over then).
   */
  probeRefused(peer: NodeInfo, now: Millis): OutstandingProbe | undefined {
    const probe = this.probes.get(peer.id.hex);
    if (probe === undefined || probe.heardAt !== undefined || probe.node.incarnation !== peer.incarnation)
      return undefined;
    probe.refusals = (probe.refusals ?? 0) + 1;
    if (probe.refusals >= REFUSALS_FOR_DEATH) {
      this.probes.delete(peer.id.hex);
      return probe;
    }
    probe.deadline = Math.min(probe.deadline, now + REFUSED_PROBE_RETRY_MS);
    return undefined;
  }

  /**
   * The connection a probe to `peer` went out on broke under it (the peer's process died mid-call, or it
   * closed the connection): nothing says the peer is slow, so instead of waiting out the attempt's timeout
   * the next attempt goes REFUSED_PROBE_RETRY_MS from now, on a fresh connection, which a dead process
   * refuses and a live peer answers. Not counted as a refusal: the probe may have arrived.
   */
  probeBroken(peer: NodeInfo, now: Millis): void {
    const probe = this.probes.get(peer.id.hex);
    if (probe === undefined || probe.heardAt !== undefined || probe.node.incarnation !== peer.incarnation)
      return;
    probe.deadline = Math.min(probe.deadline, now + REFUSED_PROBE_RETRY_MS);
  }

  /** The earliest deadline of an outstanding probe (Infinity when none is out). */
  nextProbeDeadline(): Millis {
    let earliest = Number.POSITIVE_INFINITY;
    if (this.probes.size === 0) return earliest;
    for (const probe of this.probes.values()) if (probe.deadline < earliest) earliest = probe.deadline;
    return earliest;
  }

  /** Probes whose deadline has passed, if any (handle each with expire(), in this order). */
  expiredProbes(now: Millis): OutstandingProbe[] | undefined {
    let expired: OutstandingProbe[] | undefined;
    if (this.probes.size === 0) return expired;
    for (const probe of this.probes.values()) {
      if (probe.deadline <= now) (expired ??= []).push(probe);
    }
    return expired;
  }

  /**
   * The verdict on an expired probe: "alive" (the peer talked to us meanwhile; the probe is over), "retried"
   * (the next attempt was sent) or "dead" (the last attempt went unanswered; the probe is over).
   */
  expire(probe: OutstandingProbe, now: Millis, joining: boolean): ProbeExpiry {
    const node = probe.node;
    if (probe.heardAt !== undefined) {
      this.probes.delete(node.id.hex);
      if (probe.kind === "proximity") this.unmeasured.record(node.id.hex, now);
      return "alive";
    }
    if (probe.attempt < probe.lastAttempt) {
      probe.attempt++;
      probe.deadline = now + this.probeTimeout(node, probe.attempt);
      this.outbox.send(node, { type: "probe", sentAt: now, joining });
      return "retried";
    }
    this.probes.delete(node.id.hex);
    return "dead";
  }

  // ---- Suspicion and contact -------------------------------------------------------------------------

  /**
   * A send to `peer` failed: routed around and probed until it talks to us or is found dead. `since`: the
   * time from which contact answers the failure, now unless the caller knows better (a probe attempt that
   * timed out asked only from when it was sent). A peer heard from after that is not suspected at all.
   */
  suspect(peer: NodeInfo, now: Millis, joining: boolean, since: Millis = now): void {
    if (since < now && this.heardSince(peer.id.hex, since, now)) return;
    this.addSuspect(peer.id.hex);
    this.probe(peer, "liveness", now, joining, PROBE_ATTEMPTS, since);
  }

  /** Whether `hex` talked to us after `since`: while our probe of it was out, or as a peer in our state. */
  private heardSince(hex: string, since: Millis, now: Millis): boolean {
    const heardAt = this.probes.get(hex)?.heardAt;
    if (heardAt !== undefined && heardAt > since) return true;
    const contact = this.lastContact.recent(hex, now);
    return contact !== undefined && contact > since;
  }

  /** Routed around without a probe (a leaving node only needs to avoid it). */
  avoid(hex: string): void {
    this.addSuspect(hex);
  }

  private addSuspect(hex: string): void {
    if (this.suspectSet.has(hex)) return;
    this.suspectSet.add(hex);
    this.suspectChanges++;
  }

  private clearSuspect(hex: string): void {
    if (this.suspectSet.size > 0 && this.suspectSet.delete(hex)) this.suspectChanges++;
  }

  /**
   * First-hand evidence that `peer` is alive: no longer suspect, a liveness probe is answered (another probe
   * still wants its reply but can no longer end in a death). `contact`: record the contact time (a peer in
   * our state); `leafMember`: it is in our leaf set. Returns whether it had been found dead (now reinstated).
   */
  noteAlive(peer: NodeInfo, now: Millis, contact: boolean, leafMember: boolean): boolean {
    const hex = peer.id.hex;
    if (contact) this.lastContact.record(hex, now);
    if (leafMember) this.lastHeard.set(hex, now);
    this.clearSuspect(hex);
    this.heardDuringProbe(hex, now);
    return this.recentlyDead.size > 0 && this.recentlyDead.delete(hex);
  }

  /**
   * `hex` talked to us at `now`: a liveness probe of it is answered; any other probe still wants its reply,
   * but can no longer end in a death. Also for a probe its own message made us send (to measure it): a node
   * that talks to us is alive, and the silence of a probe sent once says nothing more under loss.
   */
  heardDuringProbe(hex: string, now: Millis): void {
    const probe = this.probes.size === 0 ? undefined : this.probes.get(hex);
    if (probe === undefined) return;
    if (probe.kind === "liveness") this.probes.delete(hex);
    else probe.heardAt = now;
  }

  recordContact(hex: string, now: Millis): void {
    this.lastContact.record(hex, now);
  }

  /** Whether `hex` talked to us (or acknowledged a call) within the last failure timeout. */
  heardRecently(hex: string, now: Millis): boolean {
    return this.lastContact.recent(hex, now) !== undefined;
  }

  /** A leaf-set member was heard from (or joined the leaf set) at `now`. */
  markHeard(hex: string, now: Millis): void {
    this.lastHeard.set(hex, now);
  }

  /** When the leaf-set member `hex` was last heard from, if known. */
  lastHeardFrom(hex: string): Millis | undefined {
    return this.lastHeard.get(hex);
  }

  /** lastHeard is only kept for leaf-set members; members evicted by nearer nodes are dropped here. */
  pruneLastHeard(leaf: LeafSet): void {
    if (this.lastHeard.size <= leaf.size) return;
    for (const hex of this.lastHeard.keys()) if (!leaf.has(hex)) this.lastHeard.delete(hex);
  }

  /** Whether the leaf-set member `hex` has been silent for a heartbeat interval (it may have died unseen). */
  isQuiet(hex: string, now: Millis): boolean {
    return now - (this.lastHeard.get(hex) ?? 0) >= this.config.heartbeatIntervalMs;
  }

  /** After a death on a side: members there quiet for a heartbeat interval may have died with it. */
  probeQuietMembers(members: readonly NodeInfo[], now: Millis, joining: boolean): void {
    for (const node of members)
      if (this.isQuiet(node.id.hex, now)) this.probe(node, "liveness", now, joining);
  }

  /** `hex` left our state: nothing about it is kept but its death or departure. */
  forget(hex: string): void {
    this.clearSuspect(hex);
    this.lastHeard.delete(hex);
  }

  /** Drops contact and measuring memories past their window (answers do not change). */
  pruneMemories(now: Millis): void {
    this.lastContact.prune(now);
    this.unmeasured.prune(now);
  }

  // ---- Deaths and departures ---------------------------------------------------------------------------

  /**
   * `node` was found dead: by us (`firstHand`), or `reporter` (a leaf-set member) told us. `pushed`: we push
   * the death to our leaf set and to the node (a leaf-set member found dead while ready), so a live one
   * refutes it.
   */
  recordDeath(node: NodeInfo, firstHand: boolean, now: Millis, pushed = false, reporter?: NodeInfo): void {
    this.rememberDeath(node.id.hex, {
      incarnation: node.incarnation,
      at: now,
      firstHand,
      pushed,
      reporter: firstHand ? undefined : reporter?.id.hex,
    });
  }

  /**
   * `reporter` pushed the death of `id`, a node not in our state. Believed as any death heard of (believedDead:
   * a failure timeout), whatever its incarnation, since a push carries IDs only: else a stale leaf set or
   * table row naming it moments later made it a leaf-set candidate, probed for three attempts while it held
   * the candidate slot a live node needed (adjacent crashes, l = 16: a hole for 3 s). A death already
   * known is kept as it is.
   */
  recordToldDeath(id: NodeId, now: Millis, reporter: NodeInfo): void {
    const known = this.recentlyDead.get(id.hex);
    if (known !== undefined && now - known.at < DEAD_MEMORY_MS) return;
    this.rememberDeath(id.hex, {
      incarnation: ANY_INCARNATION,
      at: now,
      firstHand: false,
      pushed: false,
      reporter: reporter.id.hex,
    });
  }

  private rememberDeath(hex: string, death: RecordedDeath): void {
    this.recentlyDead.set(hex, death);
    for (const [key, { at }] of this.recentlyDead.entries()) {
      if (death.at - at < DEAD_MEMORY_MS) return;
      this.recentlyDead.delete(key);
    }
  }

  /**
   * Whether a death of `hex` (any incarnation; pushes carry IDs only), found or heard of, is still remembered:
   * not refuted since (noteAlive forgets it) and younger than DEAD_MEMORY_MS.
   */
  believesDeath(hex: string, now: Millis): boolean {
    const dead = this.recentlyDead.size === 0 ? undefined : this.recentlyDead.get(hex);
    return dead !== undefined && now - dead.at < DEAD_MEMORY_MS;
  }

  /** Whether this incarnation of `node` was found dead lately (by anyone). */
  isDead(node: NodeInfo): boolean {
    return this.recentlyDead.get(node.id.hex)?.incarnation === node.incarnation;
  }

  /** Whether we found this incarnation of `node` dead ourselves. */
  confirmedDead(node: NodeInfo): boolean {
    const dead = this.recentlyDead.get(node.id.hex);
    return dead !== undefined && dead.firstHand && dead.incarnation === node.incarnation;
  }

  /**
   * Whether gossip naming `node` is to be ignored as stale. A death we found and pushed is believed for
   * DEAD_MEMORY_MS: the node itself was told, and refutes it if alive. Any other death (heard of, or found
   * by us but told to nobody: a candidate that never answered, as two neighbours joining together on a
   * loaded machine can each be for the other) only for a failure timeout: nothing else could correct a
   * wrong verdict, and two live neighbours that found each other so, and never talk again, would leave a
   * hole in both leaf sets that their common neighbours' gossip could not close. After that, gossip may
   * name it again, and it is probed before it is taken back. The bound is on time, not on the memory's
   * pruning (which only runs when another death is recorded). A death past DEAD_MEMORY_MS is forgotten
   * here, as gossip may bring the node back into our state: isDead must not then spare it the suspicion
   * and probe a failed send to it gets.
   */
  believedDead(node: NodeInfo, now: Millis): boolean {
    if (this.recentlyDead.size === 0) return false;
    const dead = this.recentlyDead.get(node.id.hex);
    if (dead === undefined || !sameIncarnation(dead.incarnation, node)) return false;
    if (now - dead.at >= DEAD_MEMORY_MS) {
      this.recentlyDead.delete(node.id.hex);
      return false;
    }
    return (dead.firstHand && dead.pushed) || now - dead.at < this.config.failureTimeoutMs;
  }

  /**
   * `reporter` names `node` in a leaf set: if `reporter` is who told us of this incarnation's death, it has
   * taken the node back since (the node refuted it to the reporter first-hand), and its word is newer than
   * the death it told us: the death is forgotten, so the node is probed before it is taken back. The
   * failure-timeout window of believedDead guards against stale leaf sets, sent before their sender knew of
   * the death; the reporter's knew of it.
   */
  retractedBy(node: NodeInfo, reporter: NodeInfo): void {
    if (this.recentlyDead.size === 0) return;
    const dead = this.recentlyDead.get(node.id.hex);
    if (dead?.reporter === reporter.id.hex && sameIncarnation(dead.incarnation, node))
      this.recentlyDead.delete(node.id.hex);
  }

  recordDeparture(node: NodeInfo): void {
    this.departed.set(node.id.hex, node.incarnation);
  }

  /** This incarnation of `node` told us it left: it never comes back (a restart has a new incarnation). */
  hasDeparted(node: NodeInfo): boolean {
    return this.departed.get(node.id.hex) === node.incarnation;
  }
}

/** Whether a death recorded for `incarnation` is `node`'s (a told death of a node not held is any one's). */
function sameIncarnation(incarnation: number, node: NodeInfo): boolean {
  return incarnation === node.incarnation || incarnation === ANY_INCARNATION;
}
