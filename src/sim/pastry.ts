// Adapts the routing core's PastryNode to the simulator's RoutingMachine view (a flat leaf set and a
// routing-table entry count); every protocol input goes straight through to the real machine.
import type { NodeId } from "../routing/id.js";
import { PastryNode } from "../routing/node.js";
import type {
  Millis,
  NodeInfo,
  Output,
  Outbound,
  PeerMessage,
  RandomSource,
  RoutingConfig,
} from "../routing/types.js";
import type { MachineFactory, RoutingMachine } from "./machine.js";

export class PastryMachine implements RoutingMachine {
  readonly node: PastryNode;

  constructor(self: NodeInfo, options: { random: RandomSource; config: Partial<RoutingConfig> }) {
    this.node = new PastryNode(self, options);
  }

  bootstrap(now: Millis): void {
    this.node.bootstrap(now);
  }

  join(seedAddresses: string[], now: Millis): void {
    this.node.join(seedAddresses, now);
  }

  receive(from: NodeInfo, msg: PeerMessage, now: Millis): void {
    this.node.receive(from, msg, now);
  }

  send(
    key: NodeId,
    purpose: number,
    payload: Uint8Array,
    options: { wantAck: boolean },
    now: Millis,
  ): string {
    return this.node.send(key, purpose, payload, options, now);
  }

  sendFailed(out: Outbound, now: Millis): void {
    this.node.sendFailed(out, now);
  }

  tick(now: Millis): void {
    this.node.tick(now);
  }

  leave(now: Millis): void {
    this.node.leave(now);
  }

  takeOutputs(): Output[] {
    return this.node.takeOutputs();
  }

  isReady(): boolean {
    return this.node.isReady();
  }

  leafSet(): readonly NodeInfo[] {
    const { left, right } = this.node.leafSet();
    return [...left, ...right];
  }

  neighbourhood(): readonly NodeInfo[] {
    return this.node.neighbourhood();
  }

  routingTable(): ReadonlyArray<ReadonlyArray<NodeInfo | undefined>> {
    return this.node.routingTable();
  }

  routingTableSize(): number {
    return this.node.stats().routingTableEntries;
  }
}

export const createPastryMachine: MachineFactory = (self, options) => new PastryMachine(self, options);
