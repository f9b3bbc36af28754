// PastryNode: one Pastry node as a deterministic state machine. Inputs are method calls carrying `now`;
// outputs are collected with takeOutputs(). The protocol as implemented (joins, failure detection, repair,
// retries, leave) is described in docs/protocol.md; each collaborator's file states its own invariants.
//
// This file is the input switch, the queries and the owner of the collaborators (JoinProcess,
// FailureDetector, HopDelivery, LeafSetRepair, TableMaintenance, Outbox), which return decisions and never
// call back. Why it is longer than ~600 lines: every input's effect is sequenced here across collaborators
// (what happens first decides the outputs, and the simulator's results depend on that order), together with
// the glue that needs the whole state: routing a message (route, reroute, hand-off while leaving) and
// learning about peers (plausibility, leaf-set admission, forgetting a node everywhere).
import { closestTo, isCloser, ID_DIGITS, type NodeId } from "./id.js";
import { LeafSet } from "./leaf-set.js";
import { NeighbourhoodSet } from "./neighbourhood-set.js";
import { ProximityStore } from "./proximity.js";
import { routingConfig } from "./config.js";
import { Outbox } from "./outbox.js";
import { RoutingTable } from "./routing-table.js";
import { FailureDetector, type OutstandingProbe, type ProbeKind } from "./failure-detector.js";
import { HopDelivery, type SendFailure } from "./hop-delivery.js";
import { LeafSetRepair } from "./leaf-set-repair.js";
import { NearMisses } from "./near-misses.js";
import { BeyondChecks } from "./beyond-checks.js";
import { SenderListing } from "./maintenance-tuning.js";
import { TableMaintenance } from "./table-maintenance.js";
import { deathNotices } from "./death-notices.js";
import { DeathRechecks } from "./death-rechecks.js";
import { deathPushResend, leaveResend } from "./notice-resends.js";
import { JoinProcess, joinStateFor } from "./join.js";
import {
  assertApplicationPurpose,
  nextHop,
  nextHopAfterFailure,
  type Avoid,
  type RoutingState,
} from "./router.js";
import {
  isNoticedDrop,
  type DropNotice,
  type Millis,
  type NodeInfo,
  type Outbound,
  type Output,
  type PeerMessage,
  type RandomSource,
  type RouteMessage,
  type DropReason,
  type RoutingConfig,
  type Refusal,
  type RoutingEvent,
  type RowEntries,
} from "./types.js";

/** Lifecycle: idle (new, or gave up joining), joining, ready, left. */
export type NodeStatus = "idle" | "joining" | "ready" | "left";

/**
 * The shortest gap nextTickAt() asks for between ticks: what runtimes ticked at before (a quarter of the
 * default heartbeat), short enough for a refused probe's retry (REFUSED_PROBE_RETRY_MS) to go out on time.
 */
const MIN_TICK_GAP_MS = 250;
/** Round-trip measurements are kept for at most this many peers (members of our state are evicted last). */
const RTT_MEMORY = 1_024;
/** A measurement of a peer outside our state is forgotten this long after its last sample. */
const RTT_MEMORY_MS = 60_000;
/** A table entry we find dead is told to at most this many of our nearest neighbours (see death-notices.ts). */
const DEATH_NOTICE_FANOUT = 16;
/** learnAll's choices of which named nodes to measure. */
const NEVER = (): boolean => false;
const ALWAYS = (): boolean => true;
export interface PastryNodeOptions {
  readonly random: RandomSource;
  readonly config?: Partial<RoutingConfig>;
}

export type { SendFailure } from "./hop-delivery.js";

export interface PastrySendOptions {
  readonly wantAck?: boolean;
  /**
   * Allows a reserved purpose (below 16): only the runtime's own services (e.g. call replies) set this;
   * applications never can, since the runtime checks their purposes first.
   */
  readonly reserved?: boolean;
  /**
   * With wantAck: when the sender stops waiting for the message's ack. Its hop to a live next hop that is
   * slow to acknowledge is sent again until then (see HopDelivery), not given up after a fixed count.
   */
  readonly deadline?: Millis;
}

export interface PastryNodeStats {
  readonly routingTableEntries: number;
  /** Nodes in the leaf set now (at most the configured leafSetSize, l). */
  readonly leafSetMembers: number;
  /** Nodes in the neighbourhood set now (at most the configured neighbourhoodSize, M). */
  readonly neighbourhoodMembers: number;
  /** Messages waiting for the node to become ready. */
  readonly pending: number;
  readonly outstandingProbes: number;
  readonly suspects: number;
  readonly delivered: number;
  readonly forwarded: number;
  readonly dropped: number;
  /** Route messages sent around a next hop whose hop failed (cumulative). */
  readonly rerouted: number;
  /** Route hops sent again to the same next hop after a failure (cumulative). */
  readonly hopRetries: number;
  /** Route hops that waited for a liveness verdict on their next hop (cumulative), and those waiting now. */
  readonly hopsParked: number;
  readonly parkedHops: number;
  readonly status: NodeStatus;
}

/** See PastryNode.entryMemo. */
interface StateEntryMemo {
  hex: string | undefined;
  leafVersion: number;
  tableVersion: number;
  neighboursVersion: number;
  entry: NodeInfo | undefined;
  /** The leaf set's entry for `hex` (valid while the leaf set's version is `leafVersion`). */
  leafEntry: NodeInfo | undefined;
}

export class PastryNode {
  readonly self: NodeInfo;
  readonly config: RoutingConfig;
  private readonly random: RandomSource;
  private readonly leaf: LeafSet;
  private readonly table: RoutingTable;
  private readonly neighbours: NeighbourhoodSet;
  private readonly proximity: ProximityStore;
  /** Leaf-set members whose death we pushed, told again a few times later (death-rechecks.ts). */
  private readonly rechecks: DeathRechecks;
  /** How a detour after a failed hop ranks leaf-set members (by proximity when tables are proximity-aware). */
  private readonly detourProximity: (peer: NodeInfo) => number | undefined;
  private readonly state: RoutingState;

  private status: NodeStatus = "idle";
  private readonly outbox: Outbox;
  private messageCounter = 0;

  // The collaborators: each owns one piece of sub-state and its rules, and returns decisions.
  private readonly joinProcess: JoinProcess;
  private readonly detector: FailureDetector;
  private readonly hops: HopDelivery;
  private readonly repair: LeafSetRepair;
  private readonly nearMisses: NearMisses;
  /** Told of our nearest member's death: the members past the finder's reach, held behind the first probed. */
  private readonly beyondChecks: BeyondChecks;
  /** The leaf-set version whose near misses were last checked (see offerNearMisses). */
  private nearMissesAtLeafVersion = -1;
  private readonly maintenance: TableMaintenance;
  /** The time of the input being handled (the rate limits in finishInput need it). */
  private now: Millis = 0;

  private nextHeartbeatAt: Millis = 0;
  /** The leaf set's version when finishInput last told the outbox which peer to watch (-1: never). */
  private watchedAtLeafVersion = -1;
  /** Peers a leaf-set repair request goes to last (suspect or probed); one closure, not one per input. */
  private readonly isBusy = (hex: string): boolean =>
    this.detector.suspects.has(hex) || this.detector.isProbing(hex);
  /** Peers with a probe out (a side whose nearest candidates are all members or probed needs no request). */
  private readonly isProbing = (hex: string): boolean => this.detector.isProbing(hex);
  /**
   * stateEntry's last answer and the versions of the three sets it read: one input asks about its sender
   * several times (incarnation check, plausibility, whether we hold it), most often with nothing changed.
   */
  private readonly entryMemo: StateEntryMemo = {
    hex: undefined,
    leafVersion: -1,
    tableVersion: -1,
    neighboursVersion: -1,
    entry: undefined,
    leafEntry: undefined,
  };
  /** holdsEpoch's count and the removal counts it last saw. */
  private readonly holdsRemovals = { epoch: 0, leaf: -1, table: -1, neighbours: -1, candidates: -1 };
  /** replicaCandidates' answer and the leaf set and suspects it was computed from. */
  private candidates:
    | { readonly leaf: readonly NodeInfo[]; readonly suspects: number; readonly list: readonly NodeInfo[] }
    | undefined;

  constructor(self: NodeInfo, options: PastryNodeOptions) {
    this.self = self;
    this.config = routingConfig(options.config);
    this.outbox = new Outbox(self, () => this.now);
    this.random = options.random;
    this.proximity = new ProximityStore(self, this.config.regionMultiplier, {
      capacity: RTT_MEMORY,
      keep: (hex) => this.holdsHex(hex),
    });
    const proximityOf = (peer: NodeInfo): number | undefined => this.proximity.proximity(peer);
    this.leaf = new LeafSet(self, this.config.leafSetSize);
    this.repair = new LeafSetRepair(self, this.config);
    this.nearMisses = new NearMisses(self, this.config.failureTimeoutMs, this.config.leafSetSize);
    this.beyondChecks = new BeyondChecks(this.config.leafSetSize);
    this.joinProcess = new JoinProcess(self, this.config);
    this.maintenance = new TableMaintenance(self, this.config);
    this.table = new RoutingTable(self, proximityOf, this.config.proximityAware);
    this.neighbours = new NeighbourhoodSet(this.config.neighbourhoodSize, proximityOf);
    this.hops = new HopDelivery(this.config.dedupCapacity, this.config.applicationAcks);
    this.detector = new FailureDetector(this.config, this.proximity, this.outbox);
    this.rechecks = new DeathRechecks(this.config.failureTimeoutMs);
    this.state = { self, leafSet: this.leaf, table: this.table, neighbourhood: this.neighbours };
    this.detourProximity = this.config.proximityAware ? proximityOf : () => undefined;
  }

  // ---- Inputs ----------------------------------------------------------------------------------------

  /** Starts a new overlay with this node as its first member: ready at once. */
  bootstrap(now: Millis): void {
    if (this.status !== "idle") return;
    this.now = now;
    this.becomeReady(now);
    this.finishInput();
  }

  /** Joins through the given seed addresses (tried round-robin, each at most twice). */
  join(seedAddresses: readonly string[], now: Millis): void {
    if (this.status !== "idle") return;
    this.now = now;
    if (seedAddresses.length === 0) {
      this.emitEvent({ type: "joinFailed", reason: "no seed addresses" });
      return;
    }
    const join = this.joinProcess.start(seedAddresses, now, this.random);
    this.status = "joining";
    this.outbox.sendOutbound(join);
    this.finishInput();
  }

