import { describe, expect, it } from "vitest";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

describe("2.2 routing over a built overlay", () => {
  it("delivers every key at the numerically closest live node", () => {
    const overlay = new Overlay({ leafSetSize: 8 }, 7);
    const random = seededRandom(99);
    overlay.bootstrap(randomId(random));
    for (let i = 0; i < 40; i++) overlay.join(randomId(random));
    const nodes = overlay.live();
    expect(nodes.every((n) => n.isReady())).toBe(true);
    for (let i = 0; i < 200; i++) {
      const key = randomId(random);
      const from = nodes[i % nodes.length]!;
      const id = overlay.send(from, key);
      overlay.pump();
      const deliveries = overlay.deliveriesOf(id);
      expect(deliveries.map((d) => d.at.self.id.hex)).toEqual([overlay.trueOwner(key).self.id.hex]);
    }
  });
});
