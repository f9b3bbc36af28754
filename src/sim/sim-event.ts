// What flows through the simulator's event queue, and what its trace hook sees.
import type { SendFailure } from "../routing/node.js";
import type { Outbound } from "../routing/types.js";

export type SimEvent =
  | {
      readonly kind: "arrive";
      readonly from: number;
      readonly to: number;
      readonly out: Outbound;
      readonly sentAt: number;
    }
  | {
      readonly kind: "failed";
      readonly node: number;
      readonly out: Outbound;
      readonly cause: SendFailure;
    }
  | { readonly kind: "connectionLost"; readonly node: number; readonly peer: number }
  /** `peer` acknowledged a call from `node` that it received: `rttMs` after the call went out. */
  | { readonly kind: "acked"; readonly node: number; readonly peer: number; readonly rttMs: number }
  /** `timer`: the node's timer this tick was set as (deadline ticks; a superseded one is skipped). */
  | { readonly kind: "tick"; readonly node: number; readonly timer?: number }
  | { readonly kind: "call"; readonly run: () => void };

export interface TraceEntry {
  readonly at: number;
  readonly what: "send" | "arrive" | "fail";
  readonly from: number;
  /** The destination host, or undefined for an address nobody has. */
  readonly to: number | undefined;
  readonly out: Outbound;
}