  receive(from: NodeInfo, message: PeerMessage, now: Millis): void {
    if (this.status === "left") return this.receiveWhileLeaving(from, message, now);
    if (this.status === "idle") return;
    if (from.id.equals(this.self.id)) return;
    // Before acting on anything: a message read after a pause must not be delivered on a stale view.
    this.detectPause(now);
    this.now = now;
    if (message.type === "probeReply") {
      this.proximity.record(from, now - message.echoSentAt, now);
    }
    this.noteContact(from, message, now);
    switch (message.type) {
      case "join":
        this.onJoin(message.joiner, message.hops);
        break;
      case "joinState":
        this.onJoinState(from, message.rows, message.neighbours, message.leafSet, message.final, now);
        break;
      case "probe":
        this.sendTo(from, {
          type: "probeReply",
          echoSentAt: message.sentAt,
          leafSet: this.leaf.list(),
          ready: this.status === "ready",
          removed: this.repair.deathsToTell(from),
        });
        if (message.joining) this.introduceJoiners(from, now);
        break;
      case "probeReply":
        this.onProbeReply(from, message.leafSet, message.removed, now);
        break;
      case "announce":
        break;
      case "heartbeat":
        this.emitEvent({ type: "heartbeat", from });
        break;
      case "leafSetRequest":
        this.sendTo(from, { type: "leafSet", leafSet: this.leaf.list(), removed: [] });
        break;
      case "leafSet":
        this.onLeafSet(from, message.leafSet, message.removed, now);
        if (message.removed.length === 0) this.answerGhosts(from, message.leafSet, now);
        this.checkListedBy(from, message.leafSet, now, message.removed.length === 0);
        break;
      case "rowRequest":
        if (message.row >= 0 && message.row < ID_DIGITS) {
          const entries = this.table.rowEntries(message.row);
          const rttMs = entries.map((node) => this.proximity.rtt(node));
          this.sendTo(from, { type: "row", row: { row: message.row, entries, rttMs } });
        }
        break;
      case "row":
        this.onRow(from, message.row, now);
        break;
      case "route":
        this.route(message.message);
        break;
      case "ack":
        if (message.undelivered !== undefined) {
          this.onDropNotice(from, message.messageId, message.undelivered);
          break;
        }
        this.hops.noteAcked(message.messageId);
        if (message.refusal !== undefined) {
          this.emitEvent({
            type: "refused",
            messageId: message.messageId,
            refusedBy: from,
            refusal: message.refusal,
          });
        } else {
          this.emitEvent({
            type: "acked",
            messageId: message.messageId,
            deliveredBy: from,
            hops: message.hops,
          });
        }
        break;
      case "leave":
        this.onLeave(from, message.leafSet, now);
        break;
    }
    this.finishInput();
  }

  /** Routes an application message towards `key`; returns its id. Purposes below 16 are reserved. */
  send(key: NodeId, purpose: number, payload: Uint8Array, options: PastrySendOptions, now: Millis): string {
    if (options.reserved !== true) assertApplicationPurpose(purpose);
    this.detectPause(now);
    this.now = Math.max(this.now, now);
    // Unique by construction: the whole node ID (two nodes may share any prefix) and the incarnation.
    const id = `${this.self.id.hex}-${this.self.incarnation.toString(36)}-${this.messageCounter++}`;
    const message: RouteMessage = {
      id,
      key,
      purpose,
      payload,
      origin: this.self,
      hops: 0,
      maxHops: this.config.maxHops,
      wantAck: options.wantAck === true,
    };
    if (message.wantAck) this.hops.noteOwn(message, options.deadline, this.now);
    if (this.status === "left") this.drop(message, "undeliverable");
    else this.route(message);
    this.finishInput();
    return id;
  }

  /**
   * The application took message `messageId` delivered here (config.applicationAcks): its ack goes to the
   * origin now. Unknown ids (never delivered here, already answered, or forgotten) are ignored.
   */
  applicationAcknowledged(messageId: string, now: Millis): void {
    this.answerApplication(messageId, undefined, now);
  }

  /** The application refused message `messageId` delivered here: the origin hears why (see Refusal). */
  applicationRefused(messageId: string, refusal: Refusal, now: Millis): void {
    this.answerApplication(messageId, refusal, now);
  }

  /**
   * The transport could not deliver `out`. `cause` "unreachable" means it surely never arrived (the
   * connection was refused); "broken" that the connection closed under the call, and "unknown" (a timeout),
   * that it may have arrived though no acknowledgement came.
   */
  sendFailed(out: Outbound, now: Millis, cause: SendFailure = "unknown"): void {
    if (this.status === "left") return this.sendFailedWhileLeaving(out, now, cause);
    if (this.status === "idle") return;
    this.now = now;
    const message = out.message;
    if (out.to === undefined) {
      // Only joins go to bare addresses: that seed is unreachable, try the next one now.
      if (message.type === "join" && this.status === "joining") this.retryJoin(now);
      this.finishInput();
      return;
    }
    // A death push that did not get through goes again while it still says something (notice-resends.ts);
    // its receiver is not suspected: a lost push says little about liveness under load.
    if (message.type === "leafSet") {
      if (this.status === "ready") this.resendDeathPush(out, now, cause);
      this.finishInput();
      return;
    }
    // An answer that did not get through is sent again, without suspecting its receiver: under load a lost
    // answer says little about liveness. A joiner without its join state would wait out its join timeout.
    if (message.type === "joinState" || message.type === "ack") {
      if (message.type === "ack") this.resendAck(out, message.messageId);
      else this.resendJoinStateLater(out);
      this.finishInput();
      return;
    }
    // A node already found dead needs no further suspicion (nor a probe): a late failure says nothing new.
    // Unless it is back in our state (gossip may name it again once its death is no longer believed): spared,
    // it stayed the next hop, and a join went to it again and again (the churn property with 3 % loss,
    // fast-check seed 19,019, run 13,748: the overlay never went quiet).
    // A probe attempt that timed out asked only from when it was sent: contact since answers it (a joiner's
    // three attempts to a candidate were all lost while the candidate talked to it, and each late failure
    // undid that contact; it gave up on the live candidate and delivered its keys: the churn property with
    // 3 % loss, fast-check seed 10,010, run 19,961).
    const since = message.type === "probe" && cause === "unknown" ? message.sentAt : now;
    const backInState = this.stateEntry(out.to.id)?.incarnation === out.to.incarnation;
    if (!this.detector.isDead(out.to) || backInState) this.suspect(out.to, now, since);
    if (message.type === "probe" && cause === "unreachable") this.onProbeRefused(out.to, now);
    if (message.type === "probe" && cause === "broken") this.detector.probeBroken(out.to, now);
    if (message.type === "route") this.onHopFailed(out, message.message, cause);
    else if (message.type === "join") this.forwardJoinAgain(message.joiner, message.hops);
    this.finishInput();
  }

  /**
   * The transport got an acknowledgement from `peer` for a call: first-hand proof that it is alive, as good
   * as a message from it. Clears suspicion, satisfies a liveness probe and reinstates a node declared dead.
   */
  heardFrom(peer: NodeInfo, now: Millis): void {
    if (this.status === "idle" || this.status === "left" || peer.id.equals(this.self.id)) return;
    this.now = now;
    // Only the incarnation we called can have answered; an older entry means the peer restarted meanwhile.
    const known = this.stateEntry(peer.id);
    if (this.hasDeparted(peer) || (known !== undefined && known.incarnation !== peer.incarnation)) {
      this.finishInput();
      return;
    }
    // Only a node found dead (reinstated) or a leaf-set candidate being probed is taken into the leaf set on
    // an ack: any other callee may be a joiner still joining, which enters leaf sets through its own probes.
    const hex = peer.id.hex;
    const wasDead = this.detector.isDead(peer);
    const candidate = this.detector.probeKind(hex) === "leaf";
    this.noteAlive(peer, now);
    if (this.status === "ready" && (wasDead || candidate)) {
      this.learnForTable(peer, now, false);
      this.addToLeafSet(peer, now);
    }
    this.finishInput();
  }

  /**
   * The runtime's connection to `peer` broke (its process died, or it closed the connection): a hint, not a
   * verdict. A known peer is probed now rather than after failureTimeoutMs of silence; a refused probe then
   * finds a crashed peer within a fraction of a second, and a live one just answers.
   */
  connectionLost(peer: NodeInfo, now: Millis): void {
    if (this.status !== "ready" || peer.id.equals(this.self.id)) return;
    this.now = now;
    const known = this.stateEntry(peer.id);
    if (known !== undefined && known.incarnation === peer.incarnation) this.probe(known, "liveness", now);
    this.finishInput();
  }

  /**
   * The runtime measured a round trip to `peer` from the acknowledgement of a call (see MEASURED_ACKS). A
   * joiner (its probes were answered here) is ranked by it at once: it probes only once its final join
   * state came, nearly ready, and it announces itself only to the peers it did not measure (becomeReady).
   */
  reportRtt(peer: NodeInfo, rttMs: number, now: Millis): void {
    if (this.status === "idle" || this.status === "left" || peer.id.equals(this.self.id)) return;
    this.now = now;
    this.proximity.record(peer, rttMs, now);
    this.reconsiderForProximity(peer);
    this.finishInput();
  }

  /** Drives timers: join timeout, probe timeouts, heartbeats, successor liveness. */
  tick(now: Millis): void {
    this.detectPause(now);
    this.joinProcess.ticked(now);
    this.now = now;
    this.repair.newTick();
    if (this.status === "joining" && this.joinProcess.timedOut(now)) {
      // A join that has its final state and is only waiting for leaf-set members to answer is progressing:
      // those probes end in a verdict by themselves (bounded attempts), so wait for them rather than restart.
      if (this.joinProcess.finalStateReceived && this.awaitingLeafProbes())
        this.joinProcess.extendDeadline(now);
      else this.retryJoin(now);
    }
    if (this.status === "idle" || this.status === "left") {
      this.finishInput();
      return;
    }
    this.expireProbes(now);
    for (const out of this.joinProcess.takeResends()) this.outbox.sendOutbound(out);
    if (this.status === "ready") {
      this.maintenance.observe(this.leaf.size + this.table.size, now);
      // Gossip first: it goes to the predecessor, and so stands in for a heartbeat due now.
      if (this.repair.gossipDue(now)) {
        const gossip = this.repair.gossip(this.leaf);
        if (gossip !== undefined) this.outbox.sendAll([gossip]);
        this.pruneMemories(now);
      }
      if (now >= this.nextHeartbeatAt) this.heartbeat(now);
      if (this.maintenance.due(now, this.table.size)) {
        this.outbox.sendAll(
          this.maintenance.periodic(this.table, this.neighbours, this.proximity, this.random, now),
        );
      }
      const successor = this.leaf.right()[0];
      if (successor !== undefined) {
        const heard = this.detector.lastHeardFrom(successor.id.hex) ?? now;
        if (now - heard >= this.config.failureTimeoutMs) this.probe(successor, "liveness", now);
      }
      for (const node of this.rechecks.due(now)) {
        if (!this.detector.isDead(node) || this.stateEntry(node.id) !== undefined || this.hasDeparted(node))
          continue;
        this.tellFoundDead(node);
      }
    }
    this.finishInput();
  }

