// Regions: a peer in the same region is reached on its local address, any other on its global address.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, keys, startInBatches, type PeerOptions } from "./harness.js";
import { testSecret } from "../helpers/secrets.js";

const world = new World();

// Region "east" lives on 127.0.3.x (local) / 127.0.4.x (global); "west" on 127.0.5.x / 127.0.6.x. Each node
// listens on both of its addresses (one port), so the address a peer chose is the only difference.
function node(region: "east" | "west", i: number, seeds: string[]): PeerOptions {
  const [local, global] = region === "east" ? ["127.0.3", "127.0.4"] : ["127.0.5", "127.0.6"];
  return {
    name: `${region}-${i}`,
    host: `${local}.${i}`,
    globalHost: `${global}.${i}`,
    bind: `${local}.${i},${global}.${i}`,
    region,
    secret: testSecret("regions"),
    seeds,
  };
}

beforeAll(async () => {
  const first = world.start(node("east", 1, []));
  await first.ready;
  // Operators in the other region seed through the founder's global address, as they would in production.
  await startInBatches(
    world,
    [
      node("east", 2, [first.address]),
      node("east", 3, [first.address]),
      node("west", 1, [first.info!.globalAddress]),
      node("west", 2, [first.info!.globalAddress]),
      node("west", 3, [first.info!.globalAddress]),
    ],
    3,
  );
}, 60_000);

afterAll(() => world.closeAll());

describe("regions", () => {
  it("routes every key to its owner across regions as soon as all six are ready", async () => {
    // No waiting for convergence: a node that reports ready knows its leaf set, concurrent joins included.
    const sample = keys(60, 21);
    const nodes = world.live();
    const replies = await Promise.all(sample.map((k, i) => nodes[i % nodes.length]!.send(k, 16, `r${i}`)));
    replies.forEach((r, i) => expect(r.deliveredBy).toBe(world.owner(sample[i]!)));
  });

  it("uses local addresses inside a region and global addresses across", async () => {
    const byId = new Map(world.live().map((p) => [p.id, p.info!]));
    for (const peer of world.live()) {
      const state = await peer.state();
      expect(state.connected.length).toBeGreaterThan(0);
      for (const address of state.connected) {
        const target = [...byId.values()].find(
          (n) => n.localAddress === address || n.globalAddress === address,
        );
        expect(target, `${address} is one of the nodes`).toBeDefined();
        const sameRegion = target!.region === state.info.region;
        expect(address).toBe(sameRegion ? target!.localAddress : target!.globalAddress);
      }
      // Every node talked to both regions, so both rules were exercised.
      const regions = new Set(
        state.connected.map(
          (a) => [...byId.values()].find((n) => n.localAddress === a || n.globalAddress === a)!.region,
        ),
      );
      expect(regions).toEqual(new Set(["east", "west"]));
    }
  });
});
