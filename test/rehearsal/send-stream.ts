// A steady stream of acknowledged sends from the rehearsal's client pod while pods come and go, and the
// verdicts on it: which sends landed on a pod other than the owner of that moment, and which failed.
import { NodeId } from "../../src/routing/id.js";
import { presenceDuring, type Absence, type Pod, type TimedSend } from "./ownership.js";
import { sleep, type RehearsedPods } from "./rehearsed-pods.js";

/** Pause between two sends of the stream: a steady trickle, not a load test. */
const STREAM_GAP_MS = 20;
const STREAM_MAX_SENDS = 1500;

export interface StreamSend extends TimedSend {
  readonly deliveredBy?: string;
  readonly incarnation?: number;
  readonly error?: string;
}

export interface SendStream {
  /** Every send so far. */
  readonly sends: StreamSend[];
  /** Sends started after `since` and acknowledged (by pod `ownedBy`, when given). */
  acked(since: number, ownedBy?: string): number;
  /** Ends the stream once the send under way is answered; every send. */
  stop(): Promise<StreamSend[]>;
}

/** A bounded stream of acknowledged sends of `streamKeys`, in turn, from the client pod of `r`. */
export function startStream(
  r: RehearsedPods,
  streamKeys: readonly string[],
  purpose: number,
  deadlineMs: number,
): SendStream {
  const sends: StreamSend[] = [];
  let stopped = false;
  const clientAddress = r.clientPortAddress();
  const done = (async () => {
    for (let n = 0; !stopped && n < STREAM_MAX_SENDS; n++) {
      const key = streamKeys[n % streamKeys.length]!;
      const startedAt = performance.now();
      const reply = await r.client.request({
        op: "send",
        clientAddress,
        key,
        purpose,
        payload: `stream-${n}`,
        deadlineMs,
      });
      const endedAt = performance.now();
      if (reply.ok && "deliveredBy" in reply) {
        sends.push({
          key,
          startedAt,
          endedAt,
          deliveredBy: reply.deliveredBy,
          incarnation: reply.incarnation,
        });
      } else {
        sends.push({ key, startedAt, endedAt, error: reply.ok ? "reply without a delivery" : reply.error });
      }
      await sleep(STREAM_GAP_MS);
    }
  })();
  return {
    sends,
    acked: (since, ownedBy) =>
      sends.filter(
        (s) =>
          s.startedAt > since &&
          s.deliveredBy !== undefined &&
          (ownedBy === undefined || s.deliveredBy === NodeId.fromString(ownedBy).hex),
      ).length,
    stop: async () => {
      stopped = true;
      await done;
      return sends;
    },
  };
}

/** Every acknowledged send that landed on a pod of `pods` other than `owners` of it, described. */
export function misdeliveries(
  sends: readonly StreamSend[],
  pods: readonly Pod[],
  owners: (send: StreamSend) => Set<string>,
): string[] {
  const byId = new Map(pods.map((p) => [p.id.hex, p.podName]));
  return sends.flatMap((s) => {
    if (s.deliveredBy === undefined) return [];
    const rightful = owners(s);
    const at = byId.get(s.deliveredBy) ?? s.deliveredBy;
    return rightful.has(at) ? [] : [`${s.key} delivered by ${at}, owner ${[...rightful].join(" or ")}`];
  });
}

/** Every failed send, with where the absent pod stood meanwhile. */
export function describeFailures(sends: readonly StreamSend[], absence: Absence): string[] {
  return sends
    .filter((s) => s.error !== undefined)
    .map((s) => `${s.key} (${presenceDuring(s, absence)}): ${s.error}`);
}
