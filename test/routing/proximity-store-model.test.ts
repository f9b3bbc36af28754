import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { ProximityStore } from "../../src/routing/proximity.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const PEERS = 12;
const peers: NodeInfo[] = Array.from({ length: PEERS }, (_, i) =>
  nodeInfo(NodeId.fromBigInt(BigInt(i + 1) << 100n), 4000 + i),
);

type Op =
  | { readonly kind: "record"; readonly peer: number; readonly rtt: number; readonly dt: number }
  | { readonly kind: "forget"; readonly peer: number }
  | { readonly kind: "prune"; readonly dt: number; readonly newEpoch: boolean; readonly kept: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("record" as const),
    peer: fc.integer({ min: 0, max: PEERS - 1 }),
    rtt: fc.integer({ min: 0, max: 200 }),
    dt: fc.integer({ min: 0, max: 800 }),
  }),
  fc.record({ kind: fc.constant("forget" as const), peer: fc.integer({ min: 0, max: PEERS - 1 }) }),
  fc.record({
    kind: fc.constant("prune" as const),
    dt: fc.integer({ min: 0, max: 800 }),
    newEpoch: fc.boolean(),
    kept: fc.integer({ min: 0, max: (1 << PEERS) - 1 }),
  }),
);

describe("ProximityStore against a map model", () => {
  it("holds exactly the model's measurements after any records, forgets, evictions and prunes (property)", () => {
    // The model: ID -> time of its last sample, in insertion order; full, the oldest not kept goes (else the
    // oldest); prune drops every measurement at least maxAge old whose peer is not kept. `keep` changes only
    // with a new epoch, as the store's contract asks.
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 150 }),
        fc.integer({ min: 2, max: PEERS }),
        (ops, capacity) => {
          let keptMask = 0;
          const keep = (hex: string): boolean => {
            const i = peers.findIndex((p) => p.id.hex === hex);
            return ((keptMask >> i) & 1) === 1;
          };
          const store = new ProximityStore(peers[0] as NodeInfo, 10, { capacity, keep });
          const model = new Map<string, number>();
          let now = 0;
          let epoch = 0;
          for (const op of ops) {
            if (op.kind === "record") {
              now += op.dt;
              const peer = peers[op.peer] as NodeInfo;
              if (!model.has(peer.id.hex) && model.size >= capacity) {
                const victim = [...model.keys()].find((hex) => !keep(hex)) ?? [...model.keys()][0];
                model.delete(victim as string);
              }
              model.set(peer.id.hex, now);
              store.record(peer, op.rtt, now);
            } else if (op.kind === "forget") {
              const hex = (peers[op.peer] as NodeInfo).id.hex;
              model.delete(hex);
              store.forget(hex);
            } else {
              now += op.dt;
              if (op.newEpoch) {
                epoch++;
                keptMask = op.kept;
              }
              for (const [hex, at] of [...model]) if (now - at >= 1_000 && !keep(hex)) model.delete(hex);
              store.prune(now, 1_000, epoch);
            }
            expect(store.size).toBe(model.size);
            for (const peer of peers) expect(store.rtt(peer) !== undefined).toBe(model.has(peer.id.hex));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
