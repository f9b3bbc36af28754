// What happens to a message between two simulated nodes: it arrives after the virtual network's latency, or
// it fails back at its sender, refused ("unreachable": an address nobody has, or a host whose process is
// gone) or timed out ("unknown": lost on the way, or a host gone silent). Every send is counted here.
import { MEASURED_ACKS, type Outbound } from "../routing/types.js";
import type { EventQueue } from "./event-queue.js";
import type { VirtualNetwork } from "./network.js";
import type { Prng } from "./prng.js";
import type { SendCause, SendCounters } from "./send-counters.js";
import type { SimEvent, TraceEntry } from "./sim-event.js";
import type { SimNode } from "./sim-node.js";

export interface VirtualWireOptions {
  readonly queue: EventQueue<SimEvent>;
  readonly network: VirtualNetwork;
  readonly random: Prng;
  readonly counters: SendCounters;
  /** A message lost or sent to a dead node is reported back to its sender this long after it was sent. */
  readonly hopTimeoutMs: number;
  readonly trace: ((entry: TraceEntry) => void) | undefined;
}

export class VirtualWire {
  constructor(private readonly options: VirtualWireOptions) {}

  /**
   * Puts `out` on the wire from `sender`, which sent it while handling `cause`: it arrives after the latency,
   * or fails back at the sender.
   */
  transmit(sender: SimNode, out: Outbound, cause: SendCause): void {
    const { queue, network, counters, hopTimeoutMs } = this.options;
    counters.sent(out.message.type, cause);
    const dest = network.resolve(out.address);
    this.options.trace?.({ at: queue.now, what: "send", from: sender.index, to: dest, out });
    if (dest === undefined) {
      counters.unknownAddress();
      queue.after(hopTimeoutMs, { kind: "failed", node: sender.index, out, cause: "unreachable" });
      return;
    }
    if (out.to !== undefined) {
      const expected = out.to.region === sender.info.region ? out.to.localAddress : out.to.globalAddress;
      if (out.address !== expected) counters.wrongAddressChoice();
    }
    if (network.isLost(this.options.random)) {
      queue.after(hopTimeoutMs, { kind: "failed", node: sender.index, out, cause: "unknown" });
      return;
    }
    queue.after(network.latency(sender.index, dest), {
      kind: "arrive",
      from: sender.index,
      to: dest,
      out,
      sentAt: queue.now,
    });
  }

  /**
   * `out`, sent by `from` at `sentAt`, has just reached the live node `to`: for the types whose round-trip
   * time a runtime reports (MEASURED_ACKS), the acknowledgement travels back (lost as any message may be).
   */
  acknowledge(from: number, to: number, out: Outbound, sentAt: number): void {
    if (!MEASURED_ACKS.has(out.message.type)) return;
    const { queue, network, random } = this.options;
    if (network.isLost(random)) return;
    const back = network.latency(to, from);
    queue.after(back, { kind: "acked", node: from, peer: to, rttMs: queue.now + back - sentAt });
  }

  /** `out`, sent at `sentAt`, reached `target` whose process is no longer up: its sender learns of it. */
  bounce(from: number, target: SimNode, out: Outbound, sentAt: number): void {
    const { queue, network, hopTimeoutMs } = this.options;
    if (target.state === "left" || target.crashKind === "process") {
      // Nobody listens at the address any more: the refusal comes back one hop later.
      queue.after(network.latency(target.index, from), {
        kind: "failed",
        node: from,
        out,
        cause: "unreachable",
      });
    } else {
      queue.schedule(sentAt + hopTimeoutMs, { kind: "failed", node: from, out, cause: "unknown" });
    }
  }
}
