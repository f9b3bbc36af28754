// The outbox: everything one input produced, in the order it happened, until the driver takes it (the
// batching point, as raft's Ready). Invariants: outputs leave only through take(), each exactly once and in
// the order they were added; a send's address is chosen here (local address within our region, global
// across), so no other part of the core picks addresses.
import { addressFor } from "./proximity.js";
import type { NodeInfo, Outbound, Output, PeerMessage, RouteMessage, RoutingEvent } from "./types.js";

/** A message the core decided to send to a known node (collaborators return these; the node sends them). */
export interface PeerSend {
  readonly to: NodeInfo;
  readonly message: PeerMessage;
}

export class Outbox {
  private outputs: Output[] = [];

  constructor(private readonly self: NodeInfo) {}

  /** Sends `message` to `node` at the address that fits its region. */
  send(node: NodeInfo, message: PeerMessage): void {
    this.outputs.push({ type: "send", out: { to: node, address: addressFor(this.self, node), message } });
  }

  /** Sends every decision in `sends`, in order. */
  sendAll(sends: readonly PeerSend[]): void {
    for (const { to, message } of sends) this.send(to, message);
  }

  /** Sends `out` exactly as it is: a retransmission, or a join to a seed's bare address. */
  sendOutbound(out: Outbound): void {
    this.outputs.push({ type: "send", out });
  }

  deliver(message: RouteMessage): void {
    this.outputs.push({ type: "deliver", message });
  }

  /** Announces a forward and sends the route hop that carries it (the driver sees both, forward first). */
  forward(message: RouteMessage, next: NodeInfo): void {
    this.outputs.push({ type: "forward", message, next });
    this.send(next, { type: "route", message });
  }

  event(event: RoutingEvent): void {
    this.outputs.push({ type: "event", event });
  }

  /** Everything added since the last take, oldest first; the outbox is empty afterwards. */
  take(): Output[] {
    const taken = this.outputs;
    this.outputs = [];
    return taken;
  }
}