  /**
   * A heartbeat to the predecessor, which watches our silence (any message from us counts as life): none
   * while something else we sent it lately already says we are alive; the next one is then due a heartbeat
   * interval after that message.
   */
  private heartbeat(now: Millis): void {
    const predecessor = this.leaf.left()[0];
    const sentAt = predecessor === undefined ? undefined : this.outbox.sentToWatchedAt(predecessor.id.hex);
    if (sentAt !== undefined && now - sentAt < this.config.heartbeatIntervalMs) {
      this.nextHeartbeatAt = sentAt + this.config.heartbeatIntervalMs;
      return;
    }
    this.nextHeartbeatAt = now + this.config.heartbeatIntervalMs;
    if (predecessor !== undefined) this.sendTo(predecessor, { type: "heartbeat" });
  }

  /**
   * When tick() next has something to do: the earliest of the join deadline, a probe's deadline, the next
   * heartbeat, anti-entropy and table-maintenance rounds, a short side's repair retry, the moment the
   * successor's silence reaches the failure timeout, and (when pushes, repair requests or join states were
   * held back for the next tick) the next tick. A runtime sets one timer for it instead of ticking on a
   * period; a simulator may keep ticking on a period, which this does not change. Never earlier than MIN_TICK_GAP_MS after the last tick (held-back
   * work waits no longer than it did when runtimes ticked every quarter of the default heartbeat, and a
   * deadline a tick cannot move, such as a silent successor already probed, cannot make ticks spin), and
   * never later than a quarter of the pause threshold after it (an input after a gap as long as the pause
   * threshold reads as this node paused, so a late timer must still leave most of it to spare).
   */
  nextTickAt(): Millis {
    if (this.status === "left") return Number.POSITIVE_INFINITY;
    const last = this.joinProcess.lastTick ?? this.now;
    const earliest = last + MIN_TICK_GAP_MS;
    let at = last + this.config.pauseThresholdMs / 4;
    if (this.status === "joining") at = Math.min(at, this.joinProcess.deadlineAt);
    if (this.status !== "idle") {
      at = Math.min(at, this.detector.nextProbeDeadline());
      if (this.joinProcess.resendsWaiting || this.repair.holdsBackWork) return earliest;
    }
    if (this.status === "ready") {
      at = Math.min(
        at,
        this.nextHeartbeatAt,
        this.repair.gossipAt,
        this.repair.retryAt,
        this.maintenance.dueAt,
        this.rechecks.nextAt(),
      );
      const successor = this.leaf.right()[0];
      const heard = successor === undefined ? undefined : this.detector.lastHeardFrom(successor.id.hex);
      if (heard !== undefined) at = Math.min(at, heard + this.config.failureTimeoutMs);
    }
    return Math.max(earliest, at);
  }

  /** Leaves gracefully: every known node is told, with this node's leaf set to repair from. */
  leave(now: Millis): void {
    if (this.status === "left") return;
    this.now = now;
    const wasActive = this.status !== "idle";
    this.status = "left";
    if (wasActive) {
      const leafSet = this.leaf.list();
      const peers = this.knownPeers();
      for (const node of peers) this.sendTo(node, { type: "leave", leafSet });
      // A node just past a far end may hold us at its own (our side held a node it lacks): nothing else
      // tells it we left. Such a holder kept this node 20 s, until its neighbour's gossip (2,000 simulated
      // nodes, 5-minute sessions, seed 1: the longest a departed node stayed in a leaf set).
      for (const node of this.nearMisses.heardLately(now)) {
        if (!peers.some((p) => p.id.equals(node.id))) this.sendTo(node, { type: "leave", leafSet });
      }
    }
    // What this node holds and has not passed on goes to the nodes that take over without it.
    for (const message of this.joinProcess.leave()) this.handOff({ ...message, hops: message.hops + 1 });
    for (const message of this.hops.releaseAllForLeaving()) this.handOff(message);
    this.detector.clearProbes();
    this.finishInput();
  }

  /**
   * After leave: a route hop that still reaches this node (its sender had not yet heard of the leave) is
   * handed on rather than dropped, and an ack for one of its own sends still counts. Nothing else is done.
   */
  private receiveWhileLeaving(from: NodeInfo, message: PeerMessage, now: Millis): void {
    this.now = Math.max(this.now, now);
    if (message.type === "route") {
      if (from.id.equals(this.self.id)) return;
      this.handOff({ ...message.message, hops: message.message.hops + 1 });
    } else if (message.type === "ack" && message.undelivered === undefined) {
      // A drop notice is not acted on: a fresh copy could only be handed on again.
      this.hops.noteAcked(message.messageId);
      this.emitEvent({ type: "acked", messageId: message.messageId, deliveredBy: from, hops: message.hops });
    }
    this.finishInput();
  }

  /**
   * After leave: a hop this node had forwarded (or handed on) failed. Refused or unreachable, it surely did
   * not arrive: it goes to the next choice without that node. Otherwise (it may have arrived) it is sent
   * once more to the same node, as while ready. A second failure after going around drops it, counted
   * ("undeliverable"). An ack that did not get through is sent again, as while ready.
   */
  private sendFailedWhileLeaving(out: Outbound, now: Millis, cause: SendFailure): void {
    this.now = Math.max(this.now, now);
    const message = out.message;
    if (message.type === "ack") this.resendAck(out, message.messageId);
    if (message.type === "leave") {
      // A holder that misses the notice keeps this node until its own checks (notice-resends.ts).
      const resend = leaveResend(out, cause, (node) => this.isLeafMember(node));
      if (resend !== undefined) this.outbox.sendOutbound(resend);
    }
    if (message.type === "route" && out.to !== undefined) {
      const decision = this.hops.hopFailedWhileLeaving(message.message, cause);
      if (decision !== "ignore") this.detector.avoid(out.to.id.hex);
      if (decision === "drop") this.drop(message.message, "undeliverable");
      else if (decision === "handOff") this.handOff(message.message);
      else if (decision === "resend") this.sendHopAgain(this.hops.retransmission(out));
    }
    this.finishInput();
  }

  /**
   * While leaving: `message` goes to its next hop as if this node were gone, i.e. to the node that owns
   * its key once this node has left when it would have been delivered here. Dropped ("undeliverable",
   * counted) only when no live node is known.
   */
  private handOff(message: RouteMessage): void {
    const next =
      nextHop(this.state, message.key, this.detector.avoidSuspects) ?? this.ownerWithoutSelf(message.key);
    if (next === undefined) {
      this.drop(message, "undeliverable");
      return;
    }
    if (message.hops > message.maxHops) {
      this.drop(message, "ttl");
      return;
    }
    this.forward(message, next);
  }

  /** The leaf-set member (never this node, never a suspect) closest to `key`. */
  private ownerWithoutSelf(key: NodeId): NodeInfo | undefined {
    let best: NodeInfo | undefined;
    for (const node of this.leaf.members()) {
      if (this.detector.suspects.has(node.id.hex)) continue;
      if (best === undefined || isCloser(key, node.id, best.id)) best = node;
    }
    return best;
  }

  takeOutputs(): Output[] {
    return this.outbox.take();
  }

  // ---- Queries ---------------------------------------------------------------------------------------

  isReady(): boolean {
    return this.status === "ready";
  }

  leafSet(): { left: NodeInfo[]; right: NodeInfo[] } {
    return { left: [...this.leaf.left()], right: [...this.leaf.right()] };
  }

  routingTable(): ReadonlyArray<ReadonlyArray<NodeInfo | undefined>> {
    return this.table.snapshot();
  }

  neighbourhood(): NodeInfo[] {
    return [...this.neighbours.members()];
  }

  /** Every node in leaf set, table or neighbourhood, once. */
  knownPeers(): NodeInfo[] {
    const byHex = new Map<string, NodeInfo>();
    for (const node of this.leaf.members()) byHex.set(node.id.hex, node);
    for (const node of this.table.entries()) byHex.set(node.id.hex, node);
    for (const node of this.neighbours.members()) byHex.set(node.id.hex, node);
    return [...byHex.values()];
  }

  /** The node this node believes closest to `key` (possibly itself), suspects excluded. */
  owner(key: NodeId): NodeInfo {
    const suspects = this.detector.suspects;
    if (this.leaf.inRange(key)) return this.leaf.closest(key, suspects);
    const candidates = this.knownPeers().filter((n) => !suspects.has(n.id.hex));
    candidates.push(this.self);
    return closestTo(key, candidates) ?? this.self;
  }

  /** The k nodes closest to `key` among self and the leaf set, closest first (exact for k <= l/2 + 1). */
  replicas(key: NodeId, k: number): NodeInfo[] {
    const candidates = [...this.replicaCandidates()];
    candidates.sort((a, b) => (isCloser(key, a.id, b.id) ? -1 : isCloser(key, b.id, a.id) ? 1 : 0));
    return candidates.slice(0, Math.max(0, k));
  }

  /**
   * What replica sets are chosen from: this node and its leaf set, suspects left out. The same frozen array
   * until one of those changes (a leaf-set change, a suspicion raised or cleared), a new array then: a cache
   * of replica sets keyed on it is never stale, whatever event changed the view or failed to be reported.
   */
  replicaCandidates(): readonly NodeInfo[] {
    const leaf = this.leaf.list();
    const suspectsVersion = this.detector.suspectsVersion;
    const cached = this.candidates;
    if (cached !== undefined && cached.leaf === leaf && cached.suspects === suspectsVersion)
      return cached.list;
    const suspects = this.detector.suspects;
    const list = [this.self, ...leaf].filter((n) => !suspects.has(n.id.hex));
    // A suspicion outside the leaf set leaves the candidates as they were: the same array.
    const same =
      cached !== undefined &&
      cached.list.length === list.length &&
      cached.list.every((n, i) => n === list[i]);
    const kept = same ? cached.list : Object.freeze(list);
    this.candidates = { leaf, suspects: suspectsVersion, list: kept };
    return kept;
  }

