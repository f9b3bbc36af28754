// Drop notices: a node other than the origin that drops a message whose origin waits for its ack (hop limit,
// undeliverable, full queue) tells the origin which copy it dropped. The origin must not fail a send on a
// notice while another copy of the message may still be delivered (it re-sent a hop whose acknowledgement
// was late, or routed around a node), and must not wait out its deadline when every copy it sent is gone.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_FRESH_COPIES } from "../../src/routing/hop-delivery.js";
import type { PastryNode } from "../../src/routing/node.js";
import type {
  NoticedDropReason,
  Outbound,
  PeerMessage,
  RouteMessage,
  RoutingEvent,
} from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

/** What happens to one copy the origin sends: its hop's fate, then the copy's own. */
interface CopyFate {
  /** The next hop acknowledges the hop, it times out (it may have arrived), or it is refused (it did not). */
  readonly hop: "acked" | "timeout" | "refused";
  /** When the hop's outcome reaches the origin, after the send. */
  readonly hopAfter: number;
  /** The copy is delivered (the owner acks), dropped on the way (a notice comes), or lost without a word. */
  readonly end: "deliver" | "drop" | "silent";
  readonly reason: NoticedDropReason;
  /** When the ack or the notice reaches the origin, after the send. */
  readonly endAfter: number;
}

/** Copies beyond those drawn: acknowledged at once and dropped on the way (so every run ends). */
const DROPPED: CopyFate = { hop: "acked", hopAfter: 1, end: "drop", reason: "ttl", endAfter: 5 };
const DEADLINE = 10_000;

type Step =
  | { readonly at: number; readonly kind: "hopFailed"; readonly out: Outbound; readonly refused: boolean }
  | {
      readonly at: number;
      readonly kind: "message";
      readonly from: PastryNode;
      readonly message: PeerMessage;
    };

interface World {
  readonly fates: CopyFate[];
  readonly events: { readonly at: number; readonly event: RoutingEvent }[];
  /** Copy numbers the origin sent, in order, with when and what was decided for each. */
  readonly copies: { readonly copy: number; readonly at: number; readonly fate: CopyFate }[];
}

function threeOfSeven(seed: number): [PastryNode, PastryNode, PastryNode] {
  const overlay = new Overlay({ leafSetSize: 8 }, seed);
  const random = seededRandom(seed + 7);
  overlay.bootstrap(randomId(random));
  for (let i = 0; i < 6; i++) overlay.join(randomId(random));
  const [origin, owner, relay] = overlay.live();
  origin!.takeOutputs();
  return [origin!, owner!, relay!];
}

/**
 * The origin sends one message wanting an ack to the owner's key; each copy it sends (a route hop, to any
 * node) meets the next fate drawn. Probes are answered 50 ms later. Runs in time order, bounded.
 */
function run(fates: readonly CopyFate[], seed: number): World {
  const [origin, owner, relay] = threeOfSeven(seed);
  const world: World = { fates: [...fates], events: [], copies: [] };
  const queue: Step[] = [];
  const id = origin.send(owner.self.id, 16, new Uint8Array([1]), { wantAck: true, deadline: DEADLINE }, 0);
  const collect = (at: number): void => {
    for (const output of origin.takeOutputs()) {
      if (output.type === "event") world.events.push({ at, event: output.event });
      if (output.type !== "send") continue;
      const out = output.out;
      const to = [owner, relay].find((n) => out.to?.id.equals(n.self.id) === true) ?? owner;
      if (out.message.type === "probe") {
        const reply: PeerMessage = { type: "probeReply", echoSentAt: at, leafSet: [], ready: true };
        queue.push({ at: at + 50, kind: "message", from: to, message: reply });
      }
      if (out.message.type !== "route") continue;
      const message: RouteMessage = out.message.message;
      const fate = world.fates[world.copies.length] ?? DROPPED;
      world.copies.push({ copy: message.copy ?? 0, at, fate });
      if (fate.hop !== "acked")
        queue.push({ at: at + fate.hopAfter, kind: "hopFailed", out, refused: fate.hop === "refused" });
      // A refused hop never arrived: nothing more is heard of that copy.
      if (fate.hop === "refused" || fate.end === "silent") continue;
      const answer: PeerMessage =
        fate.end === "deliver"
          ? { type: "ack", messageId: id, hops: 1 }
          : {
              type: "ack",
              messageId: id,
              hops: 1,
              undelivered: { copy: message.copy ?? 0, reason: fate.reason },
            };
      queue.push({
        at: at + fate.endAfter,
        kind: "message",
        from: fate.end === "deliver" ? owner : relay,
        message: answer,
      });
    }
  };
  collect(0);
  for (let steps = 0; steps < 2_000 && queue.length > 0; steps++) {
    queue.sort((a, b) => a.at - b.at);
    const step = queue.shift() as Step;
    if (step.at > 2 * DEADLINE) break;
    if (step.kind === "hopFailed")
      origin.sendFailed(step.out, step.at, step.refused ? "unreachable" : "unknown");
    else origin.receive(step.from.self, step.message, step.at);
    collect(step.at);
  }
  return world;
}

