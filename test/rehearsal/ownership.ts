// Which pod must have delivered a message: the pod whose node ID is numerically closest to the key among
// the pods in the ring at that moment. While one pod leaves or rejoins, a send that overlaps the change may
// rightly land on either side of it; every other send has exactly one right owner.
import { NodeId, closestTo } from "../../src/routing/id.js";

export interface Pod {
  readonly podName: string;
  readonly id: NodeId;
}

/** When one pod was away: all in milliseconds on one clock (performance.now()). */
export interface Absence {
  readonly podName: string;
  /** SIGTERM (or SIGKILL) sent. */
  readonly leavingAt: number;
  /** Its process was seen to have exited. */
  readonly goneAt: number;
  /** Started again. */
  readonly restartedAt: number;
  /** Seen ready again (its readiness probe answered). */
  readonly readyAt: number;
}

export interface TimedSend {
  readonly key: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

export function ownerOf(key: NodeId, pods: readonly Pod[]): Pod {
  const owner = closestTo(key, pods);
  if (owner === undefined) throw new Error("no pods");
  return owner;
}

export type Presence = "present" | "absent" | "changing";

/** Where the absent pod stood for the whole of one send. */
export function presenceDuring(send: TimedSend, absence: Absence): Presence {
  if (send.endedAt < absence.leavingAt || send.startedAt > absence.readyAt) return "present";
  if (send.startedAt > absence.goneAt && send.endedAt < absence.restartedAt) return "absent";
  return "changing";
}

/** The pods that may rightly have delivered `send` (one, or two while the ring changes). */
export function rightfulOwners(send: TimedSend, pods: readonly Pod[], absence: Absence): Set<string> {
  const key = NodeId.fromString(send.key);
  const withIt = ownerOf(key, pods).podName;
  const without = ownerOf(
    key,
    pods.filter((p) => p.podName !== absence.podName),
  ).podName;
  switch (presenceDuring(send, absence)) {
    case "present":
      return new Set([withIt]);
    case "absent":
      return new Set([without]);
    case "changing":
      return new Set([withIt, without]);
  }
}