  stats(): PastryNodeStats {
    return {
      routingTableEntries: this.table.size,
      leafSetMembers: this.leaf.size,
      neighbourhoodMembers: this.neighbours.size,
      pending: this.joinProcess.heldMessages,
      outstandingProbes: this.detector.outstandingProbes,
      suspects: this.detector.suspects.size,
      ...this.hops.counts(),
      status: this.status,
    };
  }

  // ---- Join ------------------------------------------------------------------------------------------

  private retryJoin(now: Millis): void {
    const join = this.joinProcess.retry(now);
    if (join !== undefined) {
      this.outbox.sendOutbound(join);
      return;
    }
    this.status = "idle";
    this.detector.clearProbes();
    for (const message of this.joinProcess.giveUp()) this.drop(message, "undeliverable");
    this.emitEvent({
      type: "joinFailed",
      reason: `no join completed through ${this.joinProcess.seedCount} seed(s), each tried twice`,
    });
  }

  /** A ready node on the join route answers the joiner and passes the join on. */
  private onJoin(joiner: NodeInfo, hops: number): void {
    if (joiner.id.equals(this.self.id)) return;
    if (this.status !== "ready") {
      if (this.status === "joining") this.joinProcess.holdJoin(joiner, hops);
      return;
    }
    const avoid: Avoid = { suspects: this.detector.suspects, idHex: joiner.id.hex };
    const next = hops + 1 > this.config.maxHops ? undefined : nextHop(this.state, joiner.id, avoid);
    const state = { table: this.table, neighbours: this.neighbours, leaf: this.leaf };
    this.sendTo(joiner, joinStateFor(this.self, state, joiner, hops, next === undefined));
    if (next !== undefined) this.sendTo(next, { type: "join", joiner, hops: hops + 1 });
  }

  /** The hop towards `next` failed: pass the join on through the next best hop instead. */
  private forwardJoinAgain(joiner: NodeInfo, hops: number): void {
    if (this.status !== "ready") return;
    const next = nextHop(this.state, joiner.id, { suspects: this.detector.suspects, idHex: joiner.id.hex });
    if (next !== undefined) this.sendTo(next, { type: "join", joiner, hops });
    else this.onJoin(joiner, hops);
  }

  private onJoinState(
    from: NodeInfo,
    rows: readonly RowEntries[],
    neighbours: readonly NodeInfo[],
    leafSet: readonly NodeInfo[],
    final: boolean,
    now: Millis,
  ): void {
    if (this.status !== "joining") return;
    for (const row of rows) for (const node of row.entries) this.learnSecondHand(node, now, true);
    for (const node of neighbours) this.learnSecondHand(node, now, true);
    if (!final) return;
    for (const node of this.joinProcess.finalStateArrived())
      if (this.isPlausible(node)) this.proximityProbe(node, now);
    this.probe(from, "leaf", now);
    this.learnAll(leafSet, now);
    this.checkJoinComplete(now);
  }

  private checkJoinComplete(now: Millis): void {
    if (this.status !== "joining" || !this.joinProcess.finalStateReceived) return;
    if (this.awaitingLeafProbes()) return;
    if (this.leaf.size === 0 && !this.joinProcess.revalidating) {
      // Every node named in the final state died before answering: start over through the next seed.
      this.retryJoin(now);
      return;
    }
    this.becomeReady(now);
  }

  private awaitingLeafProbes(): boolean {
    return this.detector.awaitingLeafProbes();
  }

  private detectPause(now: Millis): void {
    if (this.joinProcess.pausedUntil(now, this.status === "ready")) this.revalidate(now);
  }

  /**
   * This node was paused for longer than its peers wait before declaring a node dead: they may have routed
   * around it, and what it knows of them is stale. It re-confirms its leaf set as a joining node does (its
   * probes say "joining", so a member that dropped it takes it back), holding whatever it would deliver or
   * forward meanwhile, and is ready again once every member answered or was found dead.
   */
  private revalidate(now: Millis): void {
    this.status = "joining";
    this.joinProcess.beginRevalidation(now);
    // The silence was ours, not theirs: outstanding probes and silence timers start again from now.
    this.detector.restartProbeClocks(now);
    for (const member of this.leaf.members()) {
      this.detector.markHeard(member.id.hex, now);
      this.probe(member, "leaf", now);
    }
    this.checkJoinComplete(now);
  }

  private becomeReady(now: Millis): void {
    this.status = "ready";
    const held = this.joinProcess.ready();
    this.nextHeartbeatAt = now;
    this.repair.startGossip(now);
    // A random first phase: nodes that became ready together must not all ask at the same moments.
    this.maintenance.start(now, this.random);
    this.emitEvent({ type: "ready" });
    this.repair.markChanged();
    const told = new Set<string>();
    for (const node of this.table.entries()) this.announceTo(node, told);
    for (const node of this.neighbours.members()) this.announceTo(node, told);
    if (this.config.proximityAware) {
      this.outbox.sendAll(this.maintenance.nearerRows(this.neighbours, this.table, this.proximity, this.now));
    }
    for (const message of held.messages) this.route(message);
    for (const { joiner, hops } of held.joins) this.onJoin(joiner, hops);
  }

  /**
   * Two nodes joining side by side at the same time can each be told a leaf set that predates the other.
   * A member that gets a joining probe therefore tells the other recent joiners in its leaf set about the
   * new one (a `leafSet` push naming only the new joiner; they probe it before taking it in). The new joiner
   * learns of the earlier ones from this member's probe reply, which names its whole leaf set. Only
   * concurrent joins cost anything.
   */
  private introduceJoiners(joiner: NodeInfo, now: Millis): void {
    if (this.status !== "ready" || !this.leaf.has(joiner.id.hex)) return;
    const leafSet = [joiner];
    for (const member of this.joinProcess.joinersToIntroduce(joiner, this.leaf, now)) {
      this.sendTo(member, { type: "leafSet", leafSet, removed: [] });
    }
  }

  /**
   * `node` is told we are ready and takes us in, unless we measured it or are probing it: one round trip
   * measures both ends (MEASURED_ACKS), and it ranks us by its measurement at once (reportRtt). Announcing
   * to those too was 0.021 of 0.612 control messages per node per second at 10,000 simulated nodes.
   */
  private announceTo(node: NodeInfo, told: Set<string>): void {
    if (told.has(node.id.hex)) return;
    if (this.proximity.proximity(node) !== undefined || this.detector.isProbing(node.id.hex)) return;
    told.add(node.id.hex);
    this.sendTo(node, { type: "announce" });
  }

  // ---- Routing -----------------------------------------------------------------------------------------

  private route(message: RouteMessage): void {
    if (this.status !== "ready") {
      this.enqueue(message);
      return;
    }
    const next =
      nextHop(this.state, message.key, this.detector.avoidSuspects) ?? this.suspectedOwner(message.key);
    if (next === undefined) {
      this.deliver(message);
      return;
    }
    if (message.hops + 1 > message.maxHops) {
      this.drop(message, "ttl");
      return;
    }
    this.forward({ ...message, hops: message.hops + 1 }, next);
  }

  /**
   * A route hop was not acknowledged, yet it may have arrived (a call timing out on a loaded machine), and
   * routing around the node could then deliver the message at a second node. So the first failure sends the
   * same hop again to the same node (if both copies arrive, the destination's dedup drops one); a further
   * failure waits for the liveness probe's verdict on that node: alive, the hop goes to it again; dead, the
   * message is routed around it. A live node is given the hop until the message's retry window ends (see
   * HopDelivery); then it is dropped "unacknowledged". A sure failure after routing around MAX_REROUTES times
   * drops it ("undeliverable"); a node already found dead is routed around at once.
   */
  private onHopFailed(out: Outbound, message: RouteMessage, cause: SendFailure): void {
    const to = out.to as NodeInfo;
    const ready = this.status === "ready";
    switch (this.hops.hopFailed(out, message, cause, ready, this.detector.confirmedDead(to), this.now)) {
      case "drop":
        this.drop(message, "undeliverable");
        break;
      case "giveUp":
        this.drop(message, "unacknowledged");
        break;
      case "reroute":
        this.reroute(message, to);
        break;
      case "resend":
        this.sendHopAgain(this.hops.retransmission(out));
        break;
      case "park":
        if (!this.detector.isProbing(to.id.hex)) this.probe(to, "liveness", this.now);
        break;
      case "ignore":
        break;
    }
  }

  /** The verdict on a node that route hops wait for: resend them to it (alive) or route around it. */
  private releaseParked(hex: string, alive: boolean): void {
    const resend = alive && this.status === "ready";
    for (const out of this.hops.releaseParked(hex, resend)) {
      if (resend) this.sendHopAgain(out);
      else if (out.message.type === "route") this.reroute(out.message.message);
    }
  }

  /**
   * When this node would deliver only because the key's owner in its leaf set is suspect: that owner. A
   * suspect is not dead; delivering here could deliver the message at a second node, so it goes to the owner
   * and a failure there waits for the probe's verdict (onHopFailed). `routedAround`: the node a detour
   * leaves out (its hop surely failed), which is never the answer.
   */
  private suspectedOwner(key: NodeId, routedAround?: NodeInfo): NodeInfo | undefined {
    if (this.detector.suspects.size === 0 || !this.leaf.inRange(key)) return undefined;
    const owner = this.leaf.closest(key, undefined, routedAround?.id.hex);
    return owner === this.self ? undefined : owner;
  }

  /** An end-to-end ack did not go through (if the runtime reports it): send it again, a bounded number of times. */
  /** Sent again on the next tick (the transport may need a moment for a fresh connection), a few times. */
  private resendJoinStateLater(out: Outbound): void {
    this.joinProcess.resendLater(out);
  }

  private resendDeathPush(out: Outbound, now: Millis, cause: SendFailure): void {
    const resend = deathPushResend(out, cause, {
      isMember: (node) => this.isLeafMember(node),
      believesDead: (id) => this.detector.believesDeath(id.hex, now),
      leafSet: () => this.leaf.list(),
    });
    if (resend !== undefined) this.outbox.sendOutbound(resend);
  }