const fateArb: fc.Arbitrary<CopyFate> = fc.record({
  hop: fc.constantFrom("acked", "acked", "timeout", "refused"),
  hopAfter: fc.integer({ min: 1, max: 2_000 }),
  end: fc.constantFrom("deliver", "drop", "drop", "silent"),
  reason: fc.constantFrom<NoticedDropReason>("ttl", "undeliverable", "queue_full"),
  endAfter: fc.integer({ min: 1, max: 3_000 }),
});

const eventsOf = (w: World, type: RoutingEvent["type"]) => w.events.filter((e) => e.event.type === type);

describe("drop notices from nodes on the way, at the origin", () => {
  it("a notice never fails a send that another copy delivers, and is never taken for an ack (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fateArb, { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 3 }),
        (fates, seed) => {
          const w = run(fates, seed);
          const delivered = w.copies.filter((c) => c.fate.hop !== "refused" && c.fate.end === "deliver");
          // Every copy the origin sent is numbered, each number once.
          const numbers = w.copies.map((c) => c.copy);
          expect(new Set(numbers).size).toBe(numbers.length);
          expect(numbers.every((n) => n >= 1)).toBe(true);
          if (delivered.length > 0) {
            expect(eventsOf(w, "undelivered")).toEqual([]);
            // (Each delivered copy's ack is reported; the runtime takes the first.)
            expect(eventsOf(w, "acked").length).toBeGreaterThanOrEqual(1);
          } else {
            expect(eventsOf(w, "acked")).toEqual([]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("when every copy sent is reported dropped or refused, the send fails at the last notice, long before its deadline, after the fresh copies (property)", () => {
    const goneArb = fc.record({
      hop: fc.constantFrom<CopyFate["hop"]>("acked", "timeout", "refused"),
      hopAfter: fc.integer({ min: 1, max: 500 }),
      end: fc.constant<CopyFate["end"]>("drop"),
      reason: fc.constantFrom<NoticedDropReason>("ttl", "undeliverable", "queue_full"),
      endAfter: fc.integer({ min: 1, max: 500 }),
    });
    fc.assert(
      fc.property(
        fc.array(goneArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 3 }),
        (fates, seed) => {
          const w = run(fates, seed);
          const failed = [...eventsOf(w, "undelivered"), ...eventsOf(w, "dropped")];
          // The origin itself may give up first (a second refusal after routing around: "undeliverable"), as
          // before notices; otherwise the notices end it.
          expect(failed.length).toBeGreaterThanOrEqual(1);
          const end = failed[0]!;
          expect(end.at).toBeLessThan(DEADLINE / 2);
          expect(eventsOf(w, "acked")).toEqual([]);
          if (end.event.type === "undelivered") {
            const lastNotice = Math.max(
              ...w.copies.filter((c) => c.fate.hop !== "refused").map((c) => c.at + c.fate.endAfter),
            );
            expect(end.at).toBeLessThanOrEqual(lastNotice);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it(`the only copy dropped on the way is sent afresh at once, ${MAX_FRESH_COPIES} times, then the send fails with the notice's reason`, () => {
    const fate: CopyFate = { hop: "acked", hopAfter: 1, end: "drop", reason: "ttl", endAfter: 200 };
    const w = run([fate, fate, fate, fate], 1);
    expect(w.copies.map((c) => c.copy)).toEqual([1, 2, 3].slice(0, MAX_FRESH_COPIES + 1));
    // Each fresh copy leaves as the notice of the one before arrives.
    expect(w.copies.map((c) => c.at)).toEqual([0, 200, 400].slice(0, MAX_FRESH_COPIES + 1));
    const failed = eventsOf(w, "undelivered");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.at).toBe(200 * (MAX_FRESH_COPIES + 1));
    expect(failed[0]!.event).toMatchObject({ type: "undelivered", reason: "ttl" });
  });

  it("a copy re-sent after a late hop acknowledgement keeps the send waiting while the first copy may still arrive", () => {
    // Copy 1's hop times out (it may have arrived); copy 2, the retransmission, is dropped on the way. Copy 1
    // says nothing more: the send waits (no fresh copy, no failure) and ends at its deadline as before.
    const w = run(
      [
        { hop: "timeout", hopAfter: 1_000, end: "silent", reason: "ttl", endAfter: 1 },
        { hop: "acked", hopAfter: 1, end: "drop", reason: "undeliverable", endAfter: 100 },
      ],
      1,
    );
    expect(w.copies.map((c) => c.copy)).toEqual([1, 2]);
    expect(eventsOf(w, "undelivered")).toEqual([]);
    expect(eventsOf(w, "acked")).toEqual([]);
  });
});

describe("drop notices from nodes on the way, at the node that drops", () => {
  function relayDrop(message: Partial<RouteMessage>): PeerMessage[] {
    const [origin, relay, owner] = threeOfSeven(2);
    const m: RouteMessage = {
      id: "m-1",
      key: owner.self.id,
      purpose: 16,
      payload: new Uint8Array(0),
      origin: origin.self,
      hops: 3,
      maxHops: 3,
      wantAck: true,
      ...message,
    };
    relay.takeOutputs();
    relay.receive(origin.self, { type: "route", message: m }, 1);
    return relay
      .takeOutputs()
      .flatMap((o) =>
        o.type === "send" && o.out.to?.id.equals(origin.self.id) === true ? [o.out.message] : [],
      );
  }

  it("a node that drops a numbered copy at its hop limit tells the origin which copy and why", () => {
    expect(relayDrop({ copy: 4 })).toEqual([
      { type: "ack", messageId: "m-1", hops: 3, undelivered: { copy: 4, reason: "ttl" } },
    ]);
  });

  it("no notice for a copy without a number (an older origin) nor for a message that wants no ack", () => {
    expect(relayDrop({})).toEqual([]);
    expect(relayDrop({ copy: 1, wantAck: false })).toEqual([]);
  });
});

describe("drop notices in an overlay whose routes are longer than the hop limit", () => {
  it("every send that wants an ack ends acked or reported undelivered with its hop limit, none left waiting, and no message is delivered twice", () => {
    const overlay = new Overlay({ leafSetSize: 4, maxHops: 1 }, 3);
    const random = seededRandom(11);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 40; i++) overlay.join(randomId(random));
    overlay.events.length = 0;
    const origin = overlay.live()[0]!;
    const ids = Array.from({ length: 60 }, () => overlay.send(origin, randomId(random), true));
    overlay.pump();
    const outcome = new Map<string, string>();
    for (const { at, event } of overlay.events) {
      if (at !== origin) continue;
      if (event.type === "acked") outcome.set(event.messageId, "acked");
      if (event.type === "undelivered") outcome.set(event.messageId, `undelivered ${event.reason}`);
    }
    expect(ids.filter((id) => !outcome.has(id))).toEqual([]);
    const counts = [...outcome.values()].reduce<Record<string, number>>(
      (c, o) => ({ ...c, [o]: (c[o] ?? 0) + 1 }),
      {},
    );
    // Both kinds occur: the test means something on this ring.
    expect(counts["acked"] ?? 0).toBeGreaterThan(0);
    expect(counts["undelivered ttl"] ?? 0).toBeGreaterThan(0);
    for (const id of ids) expect(overlay.deliveriesOf(id).length).toBeLessThanOrEqual(1);
  });
});
