// Maintenance that pays for itself (MSPastry, Castro, Costa, Rowstron, DSN 2004; Mahajan et al., "Controlling
// the cost of reliability"): a node measures how often the peers it keeps fail and spends maintenance messages
// in proportion, instead of at one rate chosen for the worst case. Pure bookkeeping: time comes in as input.
import { approxClockwise, approxOrder, clockwiseDistance, type NodeId } from "./id.js";
import type { Millis, NodeInfo } from "./types.js";

/** Failures are averaged over roughly this long (an exponentially weighted window). */
const FAILURE_WINDOW_MS = 10 * 60_000;

/**
 * The failure rate of the peers this node keeps (leaf set and routing table), per peer per ms: failures seen
 * over peer-time observed, both decayed with the same time constant so old churn fades out.
 */
export class FailureRateEstimator {
  private failures = 0;
  private peerMs = 0;
  private lastAt: Millis | undefined;

  constructor(private readonly windowMs: Millis = FAILURE_WINDOW_MS) {}

  /** Accounts for `peers` kept from the last observation until `now` (call before each failure and tick). */
  observe(peers: number, now: Millis): void {
    if (this.lastAt !== undefined && now > this.lastAt) {
      const elapsed = now - this.lastAt;
      const decay = Math.exp(-elapsed / this.windowMs);
      this.failures *= decay;
      // Peer-time accrues over the elapsed interval and decays as the failures do.
      this.peerMs = this.peerMs * decay + peers * this.windowMs * (1 - decay);
    }
    if (this.lastAt === undefined || now > this.lastAt) this.lastAt = now;
  }

  /** One kept peer was found dead (not a graceful leave: that is no failure to detect). */
  failure(peers: number, now: Millis): void {
    this.observe(peers, now);
    this.failures += 1;
  }

  /** Failures per peer per ms; 0 until some peer-time has been observed. */
  rate(): number {
    return this.peerMs > 0 ? this.failures / this.peerMs : 0;
  }
}

/**
 * How often to run periodic routing-table maintenance given the observed failure rate. Each round refreshes
 * one row's worth of entries; what it must keep up with is entries going stale. With `entries` table entries
 * failing at `rate` each, stale entries appear at entries x rate per ms; the interval keeps them to about
 * `targetStaleEntries` appearing between rounds, within [base / 4, base x 8]: a quiet overlay asks rarely,
 * a churning one as often as MSPastry's tuned rate needs, never more than 4x the configured rate.
 */
export function tableMaintenanceInterval(
  baseMs: Millis,
  rate: number,
  entries: number,
  targetStaleEntries = 1,
): Millis {
  const min = baseMs / 4;
  const max = baseMs * 8;
  if (!Number.isFinite(baseMs)) return baseMs;
  const appearing = rate * Math.max(1, entries);
  if (!(appearing > 0)) return max;
  return Math.min(max, Math.max(min, targetStaleEntries / appearing));
}

/**
 * Leaf-set gossip only when it can tell anyone something: after our leaf set changed since the last round,
 * and otherwise as slow anti-entropy (every `quietRounds` rounds), which still brings back a live node
 * dropped on hearsay whose refutation was lost.
 */
export class GossipSuppression {
  private changedSinceGossip = true;
  private quietSkipped = 0;

  constructor(private readonly quietRounds: number) {}

  leafSetChanged(): void {
    this.changedSinceGossip = true;
  }

  /** Called each gossip round: whether to send this round. */
  shouldGossip(): boolean {
    if (this.changedSinceGossip || this.quietSkipped + 1 >= this.quietRounds) {
      this.changedSinceGossip = false;
      this.quietSkipped = 0;
      return true;
    }
    this.quietSkipped++;
    return false;
  }
}

/**
 * Whether `sender`, whose leaf set is `senderLeafSet` (half = l/2 per side), would hold `member` if `member`
 * were alive: fewer than `half` of the sender's members lie between it and `member` on that side. A member we
 * hold that a gossiping neighbour should hold but does not list is either dead (the neighbour dropped it,
 * and our notice of it was lost: a lost leave, say) or unknown to the neighbour; one liveness probe tells.
 */
export function shouldBeListedBy(
  sender: NodeId,
  senderLeafSet: readonly NodeInfo[],
  member: NodeId,
  half: number,
): boolean {
  return new SenderListing(sender, senderLeafSet).shouldList(member, half);
}

/**
 * shouldBeListedBy for many members against one sender's leaf set: the sender's distances to its members
 * are worked out once, not once per member asked about (a gossip message is checked against every quiet
 * member of ours). From the IDs' top 52 bits (approxClockwise) first: the exact bigint distances, l of them
 * per side, are worked out only when an approximation cannot tell two distances apart, which is rare.
 */
export class SenderListing {
  private readonly listed = new Set<string>();
  /** approxClockwise from the sender to each of its members, and from each member to the sender. */
  private readonly rightApprox: number[] = [];
  private readonly leftApprox: number[] = [];
  /** The same distances exactly, once one was needed. */
  private exact: { readonly right: bigint[]; readonly left: bigint[] } | undefined;

  constructor(
    private readonly sender: NodeId,
    private readonly senderLeafSet: readonly NodeInfo[],
  ) {
    for (const node of senderLeafSet) {
      this.listed.add(node.id.hex);
      this.rightApprox.push(approxClockwise(sender, node.id));
      this.leftApprox.push(approxClockwise(node.id, sender));
    }
  }

  /**
   * Whether the sender's leaf set would hold `member` if it were alive: it lies within the sender's l/2
   * nearest on either side. A side is the l/2 nearest in its own direction (LeafSet.insert), so a member
   * nearer the sender clockwise may still belong to its counter-clockwise side, on a ring of few nodes:
   * judged by the nearer direction alone, a member that left while its leave notice to us was lost, lying so,
   * was never checked, and held the place of a live node for good (the churn property, seed 1,001 of
   * fast-check, run 395).
   */
  shouldList(member: NodeId, half: number): boolean {
    if (member.equals(this.sender) || this.listed.has(member.hex)) return false;
    return this.within(member, half, true) || this.within(member, half, false);
  }

  /** Whether fewer than `half` of the sender's members lie nearer to it than `member` in that direction. */
  private within(member: NodeId, half: number, clockwise: boolean): boolean {
    const reachApprox = clockwise
      ? approxClockwise(this.sender, member)
      : approxClockwise(member, this.sender);
    const approx = clockwise ? this.rightApprox : this.leftApprox;
    let reach: bigint | undefined;
    // Counts the sender's members d with 0 < d < reach in that direction (an approximation that tells is
    // >= 1, so its exact distance is above 0).
    let between = 0;
    for (let i = 0; i < approx.length; i++) {
      const order = approxOrder(approx[i] as number, reachApprox);
      if (order > 0) continue;
      if (order === 0) {
        reach ??= clockwise ? clockwiseDistance(this.sender, member) : clockwiseDistance(member, this.sender);
        const d = (clockwise ? this.exactDistances().right : this.exactDistances().left)[i] as bigint;
        if (!(d > 0n && d < reach)) continue;
      }
      between++;
      if (between >= half) return false;
    }
    return true;
  }

  private exactDistances(): { readonly right: bigint[]; readonly left: bigint[] } {
    if (this.exact !== undefined) return this.exact;
    const right: bigint[] = [];
    const left: bigint[] = [];
    for (const node of this.senderLeafSet) {
      right.push(clockwiseDistance(this.sender, node.id));
      left.push(clockwiseDistance(node.id, this.sender));
    }
    this.exact = { right, left };
    return this.exact;
  }
}