  /** Whether this incarnation of `node` is in our leaf set. */
  private isLeafMember(node: NodeInfo): boolean {
    return this.leaf.get(node.id.hex)?.incarnation === node.incarnation;
  }

  private resendAck(out: Outbound, messageId: string): void {
    if (this.hops.retryAck(messageId)) this.outbox.sendOutbound(out);
  }

  /**
   * The hop to the previous next node (`routedAround`, when it is still in our state) failed for good: take
   * the next best. As in route(), a suspect that owns the key once that node is left out gets the message
   * rather than this node delivering it (a refused hop to a leaving owner otherwise delivered here while its
   * live, merely suspected, neighbour was closer).
   */
  private reroute(message: RouteMessage, routedAround?: NodeInfo): void {
    this.hops.countRerouted();
    if (this.status !== "ready") {
      this.enqueue(message);
      return;
    }
    const next =
      nextHopAfterFailure(
        this.state,
        message.key,
        this.detector.avoidSuspects,
        this.detourProximity,
        // Only the first detour may take a table entry: the second goes to a watched leaf-set member.
        this.hops.reroutesOf(message.id) <= 1 ? this.measured : NEVER,
      ) ?? this.suspectedOwner(message.key, routedAround);
    if (next === undefined) this.deliver(message);
    else this.forward(message, next);
  }

  private forward(message: RouteMessage, next: NodeInfo): void {
    this.hops.countForwarded();
    this.outbox.forward(this.hops.stampCopy(message), next);
  }

  /** A route hop sent again as it was (to the same node): a new copy, when the message is our own. */
  private sendHopAgain(out: Outbound): void {
    if (out.message.type !== "route") return this.outbox.sendOutbound(out);
    const message = this.hops.stampCopy(out.message.message);
    this.outbox.sendOutbound(
      message === out.message.message ? out : { ...out, message: { type: "route", message } },
    );
  }

  /**
   * A node on the way dropped a copy of our message (a drop notice). It fails the send only when no copy we
   * sent can still be on its way and the fresh copies are spent (HopDelivery.dropNoticed); meanwhile the
   * last pending copy's notice sends a fresh copy from here, with this node's current view.
   */
  private onDropNotice(from: NodeInfo, messageId: string, notice: DropNotice): void {
    const decision = this.hops.dropNoticed(messageId, notice.copy);
    if (decision.kind === "freshCopy") this.route(decision.message);
    else if (decision.kind === "undelivered")
      this.emitEvent({ type: "undelivered", messageId, droppedBy: from, reason: notice.reason });
  }

  private deliver(message: RouteMessage): void {
    const arrival = this.hops.arrive(message, message.origin.id.equals(this.self.id));
    if (arrival.duplicate) {
      this.drop(message, "duplicate");
      if (arrival.ackAgain) {
        const refusal = arrival.refusal;
        this.sendTo(message.origin, {
          type: "ack",
          messageId: message.id,
          hops: message.hops,
          ...(refusal === undefined ? {} : { refusal }),
        });
      }
      return;
    }
    this.outbox.deliver(message);
    if (arrival.ackNow) this.sendAck(message.id, message.origin, message.hops, undefined);
  }

  private answerApplication(messageId: string, refusal: Refusal | undefined, now: Millis): void {
    const waiting = this.hops.answer(messageId, refusal);
    if (waiting === undefined) return;
    this.now = Math.max(this.now, now);
    this.sendAck(messageId, waiting.origin, waiting.hops, refusal);
    this.finishInput();
  }

  /** The end-to-end answer for a message delivered here: an ack to its origin, or an event when that is us. */
  private sendAck(messageId: string, origin: NodeInfo, hops: number, refusal: Refusal | undefined): void {
    if (origin.id.equals(this.self.id)) {
      this.emitEvent(
        refusal === undefined
          ? { type: "acked", messageId, deliveredBy: this.self, hops }
          : { type: "refused", messageId, refusedBy: this.self, refusal },
      );
    } else {
      this.sendTo(origin, {
        type: "ack",
        messageId,
        hops,
        ...(refusal === undefined ? {} : { refusal }),
      });
    }
  }

  private enqueue(message: RouteMessage): void {
    if (!this.joinProcess.hold(message)) this.drop(message, "queue_full");
  }

  private drop(message: RouteMessage, reason: DropReason): void {
    this.hops.countDropped();
    this.emitEvent({ type: "dropped", message, reason });
    // Its origin waits for an ack it would otherwise wait out its deadline for: tell it which copy went no
    // further (a numbered copy: the origin takes notices). Our own drops are reported by the event above.
    const copy = message.copy ?? 0;
    if (!message.wantAck || copy === 0 || message.origin.id.equals(this.self.id)) return;
    if (!isNoticedDrop(reason)) return;
    this.sendTo(message.origin, {
      type: "ack",
      messageId: message.id,
      hops: message.hops,
      undelivered: { copy, reason },
    });
  }

  // ---- Learning about peers ------------------------------------------------------------------------------

  /** Every message is first-hand evidence that `from` is alive, and may make it a candidate for our state. */
  private noteContact(from: NodeInfo, message: PeerMessage, now: Millis): void {
    // A leaver's messages sent before its leave notice may arrive after it (other calls, other streams):
    // they prove nothing about its life, and taking it back would keep a ghost in the leaf set in place of
    // the live node beyond it. What they carry (a route hop it hands on, an ack) is still handled.
    if (this.hasDeparted(from)) return;
    this.replaceOldIncarnation(from);
    this.noteAlive(from, now, false);
    this.learnFromContact(from, message, now);
    // A probe that learning sent it (a proximity probe, sent once to a node not in our state) is answered as
    // to its life by this message. Its lost reply alone made a node that had just pushed its leaf set to us
    // dead to us for the failure timeout; the repair answer that named it then was ignored, and it was missing
    // from our leaf set for 25 s (2,000 simulated nodes, 3 % loss).
    this.detector.heardDuringProbe(from.id.hex, now);
    // Recorded after learning, so that a peer just taken into our state has its contact time too.
    if (this.holds(from)) this.detector.recordContact(from.id.hex, now);
  }

  private learnFromContact(from: NodeInfo, message: PeerMessage, now: Millis): void {
    // A joiner talking to its seed and a leaver saying goodbye are not candidates for our state.
    if (message.type === "leave") return;
    if (message.type === "join" && message.joiner.id.equals(from.id)) return;
    // Not measured: a prober (our reply's acknowledgement gives its round-trip time, see MEASURED_ACKS; a
    // joiner's probes so measure it before it announces itself), nor the sender of a route hop or an ack
    // (any node may be a message's first hop: a probe per new sender was 3.5 probes per message sent; table
    // maintenance measures the candidates that matter).
    const measure = message.type !== "probe" && message.type !== "route" && message.type !== "ack";
    this.learnForTable(from, now, measure);
    // While joining, the leaf set is built from probes and their answers only: a concurrent joiner's probe is
    // first-hand evidence too, and taking it in keeps two adjacent joiners from missing each other.
    if (this.status === "ready" || message.type === "probeReply" || message.type === "probe") {
      this.addToLeafSet(from, now);
    }
  }

  /**
   * First-hand evidence that `peer` is alive (a message from it, or an acknowledged call to it): it is no
   * longer suspect, an outstanding liveness probe is answered, and if we had found it dead it is reinstated.
   * `recordContact`: false when the caller records the contact time itself, after learning from it.
   */
  private noteAlive(peer: NodeInfo, now: Millis, recordContact = true): void {
    const hex = peer.id.hex;
    // Contact times only matter for peers in our state (gossip that they died is checked against them).
    const contact = recordContact && this.holds(peer);
    const wasDead = this.detector.noteAlive(peer, now, contact, this.leafHolds(hex));
    if (this.hops.parkedHops > 0) this.releaseParked(hex, true);
    if (!wasDead) return;
    this.reinstate(hex);
    // We pushed its death, and the members we told may still believe it; told itself, it refutes it to them.
    if (this.rechecks.settle(hex) && this.status === "ready") this.tellFoundDead(peer);
  }

  /** Tells `node` that we found it dead (our push again, to it alone): a live node refutes it to its leaf set. */
  private tellFoundDead(node: NodeInfo): void {
    this.sendTo(node, { type: "leafSet", leafSet: this.leaf.list(), removed: [node.id] });
  }

  /** New evidence wins over an earlier verdict: a node we found dead has talked to us directly. */
  private reinstate(hex: string): void {
    this.repair.reinstate(hex);
  }

  /** A known ID seen first-hand with another incarnation: the node restarted; drop the old one everywhere. */
  private replaceOldIncarnation(from: NodeInfo): void {
    const hex = from.id.hex;
    const old = this.stateEntry(from.id);
    if (old === undefined || old.incarnation === from.incarnation) return;
    this.forget(old, false);
    this.detector.endProbe(hex);
    this.releaseParked(hex, false);
  }

  /**
   * A node learnt second-hand: table and neighbourhood directly; leaf set only after it answers a probe.
   * `measure`: probe it for proximity when it competes for a table slot. Not for nodes named in leaf sets:
   * every reply names l more nodes, and measuring them all would make a join probe the whole overlay.
   */
  private learn(node: NodeInfo, now: Millis, measure = false): void {
    if (this.offerAsCandidate(node, now, measure)) this.probeCandidate(node, now);
  }

