// The outbox: everything one input produced, in the order it happened, until the driver takes it (the
// batching point, as raft's Ready). Invariants: outputs leave only through take(), each exactly once and in
// the order they were added; a send's address is chosen here (local address within our region, global
// across), so no other part of the core picks addresses.
import { addressFor } from "./proximity.js";
import type { Millis, NodeInfo, Outbound, Output, PeerMessage, RouteMessage, RoutingEvent } from "./types.js";

/** A message the core decided to send to a known node (collaborators return these; the node sends them). */
export interface PeerSend {
  readonly to: NodeInfo;
  readonly message: PeerMessage;
}

export class Outbox {
  private outputs: Output[] = [];
  /** The one peer whose last send is timed (the predecessor: any message to it stands in for a heartbeat). */
  private watchedHex: string | undefined;
  private watchedSentAt: Millis | undefined;

  /** `clock`: the time of the input being handled. */
  constructor(
    private readonly self: NodeInfo,
    private readonly clock: () => Millis,
  ) {}

  /** Sends `message` to `node` at the address that fits its region. */
  send(node: NodeInfo, message: PeerMessage): void {
    if (node.id.hex === this.watchedHex) this.watchedSentAt = this.clock();
    this.outputs.push({ type: "send", out: { to: node, address: addressFor(this.self, node), message } });
  }

  /** From now on, sends to `hex` are timed (sentToWatchedAt); a different peer than before starts untimed. */
  watch(hex: string | undefined): void {
    if (hex === this.watchedHex) return;
    this.watchedHex = hex;
    this.watchedSentAt = undefined;
  }

  /** When something last went to the watched peer `hex` (undefined if it is not the one watched). */
  sentToWatchedAt(hex: string): Millis | undefined {
    return hex === this.watchedHex ? this.watchedSentAt : undefined;
  }

  /** Sends every decision in `sends`, in order. */
  sendAll(sends: readonly PeerSend[]): void {
    for (const { to, message } of sends) this.send(to, message);
  }

  /** Sends `out` exactly as it is: a retransmission, or a join to a seed's bare address. */
  sendOutbound(out: Outbound): void {
    if (out.to !== undefined && out.to.id.hex === this.watchedHex) this.watchedSentAt = this.clock();
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
