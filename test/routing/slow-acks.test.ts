// A hop to a live peer whose acknowledgements are slow (a loaded machine): the routing core keeps giving it
// the hop, marking each retransmission so the transport backs off its wait, until the send's own deadline.
// A delivered message whose end-to-end ack comes late is acked, never reported dropped before that.
import { describe, expect, it } from "vitest";
import type { PastryNode } from "../../src/routing/node.js";
import type { Outbound, PeerMessage, RoutingEvent } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

/** What the test's transport does next, at `at`. */
type Step =
  | { readonly at: number; readonly kind: "hopFailed"; readonly out: Outbound }
  | { readonly at: number; readonly kind: "fromTarget"; readonly message: PeerMessage };

interface Run {
  /** Attempt marks of the hops sent to the target, in order (0: a first send). */
  readonly attempts: number[];
  /** Route hops sent anywhere but the target. */
  elsewhere: number;
  /** The origin's events, with the time of the input that produced each. */
  readonly events: { readonly at: number; readonly event: RoutingEvent }[];
}

/**
 * The origin sends one message that wants an ack to the key of `target`, a live node that answers probes
 * 50 ms later. The transport fails each hop to it `timeoutFor(attempt)` after sending it (its ack is slow or
 * lost); the target delivers the first copy, and its end-to-end ack reaches the origin at `ackAt`
 * (Infinity: never). Inputs run in time order until `until`: a bounded queue of at most `maxSteps` steps.
 */
function run(
  origin: PastryNode,
  target: PastryNode,
  options: { deadline: number; ackAt: number; timeoutFor: (attempt: number) => number; until: number },
): Run {
  const result: Run = { attempts: [], elsewhere: 0, events: [] };
  const queue: Step[] = [];
  const id = origin.send(
    target.self.id,
    16,
    new Uint8Array([1]),
    { wantAck: true, deadline: options.deadline },
    0,
  );
  let delivered = false;
  const collect = (at: number): void => {
    for (const output of origin.takeOutputs()) {
      if (output.type === "event") result.events.push({ at, event: output.event });
      if (output.type !== "send") continue;
      const out = output.out;
      const toTarget = out.to?.id.equals(target.self.id) === true;
      if (out.message.type === "route") {
        if (!toTarget) {
          result.elsewhere++;
          continue;
        }
        const attempt = out.attempt ?? 0;
        result.attempts.push(attempt);
        if (!delivered) {
          delivered = true;
          if (Number.isFinite(options.ackAt))
            queue.push({
              at: options.ackAt,
              kind: "fromTarget",
              message: { type: "ack", messageId: id, hops: 1 },
            });
        }
        queue.push({ at: at + options.timeoutFor(attempt), kind: "hopFailed", out });
      } else if (out.message.type === "probe" && toTarget) {
        const reply: PeerMessage = { type: "probeReply", echoSentAt: at, leafSet: [], ready: true };
        queue.push({ at: at + 50, kind: "fromTarget", message: reply });
      }
    }
  };
  collect(0);
  for (let steps = 0; steps < 1_000 && queue.length > 0; steps++) {
    queue.sort((a, b) => a.at - b.at);
    const step = queue.shift() as Step;
    if (step.at > options.until) break;
    if (step.kind === "hopFailed") origin.sendFailed(step.out, step.at, "unknown");
    else origin.receive(target.self, step.message, step.at);
    collect(step.at);
  }
  return result;
}

function twoOfSeven(): [PastryNode, PastryNode] {
  const overlay = new Overlay({ leafSetSize: 8 }, 5);
  const random = seededRandom(8);
  overlay.bootstrap(randomId(random));
  for (let i = 0; i < 6; i++) overlay.join(randomId(random));
  const [origin, target] = overlay.live();
  origin!.takeOutputs();
  return [origin!, target!];
}

const outcomes = (r: Run): string[] =>
  r.events.flatMap(({ event }) =>
    event.type === "acked" ? ["acked"] : event.type === "dropped" ? [`dropped ${event.reason}`] : [],
  );

describe("slow acknowledgements from a live next hop", () => {
  it("a hop acked only after 9 s is resent with doubling waits and the late ack completes the send, nothing dropped", () => {
    const [origin, target] = twoOfSeven();
    // The transport waits 1 s for a first send, twice as long for each earlier failed send of the hop.
    const r = run(origin, target, {
      deadline: 15_000,
      ackAt: 9_000,
      timeoutFor: (a) => 1_000 * 2 ** a,
      until: 20_000,
    });
    expect(outcomes(r)).toEqual(["acked"]);
    expect(r.attempts).toEqual([0, 1, 2, 3]);
    expect(r.elsewhere).toBe(0);
    expect(r.events.find(({ event }) => event.type === "acked")?.at).toBe(9_000);
  });

  it("a hop never acknowledged goes to the live node only, until the send's deadline; then dropped unacknowledged", () => {
    const [origin, target] = twoOfSeven();
    // A transport that does not back off (every send waits 1 s): the deadline still bounds the retries.
    const r = run(origin, target, {
      deadline: 8_000,
      ackAt: Infinity,
      timeoutFor: () => 1_000,
      until: 20_000,
    });
    expect(r.elsewhere).toBe(0);
    expect(r.attempts.length).toBeGreaterThanOrEqual(5);
    expect(outcomes(r)).toEqual(["dropped unacknowledged"]);
    const droppedAt = r.events.find(({ event }) => event.type === "dropped")?.at ?? 0;
    expect(droppedAt).toBeGreaterThanOrEqual(8_000);
    expect(droppedAt).toBeLessThan(8_000 + 1_100);
  });
});
