// Properties that keep maintenance honest under churn (issue #17): nodes live for random lifetimes, crash or
// leave, are replaced by new joiners, and the network loses messages. No message may be delivered at a node
// other than the live ready node closest to its key at that moment, and once churn stops every node's leaf
// set must converge to the ring's truth within a bound.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import { Overlay, leafSetOf, randomId, seededRandom, trueLeafSet } from "./overlay-harness.js";

const LEAF_SET_SIZE = 8;
const INITIAL = 10;
/**
 * Leaf sets must match the truth this long after churn stopped. With loss, two live nodes can find each
 * other dead (their probes lost) and then ignore gossip naming each other for a minute (DEAD_MEMORY_MS),
 * after which the next gossip round naming them brings them back: a minute and a few gossip rounds.
 */
const CONVERGENCE_BOUND_MS = 120_000;
/** Runs of the property (ROUTING_RUNS; 8 in CI, from a fixed seed). */
const RUNS = Number(process.env.ROUTING_RUNS ?? 8);
const STEP_MS = 250;

interface Session {
  readonly lifetimeMs: number;
  readonly crash: boolean;
}

interface Scenario {
  readonly seed: number;
  readonly lossRate: number;
  /** Lifetimes of the initial nodes, then of each replacement in turn. */
  readonly sessions: readonly Session[];
  readonly churnMs: number;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  lossRate: fc.double({ min: 0, max: 0.03, noNaN: true }),
  sessions: fc.array(
    fc.record({ lifetimeMs: fc.integer({ min: 4_000, max: 60_000 }), crash: fc.boolean() }),
    { minLength: INITIAL + 4, maxLength: INITIAL + 12 },
  ),
  churnMs: fc.integer({ min: 20_000, max: 40_000 }),
});

/** The l/2 nearest live ready nodes on each side of `node` (all others on a ring of at most l + 1). */
function run(s: Scenario): { wrong: string[]; unconverged: string[]; delivered: number } {
  const overlay = new Overlay({ leafSetSize: LEAF_SET_SIZE }, s.seed, "all");
  overlay.acks = true;
  const random = seededRandom(s.seed + 1);
  const sessions = [...s.sessions];
  const endsAt = new Map<PastryNode, Session & { at: number }>();
  const give = (node: PastryNode): void => {
    const session = sessions.shift();
    if (session !== undefined) endsAt.set(node, { ...session, at: overlay.now + session.lifetimeMs });
  };
  give(overlay.bootstrap(randomId(random)));
  for (let i = 1; i < INITIAL; i++) give(overlay.join(randomId(random)));
  overlay.advance(3_000);
  overlay.overload = {
    until: overlay.now + s.churnMs,
    maxDelayMs: 40,
    callTimeoutMs: 1_000,
    dropRate: s.lossRate,
  };
  const first = overlay.deliveries.length;
  const churnEnd = overlay.now + s.churnMs;
  while (overlay.now < churnEnd) {
    for (const [node, session] of [...endsAt]) {
      if (session.at > overlay.now) continue;
      endsAt.delete(node);
      if (overlay.live().filter((n) => n.isReady()).length <= 3) continue;
      if (session.crash) overlay.crash(node);
      else overlay.leave(node);
      give(overlay.startJoin(randomId(random)));
    }
    const ready = overlay.live().filter((n) => n.isReady());
    for (let k = 0; k < 2 && ready.length > 0; k++) {
      overlay.send(ready[Math.floor(random.next() * ready.length)]!, randomId(random), true);
    }
    overlay.advance(STEP_MS);
  }
  overlay.advance(CONVERGENCE_BOUND_MS);
  const deliveries = overlay.deliveries.slice(first);
  const wrong = deliveries
    .filter((d) => d.at.self.id.hex !== d.trueOwnerHex)
    .map((d) => `${d.message.key.hex} at ${d.at.self.id.hex}, owner ${d.trueOwnerHex}`);
  const ready = overlay.live().filter((n) => n.isReady());
  const unconverged = ready
    .filter((n) => leafSetOf(n) !== trueLeafSet(n, ready, LEAF_SET_SIZE))
    .map((n) => n.self.id.hex);
  // A joiner whose only seed died gives up (status idle; the runtime would start over): not part of the ring.
  const joining = overlay.live().filter((n) => n.stats().status === "joining");
  return {
    wrong,
    unconverged: [...unconverged, ...joining.map((n) => `${n.self.id.hex} still joining`)],
    delivered: deliveries.length,
  };
}

const session = (lifetimeMs: number, crash: boolean): Session => ({ lifetimeMs, crash });
/**
 * Scenarios that once failed the property, run every time (it draws from a fixed seed). fast-check seed
 * 1,001, run 395: a node left while its leave notice to a member two places away was lost; that member's
 * successor, whose gossip lacked the leaver, lay nearer the leaver clockwise than counter-clockwise (a ring
 * of ten), so the member judged the leaver beyond the gossip's reach and never checked it: it held the
 * leaver in place of a live node for good. A side holds the l/2 nearest in its own direction (LeafSet), so
 * the leaver belonged to the successor's counter-clockwise side (SenderListing now checks both).
 */
