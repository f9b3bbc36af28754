// The simulator models the transport's acknowledgement of the calls whose round trip a runtime reports
// (MEASURED_ACKS): the sender hears the round trip (there and back over the virtual network) as an input.
import { describe, expect, it } from "vitest";
import { createPastryMachine } from "../../src/sim/pastry.js";
import { Simulator } from "../../src/sim/simulator.js";
import type { NodeInfo } from "../../src/routing/types.js";

interface Report {
  readonly reporter: string;
  readonly peer: string;
  readonly rttMs: number;
}

describe("acknowledgements in the simulator", () => {
  it("a heartbeat's or probe reply's sender is told the round trip: both one-way latencies", () => {
    const reports: Report[] = [];
    const sim = new Simulator({
      seed: 5,
      createMachine: (self: NodeInfo, options) => {
        const machine = createPastryMachine(self, options);
        const reportRtt = machine.reportRtt.bind(machine);
        machine.reportRtt = (peer, rttMs, now) => {
          reports.push({ reporter: self.id.hex, peer: peer.id.hex, rttMs });
          reportRtt(peer, rttMs, now);
        };
        return machine;
      },
    });
    sim.grow(12, { growth: 1, spreadMs: 200 });
    sim.runFor(20_000);
    const indexOf = new Map(sim.allNodes().map((n) => [n.info.id.hex, n.index]));
    expect(reports.length).toBeGreaterThan(12);
    for (const r of reports) {
      const a = indexOf.get(r.reporter) as number;
      const b = indexOf.get(r.peer) as number;
      expect(r.rttMs).toBeCloseTo(sim.network.latency(a, b) + sim.network.latency(b, a), 6);
    }
  });
});
