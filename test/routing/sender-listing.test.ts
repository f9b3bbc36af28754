import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clockwiseDistance, NodeId } from "../../src/routing/id.js";
import { SenderListing } from "../../src/routing/maintenance-tuning.js";
import { nodeInfo } from "./overlay-harness.js";

const RING = 1n << 128n;

/**
 * The rule in bigints only: `member` is within the sender's `half` nearest in either direction (each side of
 * a leaf set is the l/2 nearest in its own direction), as SenderListing computes it after its approximate
 * first pass.
 */
function exactShouldList(sender: NodeId, listed: readonly NodeId[], member: NodeId, half: number): boolean {
  if (member.equals(sender) || listed.some((id) => id.equals(member))) return false;
  const within = (clockwise: boolean): boolean => {
    const distance = (id: NodeId): bigint =>
      clockwise ? clockwiseDistance(sender, id) : clockwiseDistance(id, sender);
    const reach = distance(member);
    let between = 0;
    for (const id of listed) {
      const d = distance(id);
      if (d > 0n && d < reach) between++;
    }
    return between < half;
  };
  return within(true) || within(false);
}

/**
 * IDs near a few anchors (offsets below 2^80, so their top 52 bits are equal or adjacent and the
 * approximation often cannot tell them apart), at the half-ring point from them, or anywhere.
 */
const anchors = [0n, 1n << 127n, (1n << 127n) + (1n << 76n), RING - 1n, 0x5a5a5a5a5a5a5n << 76n];
const idArb = fc.oneof(
  fc
    .tuple(fc.constantFrom(...anchors), fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }))
    .map(([a, d]) => NodeId.fromBigInt(a + d)),
  fc.bigInt({ min: 0n, max: RING - 1n }).map((v) => NodeId.fromBigInt(v)),
);

describe("SenderListing", () => {
  it("answers shouldList exactly as the all-bigint rule, also for IDs whose top bits are equal or adjacent (property)", () => {
    fc.assert(
      fc.property(
        idArb,
        fc.array(idArb, { maxLength: 40 }),
        fc.array(idArb, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 16 }),
        (sender, listed, members, half) => {
          const listing = new SenderListing(
            sender,
            listed.map((id, i) => nodeInfo(id, 1000 + i)),
          );
          for (const member of [...members, ...listed, sender])
            expect(listing.shouldList(member, half)).toBe(exactShouldList(sender, listed, member, half));
        },
      ),
      { numRuns: 300 },
    );
  });
});