const CHURN_REGRESSIONS: readonly Scenario[] = [
  {
    seed: 550041,
    lossRate: 0.029999999999999985,
    sessions: [
      ...[58215, 8793, 16671].map((ms) => session(ms, false)),
      session(41046, true),
      ...[15190, 12686, 34791, 49375, 5852, 58402].map((ms) => session(ms, false)),
      session(53542, true),
      session(16197, false),
      session(34946, true),
      session(29301, false),
      session(4003, true),
      session(59995, true),
      session(4000, false),
      session(8300, false),
    ],
    churnMs: 28689,
  },
  // fast-check seed 2,002, run 3,205: a member's leave notice to a node two places away was lost, and the
  // node's predecessor, which joined as the member left, never knew it: it found the member dead when the
  // node's gossip named it, but told nobody, so the node held it for good. A member's gossip naming a node
  // gone is now answered (answerGhosts).
  {
    seed: 999997,
    lossRate: 0.029999999999999964,
    sessions: [
      session(58460, true),
      session(49423, false),
      session(16153, false),
      session(56288, true),
      session(21649, false),
      session(51900, true),
      session(56114, true),
      session(23763, false),
      session(38654, true),
      session(44129, true),
      session(29396, false),
      session(37930, false),
      session(42575, false),
      session(15600, true),
      session(36537, true),
      session(49985, true),
      session(51842, true),
      session(58281, true),
      session(10804, true),
      session(45514, true),
    ],
    churnMs: 34306,
  },
  // fast-check seed 4,004, run 4,949: a joiner's three probes of a leaf-set candidate were all lost; it
  // became ready without the candidate, which nobody told of the joiner and which delivered a message for a
  // key between them half a second later. A joiner now tells a candidate it gave up on, which refutes it.
  {
    seed: 359267,
    lossRate: 0.029999999999999964,
    sessions: [
      session(43640, false),
      session(8424, false),
      session(33077, false),
      session(16529, false),
      session(10199, false),
      session(17732, true),
      session(31714, false),
      session(52722, false),
      session(41315, true),
      session(30716, false),
      session(11612, false),
      session(53920, true),
      session(35176, false),
      session(46063, false),
    ],
    churnMs: 23891,
  },
  // fast-check seed 10,010, run 19,961: a joiner's three probes of a live candidate were all lost while the
  // candidate talked to it; each attempt's failure, reported a call timeout after it was sent, undid that
  // contact, so the joiner gave up on the candidate and delivered a key it owned. Contact after a timed-out
  // attempt was sent now answers the attempt.
  {
    seed: 502649,
    lossRate: 0.029999999999999943,
    sessions: [
      session(35532, true),
      session(24922, false),
      session(58883, false),
      session(51750, false),
      session(19769, false),
      session(5935, true),
      session(34002, true),
      session(12282, false),
      session(56371, true),
      session(26234, false),
      session(48675, false),
      session(8356, false),
      session(16569, true),
      session(14564, false),
      session(50047, false),
    ],
    churnMs: 37770,
  },
  // fast-check seed 19,019, run 13,748: a neighbourhood-set member found dead came back into the set once
  // the death was no longer believed (gossip named it), and a join forwarded to it failed; a failed send to
  // a node found dead raised no suspicion, so the join went to the same node again, and again (the overlay
  // never went quiet). A node back in our state is suspected as any other.
  {
    seed: 803462,
    lossRate: 0.029999999999999985,
    sessions: [
      session(34929, false),
      session(15839, false),
      session(12292, false),
      session(18414, false),
      session(26781, true),
      session(55167, false),
      session(41263, false),
      session(16940, true),
      session(18661, false),
      session(19726, false),
      session(18081, false),
      session(11022, true),
      session(38121, true),
      session(59594, true),
      session(48073, true),
      session(37643, false),
      session(29713, false),
      session(48722, false),
    ],
    churnMs: 39372,
  },
];

describe("churn with random lifetimes and message loss", () => {
  it.each(CHURN_REGRESSIONS)(
    "seed $seed, a case that once failed: every delivery at the closest live ready node, every leaf set true 120 s after churn stops",
    (s) => {
      const result = run(s);
      expect(result.delivered).toBeGreaterThan(0);
      expect(result.wrong).toEqual([]);
      expect(result.unconverged).toEqual([]);
    },
  );

  it(
    "no message is delivered at a node other than the closest live ready node, and every leaf set equals the truth 120 s after churn stops",
    () => {
      fc.assert(
        fc.property(scenario, (s) => {
          const result = run(s);
          expect(result.delivered).toBeGreaterThan(0);
          expect(result.wrong).toEqual([]);
          expect(result.unconverged).toEqual([]);
        }),
        // A fixed seed in CI; ROUTING_SEED and ROUTING_RUNS sweep others (ROUTING_PATH replays one failure).
        {
          numRuns: RUNS,
          seed: Number(process.env.ROUTING_SEED ?? 17),
          endOnFailure: true,
          ...(process.env.ROUTING_PATH === undefined ? {} : { path: process.env.ROUTING_PATH }),
        },
      );
    },
    180_000 + RUNS * 200,
  );
});