  /**
   * learn() for each of `nodes` as one batch: all are offered first, and only the leaf-set candidates still
   * among the nearest once all are in are probed. One at a time, a leaf set listed from its far end had each
   * node nearer than the last probed in turn: half the leaf-set probes after a leave or a death's push ended
   * with the node outside the leaf set (2,000 simulated nodes, 30-minute sessions: control 0.714 -> 0.656
   * messages per node per second). `measure` decides per node, before it is offered. Indexed loops: gossip
   * names about l nodes per message, and a for-of over these (frozen, shared) arrays allocated an iterator
   * result per node.
   */
  private learnAll(
    nodes: readonly NodeInfo[],
    now: Millis,
    measure: (node: NodeInfo) => boolean = NEVER,
  ): void {
    let offered: NodeInfo[] | undefined;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as NodeInfo;
      if (this.offerAsCandidate(node, now, measure(node))) (offered ??= []).push(node);
    }
    if (offered === undefined) return;
    for (let i = 0; i < offered.length; i++) {
      const node = offered[i] as NodeInfo;
      if (this.repair.isCandidate(node.id.hex)) this.probeCandidate(node, now);
    }
  }

  /**
   * Offers a plausible `node` to the table and neighbourhood set and, where it fits, to the leaf-set
   * candidates; whether it is among the nearest candidates (to be probed), including one that answered
   * earlier while the side was full (it is still in the candidate set, and would be refused forever if only
   * new ones counted).
   */
  private offerAsCandidate(node: NodeInfo, now: Millis, measure: boolean): boolean {
    if (!this.isPlausible(node)) return false;
    this.offerSecondHand(node, now, measure);
    // leaf.wouldAccept(node), its look-up answered by stateEntry's memo (isPlausible ruled out self).
    if (this.leafHolds(node.id.hex) || !this.leaf.fits(node)) return false;
    return this.repair.offerCandidate(node);
  }

  /**
   * A leaf-set candidate is probed. A proximity probe already on its way is made a leaf-set probe: only
   * those hold a joiner's readiness, and a joiner whose proximity probe went unanswered must not be ready
   * without that member.
   */
  private probeCandidate(node: NodeInfo, now: Millis): void {
    const outstanding = this.detector.probeKind(node.id.hex);
    if (outstanding === undefined || outstanding === "proximity") this.probe(node, "leaf", now);
  }

  private learnForTable(node: NodeInfo, now: Millis, measure: boolean): void {
    if (this.isPlausible(node)) this.offerToTable(node, now, measure);
  }

  /** learnForTable for a node another named (not yet heard from itself): see offerSecondHand. */
  private learnSecondHand(node: NodeInfo, now: Millis, measure: boolean): void {
    if (this.isPlausible(node)) this.offerSecondHand(node, now, measure);
  }

  /**
   * A plausible node named by another. With verifyLearnedNodes it is probed rather than taken in: its own
   * answer (learnFromContact, or its round-trip time) brings it into the table, so an ID nobody answers
   * for, or only someone else answers for, never gets there. One already in our state is offered again.
   */
  private offerSecondHand(node: NodeInfo, now: Millis, measure: boolean): void {
    // Already in our state (its incarnation checked by isPlausible): it answered for itself before. Looked
    // up only when it matters: this runs for every node named in every leaf set heard.
    if (!this.config.verifyLearnedNodes || this.stateEntry(node.id) !== undefined)
      return this.offerToTable(node, now, measure);
    if (this.status !== "left") this.proximityProbe(node, now);
  }

  /** learnForTable for a node already found plausible (gossip names dozens per message: checked once). */
  private offerToTable(node: NodeInfo, now: Millis, measure: boolean): void {
    // Looked up once for the table, the measuring decision and the neighbourhood set: nothing between them
    // records a round-trip time (a probe sent here is only answered by a later input).
    const proximity = this.proximity.proximity(node);
    this.table.insertMeasured(node, proximity);
    // Also when already present: a joiner taken in from its probe is measured once it announces itself.
    if (measure && this.config.proximityAware && proximity === undefined && this.status !== "left") {
      this.proximityProbe(node, now);
    }
    this.neighbours.insertMeasured(node, proximity);
  }

  /** This incarnation of `node` told us it left: it never comes back (a restart has a new incarnation). */
  private hasDeparted(node: NodeInfo): boolean {
    return this.detector.hasDeparted(node);
  }

  /** Not self, not known under another incarnation, not recently found dead, not departed. */
  private isPlausible(node: NodeInfo): boolean {
    if (node.id.equals(this.self.id) || this.hasDeparted(node)) return false;
    const known = this.stateEntry(node.id);
    if (known !== undefined && known.incarnation !== node.incarnation) return false;
    // A death we only heard of is believed briefly (stale leaf sets during repair cannot resurrect the node).
    return !this.detector.believedDead(node, this.now);
  }

  private addToLeafSet(node: NodeInfo, now: Millis): void {
    const leftWasShort = this.leaf.left().length < this.leaf.half;
    const rightWasShort = this.leaf.right().length < this.leaf.half;
    // Named to us among the nearest we know (a leave notice, a push, an answer): the leaf set that named it
    // named the nodes before it too, and those are candidates already.
    const named = this.repair.isCandidate(node.id.hex);
    if (!this.leaf.insert(node)) {
      // Heard first-hand but beyond both far ends: remembered in case a side is refilled past it.
      if (this.status === "ready" && !this.leafHolds(node.id.hex)) this.nearMisses.record(node, now);
      return;
    }
    // A node filling a hole at the far end of a side may have come in ahead of nearer nodes nobody has
    // named yet (found first-hand, or gossip raced a dead candidate): its leaf set covers that stretch. Not
    // a node named to us: asking it was 0.029 of 0.612 control messages per node per second under churn
    // (10,000 simulated nodes), mostly after a departure, both ends of each new pair asking each other.
    if (this.status === "ready" && !named && !this.leaf.wrapsAround()) {
      const hex = node.id.hex;
      if (
        (leftWasShort && this.leaf.farthestLeft()?.id.hex === hex) ||
        (rightWasShort && this.leaf.farthestRight()?.id.hex === hex)
      ) {
        if (this.repair.mayRequestLeafSet(node, now)) this.sendTo(node, { type: "leafSetRequest" });
      }
    }
    this.repair.memberAdded(node, this.status === "ready");
    this.detector.markHeard(node.id.hex, now);
    this.emitEvent({ type: "nodeJoined", node });
    this.detector.pruneLastHeard(this.leaf);
  }

  private reconsiderForProximity(peer: NodeInfo): void {
    if (!this.isPlausible(peer)) return;
    const proximity = this.proximity.proximity(peer);
    this.table.insertMeasured(peer, proximity);
    this.neighbours.insertMeasured(peer, proximity);
  }

  /**
   * A row we asked for. The nodes an answer to maintenance or the join names are measured: not measuring them
   * cut control messages under churn by 13 % but raised stretch from 1.59 to 1.90 (2,000 simulated nodes,
   * 30-minute sessions); table maintenance is what keeps a churning overlay's tables near. An answer to a
   * repair only fills holes: its nodes are measured where their slot is empty or held by an unmeasured node.
   */
  private onRow(from: NodeInfo, row: RowEntries, now: Millis): void {
    const measure = this.maintenance.answersRepair(from, row.row) ? this.fillsHole : ALWAYS;
    const outOfReach = this.outOfReach(from, row);
    this.learnAll(
      row.entries,
      now,
      outOfReach === undefined ? measure : (node) => !outOfReach.has(node) && measure(node),
    );
    for (let i = 0; i < row.entries.length; i++)
      this.detector.namedBy((row.entries[i] as NodeInfo).id.hex, from);
  }

  /**
   * The unmeasured entries of `from`'s row that cannot come nearer than the measured holder of their slot
   * in our table: the least proximity `from`'s round trip to them allows is no less than the holder's (see
   * ProximityStore.lowerBoundVia). Measuring them would change nothing. 2,000 simulated nodes, 30-minute
   * sessions, 5 + 40 min: control 0.446 -> 0.438 messages per node per second, stretch 1.544 -> 1.551.
   * Undefined when none is, the row carries no round-trip times, or `from` is unmeasured.
   */
  private outOfReach(from: NodeInfo, row: RowEntries): Set<NodeInfo> | undefined {
    const rtts = row.rttMs;
    if (rtts === undefined || !this.config.proximityAware || this.proximity.rtt(from) === undefined) return;
    let out: Set<NodeInfo> | undefined;
    for (let i = 0; i < row.entries.length; i++) {
      const node = row.entries[i] as NodeInfo;
      const onward = rtts[i];
      if (onward === undefined || this.proximity.proximity(node) !== undefined) continue;
      const holder = this.table.occupantFor(node);
      const held = holder === undefined ? undefined : this.proximity.proximity(holder);
      const least = this.proximity.lowerBoundVia(from, onward, node);
      if (held !== undefined && least !== undefined && least >= held) (out ??= new Set()).add(node);
    }
    return out;
  }

  /** Whether we measured `node` (a detour may take it rather than a leaf-set member: see reroute). */
  private readonly measured = (node: NodeInfo): boolean => this.proximity.proximity(node) !== undefined;

  /** Whether `node`'s table slot is empty or held by a node not measured yet (see onRow). */
  private readonly fillsHole = (node: NodeInfo): boolean => {
    const occupant = this.table.occupantFor(node);
    return occupant === undefined || this.proximity.proximity(occupant) === undefined;
  };

  private onProbeReply(
    from: NodeInfo,
    leafSet: readonly NodeInfo[],
    removed: readonly NodeId[] | undefined,
    now: Millis,
  ): void {
    const kind = this.detector.endProbe(from.id.hex);
    this.beyondChecks.forget(from.id.hex);
    this.reconsiderForProximity(from);
    // Deaths told with it (we just joined `from`'s leaf set): read as the leaf-set message they replace.
    if (removed !== undefined && removed.length > 0) {
      this.onLeafSet(from, leafSet, removed, now);
      this.checkListedBy(from, leafSet, now, false);
      this.checkJoinComplete(now);
      return;
    }
    // A proximity probe only wanted the round-trip time; merging its leaf set would cost l look-ups for
    // nothing (leaf-set candidates come from leaf-set probes, leaf-set messages and the join). Except for
    // a node inside our leaf-set range that we lack: a hole.
    if (kind === "proximity") {
      this.learnHoles(leafSet, now);
      return;
    }
    this.learnAll(leafSet, now);
    this.checkJoinComplete(now);
  }

  /**
   * The nodes of `leafSet` that lie inside our leaf-set range and are not members: our leaf set has a hole
   * there. After adjacent crashes a side refilled from whoever talked first could skip a live node that
   * nothing named again for a minute (until gossip came round), though the proximity probes of that minute
   * brought leaf sets naming it (overlay.test.ts, adjacent crashes, 1 case in 1,500).
   */
  private learnHoles(leafSet: readonly NodeInfo[], now: Millis): void {
    if (this.status !== "ready") return;
    let holes: NodeInfo[] | undefined;
    for (let i = 0; i < leafSet.length; i++) {
      const node = leafSet[i] as NodeInfo;
      if (!this.leaf.has(node.id.hex) && this.leaf.inRange(node.id)) (holes ??= []).push(node);
    }
    if (holes !== undefined) this.learnAll(holes, now);
  }

  private onLeafSet(
    from: NodeInfo,
    leafSet: readonly NodeInfo[],
    removed: readonly NodeId[],
    now: Millis,
  ): void {
    for (const id of removed) {
      if (id.equals(this.self.id)) {
        // Someone found us dead (we were slow, not gone): our leaf set hears from us directly and takes us back.
        if (this.status === "ready") this.repair.refute();
        continue;
      }
      const known = this.stateEntry(id);
      if (known === undefined) {
        // Not ours to remove, but stale state may name it to us in a moment: we believe the death briefly.
        this.detector.recordToldDeath(id, now, from);
        continue;
      }
      // Gossip must not kill a node we heard from ourselves lately (a message or an acknowledged call; it may
      // only have been slow, or have restarted): check it instead. Nor may a routing-table notice (no leaf set
      // with it) kill a leaf-set member: a row namer's rests on one lost proximity probe, and a live member
      // dropped on it may never be named to us again. Its holders push its death with their leaf sets.
      if (this.detector.heardRecently(id.hex, now) || (leafSet.length === 0 && this.leaf.has(id.hex))) {
        this.probe(known, "liveness", now);
        continue;
      }
      const acrossTheGap = this.isNearestMember(id.hex);
      // Our own liveness probe of it was out (its silence reached the failure timeout, or a send failed): the
      // finder checked only the members quiet to it when it found the death, which may have been too early
      // for them to seem so, so every member past the dead node is ours to check, not only those past the
      // finder's reach (four adjacent crashes spanning the ring's zero, l = 8, seed 293,331: the finder found
      // the first by a failed send 3 s after the crashes and checked none of the other three; exact after 14 s).
      const ownSuspicion = acrossTheGap && this.detector.probeKind(id.hex) === "liveness";
      const beyond = acrossTheGap ? this.membersBeyond(id.hex, from, ownSuspicion ? [] : leafSet) : undefined;
      this.declareDead(known, false, now, from);
      if (acrossTheGap) this.relayDeath(id, from, leafSet);
      if (beyond !== undefined) this.checkBeyond(beyond, now);
    }
    // A node whose death `from` told us, named again by `from`: it refuted the death to `from` (its
    // refutation to us may be lost), so it is plausible again and learnt (probed) like any other.
    for (let i = 0; i < leafSet.length; i++) this.detector.retractedBy(leafSet[i] as NodeInfo, from);
    this.learnAll(leafSet, now);
  }

  /**
   * Our members on the side whose nearest member is `dead`, past it, that neither `from` (the finder) is nor
   * `pushed` (its leaf set) lists: those beyond the finder's reach, nearest first.
   */
  private membersBeyond(dead: string, from: NodeInfo, pushed: readonly NodeInfo[]): NodeInfo[] {
    const listed = new Set<string>([from.id.hex]);
    for (let i = 0; i < pushed.length; i++) listed.add((pushed[i] as NodeInfo).id.hex);
    const side = this.leaf.right()[0]?.id.hex === dead ? this.leaf.right() : this.leaf.left();
    return side.filter((n) => n.id.hex !== dead && !listed.has(n.id.hex));
  }

  /**
   * Told of our nearest member's death by a finder that could not see `beyond` (see beyond-checks.ts): the
   * nearest of them is probed if it has been quiet, and the rest only if an attempt to it goes unanswered.
   */
  private checkBeyond(beyond: readonly NodeInfo[], now: Millis): void {
    const first = beyond[0];
    if (this.status !== "ready" || first === undefined || !this.detector.isQuiet(first.id.hex, now)) return;
    this.detector.probe(first, "liveness", now, false);
    this.beyondChecks.hold(first, beyond.slice(1), now + this.config.failureTimeoutMs);
  }

  /** Whether `hex` is our nearest leaf-set member on either side. */
  private isNearestMember(hex: string): boolean {
    return this.leaf.left()[0]?.id.hex === hex || this.leaf.right()[0]?.id.hex === hex;
  }

  /**
   * `from` found our nearest member on one side dead and pushed it to its own leaf set, `pushed`. We are the
   * live node on the other side of that gap. The dead node's holders on our side reach l/2 nodes from it, one
   * farther than `from`'s leaf set reaches past the dead node; without this, that one held a dead member
   * until gossip came round (a minute, at 10,000 simulated nodes). We tell the members of ours that `from`'s
   * push left out; only the node across the gap does, so each death costs a message or two.
   */
  private relayDeath(dead: NodeId, from: NodeInfo, pushed: readonly NodeInfo[]): void {
    if (this.status !== "ready") return;
    const told = new Set<string>([from.id.hex]);
    for (let i = 0; i < pushed.length; i++) told.add((pushed[i] as NodeInfo).id.hex);
    const leafSet = this.leaf.list();
    for (const member of leafSet) {
      if (!told.has(member.id.hex)) this.sendTo(member, { type: "leafSet", leafSet, removed: [dead] });
    }
  }

  /**
   * A neighbour's whole leaf set that leaves out a member of ours it should hold (one within its l/2 nearest
   * on that side): that member may be gone without our hearing (a lost leave notice, a death push that never
   * came), and would stay in our leaf set as a ghost in place of the live node beyond it. One liveness probe
   * each settles it. Or the neighbour lacks a live node: `answerGaps` (gossip and answers, not death pushes,
   * whose senders are repairing) sends it our leaf set, which names it (if it is gone, the neighbour's probe
   * finds so).
   */
  private checkListedBy(
    from: NodeInfo,
    leafSet: readonly NodeInfo[],
    now: Millis,
    answerGaps: boolean,
  ): void {
    if (this.status !== "ready" || leafSet.length < this.config.leafSetSize || !this.leaf.has(from.id.hex))
      return;
    let listing: SenderListing | undefined;
    let lacksMember = false;
    for (const member of this.leaf.members()) {
      const quiet = now - (this.detector.lastHeardFrom(member.id.hex) ?? 0) >= this.config.failureTimeoutMs;
      if (!quiet && (!answerGaps || lacksMember)) continue;
      listing ??= new SenderListing(from.id, leafSet);
      if (!listing.shouldList(member.id, this.leaf.half)) continue;
      if (quiet) this.probe(member, "liveness", now);
      lacksMember = true;
    }
    if (!lacksMember || !answerGaps) return;
    const answer = this.repair.answerGap(from, this.leaf, now);
    if (answer !== undefined) this.sendTo(answer.to, answer.message);
  }

  /**
   * A member's whole leaf set (gossip, an answer: not a death push) that names a node gone: one that told us
   * it left, or whose death we found or were told (and still believe), is told back at once, and one we begin
   * to probe as a candidate, once the probe finds it dead (tellNamer). The member heard neither the leave
   * nor the death push, and holds the node as a ghost in place of a live one: only the node's nearest
   * neighbours watch it, and nothing else would make the member check it (the churn property with 3 % loss,
   * a ring of ten: a leaver two places from a member whose leave notice was lost, held for good). The notice
   * names the node with no leaf set, so the member probes it rather than taking our word (see onLeafSet).
   */
  private answerGhosts(from: NodeInfo, leafSet: readonly NodeInfo[], now: Millis): void {
    if (this.status !== "ready" || !this.leaf.has(from.id.hex)) return;
    let gone: NodeId[] | undefined;
    for (let i = 0; i < leafSet.length; i++) {
      const node = leafSet[i] as NodeInfo;
      // A death only while we would ignore gossip naming it (believedDead): one found but told to nobody may
      // have been wrong (probes lost), and is then left to the member's own checks. A death told to us
      // counts too: the member may hold the node beyond the reach of those who found it (its leaf set short
      // of nearer nodes), and no push reaches it (3 % loss, 2,000 simulated nodes: 44 s; the member probes
      // before it believes us).
      if (this.hasDeparted(node) || this.detector.believedDead(node, now)) (gone ??= []).push(node.id);
      else this.detector.namedBy(node.id.hex, from);
    }
    if (gone !== undefined) this.sendTo(from, { type: "leafSet", leafSet: [], removed: gone });
  }

  private onLeave(from: NodeInfo, leafSet: readonly NodeInfo[], now: Millis): void {
    this.detector.endProbe(from.id.hex);
    this.detector.recordDeparture(from);
    this.forget(from, true);
    this.releaseParked(from.id.hex, false);
    this.learnAll(leafSet, now);
    this.checkJoinComplete(now);
  }

  // ---- Failure handling ------------------------------------------------------------------------------------

  private suspect(peer: NodeInfo, now: Millis, since: Millis = now): void {
    if (peer.id.equals(this.self.id)) return;
    this.detector.suspect(peer, now, this.status === "joining", since);
  }

  private probe(node: NodeInfo, kind: ProbeKind, now: Millis): void {
    this.detector.probe(node, kind, now, this.status === "joining");
  }

  private proximityProbe(node: NodeInfo, now: Millis): void {
    if (this.status === "joining" && !this.joinProcess.finalStateReceived) {
      this.joinProcess.defer(node);
      return;
    }
    this.detector.proximityProbe(
      node,
      now,
      this.status === "joining",
      this.stateEntry(node.id) !== undefined,
    );
  }

  /** A probe to `peer` was refused: retried soon, and after a few refusals the peer is dead. */
  private onProbeRefused(peer: NodeInfo, now: Millis): void {
    const dead = this.detector.probeRefused(peer, now);
    if (dead === undefined) return;
    this.declareDead(dead.node, true, now);
    this.tellNamer(dead);
    this.checkJoinComplete(now);
  }

  /**
   * A node named in `probe.namedBy`'s routing-table row or leaf set did not answer our probe: the namer is
   * told, as a death notice (a leaf-set message with the node removed), so that it stops routing through the
   * node and handing it out, or checks the member (see answerGhosts). Nothing else finds a dead table entry
   * before traffic meets it (see death-notices.ts).
   */
  private tellNamer(probe: OutstandingProbe): void {
    const namer = probe.namedBy;
    if (namer === undefined || this.status !== "ready" || namer.id.equals(probe.node.id)) return;
    this.sendTo(namer, { type: "leafSet", leafSet: [], removed: [probe.node.id] });
  }

  private expireProbes(now: Millis): void {
    const expired = this.detector.expiredProbes(now);
    if (expired === undefined) return;
    for (const probe of expired) {
      const node = probe.node;
      const verdict = this.detector.expire(probe, now, this.status === "joining");
      if (verdict === "alive") {
        // It talked to us while the probe was out, but its reply did not come: alive, take it as it is.
        this.beyondChecks.forget(node.id.hex);
        if (probe.kind === "leaf" && this.isPlausible(node)) this.addToLeafSet(node, now);
        this.releaseParked(node.id.hex, true);
      } else if (verdict === "retried") {
        const rest = this.beyondChecks.release(node.id.hex, now);
        if (rest !== undefined && this.status === "ready") this.detector.probeQuietMembers(rest, now, false);
      } else if (verdict === "dead") {
        this.declareDead(node, true, now);
        this.tellNamer(probe);
        // Every attempt of a leaf-set probe may only have been lost: told itself, a live candidate refutes
        // the death to its leaf set, which holds us. Else a joiner that gave up on it became ready without
        // it, and the candidate, told of the joiner by nobody, kept delivering the keys between them (the
        // churn property with 3 % loss, fast-check seed 4,004). And a ready node, believing it dead for the
        // failure timeout and named it by nobody after, lacked a live neighbour until gossip came round
        // (2,000 simulated nodes, 3 % loss: three attempts lost, a hole of 26 s).
        if (probe.kind === "leaf") this.tellFoundDead(node);
      }
    }
    this.checkJoinComplete(now);
  }

  /** `node` did not answer (or a leaf-set member reported it dead). */
  private declareDead(node: NodeInfo, pushRemoval: boolean, now: Millis, reporter?: NodeInfo): void {
    if (this.holds(node)) this.maintenance.peerFailed(this.leaf.size + this.table.size, now);
    // Only a leaf-set member's death found while ready is pushed (also to the node, which refutes it).
    const pushed = pushRemoval && this.status === "ready" && this.leaf.has(node.id.hex);
    this.detector.recordDeath(node, pushRemoval, now, pushed, reporter);
    if (pushed) this.rechecks.schedule(node, now);
    const sides = this.leaf.sidesOf(node.id.hex);
    // A table entry (not a leaf-set member: those are watched by their own leaf sets) that we found dead
    // ourselves: our nearest neighbours most likely hold it too (see death-notices.ts).
    const tableEntry =
      pushRemoval && this.status === "ready" && this.config.proximityAware && !this.leaf.has(node.id.hex)
        ? this.table.lookup(node.id)
        : undefined;
    const wasLeafMember = this.forget(node, false);
    this.releaseParked(node.id.hex, false);
    if (tableEntry !== undefined && tableEntry.incarnation === node.incarnation) {
      const row = this.self.id.commonPrefixLength(node.id);
      this.outbox.sendAll(deathNotices(node, row, this.neighbours.members(), DEATH_NOTICE_FANOUT));
    }
    if (!wasLeafMember) return;
    this.repair.memberDied(node, pushRemoval, now);
    // Members quiet beside a death may have died with it (adjacent crashes). Only the node that found the
    // death checks them, and pushes each further death it finds (checking again): the live nodes on both
    // sides of a gap find its deaths so, and their pushes reach every leaf set that held a dead node. The
    // l holders told by a push no longer each probe the same l/2 members (a fifth of all control traffic under churn).
    if (pushRemoval) this.probeSilentMembers(sides.left, sides.right, now);
  }

  /** The entry for `id` in our leaf set, routing table or neighbourhood set (any incarnation), if any. */
  private stateEntry(id: NodeId): NodeInfo | undefined {
    const hex = id.hex;
    const memo = this.entryMemo;
    const leafVersion = this.leaf.version;
    const tableVersion = this.table.version;
    const neighboursVersion = this.neighbours.version;
    if (
      memo.hex === hex &&
      memo.leafVersion === leafVersion &&
      memo.tableVersion === tableVersion &&
      memo.neighboursVersion === neighboursVersion
    )
      return memo.entry;
    const leafEntry = this.leaf.get(hex);
    const entry = leafEntry ?? this.table.lookup(id) ?? this.neighbours.get(hex);
    memo.hex = hex;
    memo.leafVersion = leafVersion;
    memo.tableVersion = tableVersion;
    memo.neighboursVersion = neighboursVersion;
    memo.entry = entry;
    memo.leafEntry = leafEntry;
    return entry;
  }

  /**
   * Whether the leaf set holds the ID `hex`: from stateEntry's memo when it last looked up this ID and the
   * leaf set has not changed since (an input asks this of its sender, and learning of each node named, right
   * after checking its plausibility), else from the leaf set.
   */
  private leafHolds(hex: string): boolean {
    const memo = this.entryMemo;
    if (memo.hex === hex && memo.leafVersion === this.leaf.version) return memo.leafEntry !== undefined;
    return this.leaf.has(hex);
  }

  /** Whether `peer` is in our state or among the leaf set's candidates. */
  private holds(peer: NodeInfo): boolean {
    return this.stateEntry(peer.id) !== undefined || this.repair.isCandidate(peer.id.hex);
  }

  /**
   * holds() for the peer whose ID hex is `hex`, asked from the hex alone (the proximity store's sweep asks
   * it of every old measurement each gossip round): no NodeInfo or NodeId of the peer is read.
   */
  private holdsHex(hex: string): boolean {
    return (
      this.leaf.has(hex) ||
      this.table.holds(hex) ||
      this.table.holdsBackup(hex) ||
      this.neighbours.has(hex) ||
      this.repair.isCandidate(hex)
    );
  }

  /**
   * Per-peer memories answer only about a recent window; entries past it are dropped here (every gossip
   * period), so a node that has gone quiet does not keep its join's worth of peers for ever.
   */
  private pruneMemories(now: Millis): void {
    this.detector.pruneMemories(now);
    this.proximity.prune(now, RTT_MEMORY_MS, this.holdsEpoch());
  }

  /**
   * A number that changes whenever holds() may have turned from yes to no for some peer: when an ID left
   * the leaf set, table, neighbourhood set or leaf-set candidates since it was last asked (their removal
   * counts). The proximity store asks again only about peers it has not been told yes for in this epoch;
   * one that was held then is held still as long as nothing left any of the four (joins only add, and a
   * re-ranked or re-incarnated member stays): under churn most gossip rounds see something join or move,
   * far fewer see something leave.
   */
  private holdsEpoch(): number {
    const seen = this.holdsRemovals;
    const leaf = this.leaf.removals;
    const table = this.table.removals;
    const neighbours = this.neighbours.removals;
    const candidates = this.repair.candidatesRemovals;
    if (
      seen.leaf !== leaf ||
      seen.table !== table ||
      seen.neighbours !== neighbours ||
      seen.candidates !== candidates
    ) {
      seen.epoch++;
      seen.leaf = leaf;
      seen.table = table;
      seen.neighbours = neighbours;
      seen.candidates = candidates;
    }
    return seen.epoch;
  }

  /** Removes `node` everywhere; returns whether it was a leaf-set member. Repairs are scheduled. */
  private forget(node: NodeInfo, graceful: boolean): boolean {
    const hex = node.id.hex;
    const known = this.stateEntry(node.id);
    if (known !== undefined && known.incarnation !== node.incarnation) return false;
    this.repair.dropCandidate(hex, this.leaf.has(hex));
    this.detector.forget(hex);
    this.proximity.forget(hex);
    const sides = this.leaf.sidesOf(hex);
    const wasLeafMember = this.leaf.remove(hex);
    this.nearMisses.forget(hex);
    this.beyondChecks.forget(hex);
    const row = this.table.remove(node.id);
    const wasNeighbour = this.neighbours.remove(hex);
    if (!wasLeafMember && row === undefined && !wasNeighbour) return false;
    this.emitEvent({ type: "nodeExited", node: known ?? node, graceful });
    // A leave is announced and says nothing about other members: no probes (a death's are in declareDead).
    if (wasLeafMember) this.repair.memberLost(sides, graceful);
    // A slot its runner-up took needs no repair: the answer would only fill holes, and there is none.
    if (row !== undefined && this.status === "ready" && this.table.occupantFor(node) === undefined) {
      this.outbox.sendAll(this.maintenance.repairRow(this.table, row, this.detector.suspects, this.now));
    }
    return wasLeafMember;
  }

  /** After a death on one side, members there that have been quiet may have died with it: check them now. */
  private probeSilentMembers(left: boolean, right: boolean, now: Millis): void {
    if (this.status !== "ready") return;
    if (left) this.detector.probeQuietMembers(this.leaf.left(), now, false);
    if (right) this.detector.probeQuietMembers(this.leaf.right(), now, false);
  }

  // ---- Output plumbing ---------------------------------------------------------------------------------------

  /**
   * Flushes what inputs batched up: leaf-set pushes (at most one fan-out per tick; the rest wait for the
   * next tick), leaf-set repair requests (held back while the rate limit says so), the leafSetChanged event.
   */
  private finishInput(): void {
    const ready = this.status === "ready";
    // Sends to the predecessor from the next input on stand in for heartbeats (see heartbeat()). Only a
    // change to the leaf set can change the predecessor: otherwise the outbox already watches it.
    if (this.leaf.version !== this.watchedAtLeafVersion) {
      this.watchedAtLeafVersion = this.leaf.version;
      this.outbox.watch(this.leaf.left()[0]?.id.hex);
    }
    if (ready) this.offerNearMisses();
    const flush = this.repair.finish(ready, this.leaf, this.now, this.isBusy, this.isProbing);
    this.outbox.sendAll(flush.sends);
    if (flush.changed !== undefined) this.emitEvent({ type: "leafSetChanged", leafSet: flush.changed });
  }

  /**
   * After a change to the leaf set: a node turned away lately while the sides were full, that the full
   * leaf set would now take in (a side was refilled past it), is probed as a candidate (see near-misses.ts).
   */
  private offerNearMisses(): void {
    if (!this.nearMisses.any || this.leaf.version === this.nearMissesAtLeafVersion) return;
    this.nearMissesAtLeafVersion = this.leaf.version;
    const due = this.nearMisses.due(this.leaf, this.now);
    if (due === undefined) return;
    for (const node of due) {
      if (!this.isPlausible(node)) continue;
      if (this.repair.offerCandidate(node)) this.probeCandidate(node, this.now);
      else this.nearMisses.refused(node);
    }
  }

  private sendTo(node: NodeInfo, message: PeerMessage): void {
    this.outbox.send(node, message);
  }

  private emitEvent(event: RoutingEvent): void {
    this.outbox.event(event);
  }
}
