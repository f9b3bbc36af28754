// Joins under traffic, abrupt deaths and graceful leaves, with real node processes.
import { afterAll, describe, expect, it } from "vitest";
import { World, eventually, expectedLeafSet, keys, startInBatches, type PeerOptions } from "./harness.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("churn-secret");
// A small leaf set (4 per side) so that a hole left by a dead node is visible among 16 nodes.
const ENV = { WENDY_TEST_LEAF_SET_SIZE: "8" };
const HALF = 4;

function options(i: number, seeds: string[]): PeerOptions {
  return { name: `c${i}`, host: `127.0.1.${i}`, secret: SECRET, seeds, env: ENV };
}

/** True when every live node's leaf set is exactly what the live membership implies: no dead, no hole. */
async function leafSetsExact(world: World): Promise<boolean> {
  const live = world.live();
  const ids = live.map((p) => p.id);
  const states = await Promise.all(live.map((p) => p.state()));
  return states.every((s) => {
    const have = new Set([...s.left, ...s.right].map((n) => n.id));
    const want = expectedLeafSet(s.info.id, ids, HALF);
    return have.size === want.size && [...want].every((id) => have.has(id));
  });
}

describe("join, failure and leave with real processes", () => {
  const world = new World();
  afterAll(() => world.closeAll());

  it("3.1 joins while traffic flows: nothing swallowed, nothing misdelivered", async () => {
    const first = world.start(options(1, []));
    await first.ready;
    await startInBatches(
      world,
      Array.from({ length: 7 }, (_, i) => options(i + 2, [first.address])),
      4,
    );
    const senders = world.live();
    const sample = keys(240, 11);
    // Eight more nodes join while the messages are in flight.
    const joiners = Array.from({ length: 8 }, (_, i) =>
      world.start(options(i + 9, [senders[i % 8]!.address])),
    );
    const sends = sample.map(async (key, i) => {
      await new Promise((r) => setTimeout(r, (i % 40) * 50));
      const readyBefore = world.live().filter((p) => p.readyOrder !== undefined);
      const reply = await senders[i % senders.length]!.send(key, 16, `j${i}`);
      return { key, reply, readyBefore };
    });
    const results = await Promise.all(sends);
    await Promise.all(joiners.map((j) => j.ready));

    const delivered = world.deliveries.filter((d) => d.payload.startsWith("j"));
    expect(delivered).toHaveLength(sample.length);
    expect(new Set(delivered.map((d) => d.id)).size).toBe(sample.length);
    for (const { key, reply, readyBefore } of results) {
      // No node that was ready before the send may be closer to the key than the node that delivered it.
      expect(world.someoneCloser(key, reply.deliveredBy!, readyBefore), `key ${key}`).toBe(false);
    }
    expect(await eventually(() => leafSetsExact(world), 20_000)).toBe(true);
  });

  it("3.2 kill -9 of a quarter: leaf sets repaired without holes, delivery correct again", async () => {
    const live = world.live();
    expect(live).toHaveLength(16);
    // Four nodes adjacent on the ring: the hardest case for leaf-set repair.
    const sorted = [...live].sort((a, b) => (a.id < b.id ? -1 : 1));
    const victims = sorted.slice(5, 9);
    await Promise.all(victims.map((v) => v.kill()));

    expect(await eventually(() => leafSetsExact(world), 30_000)).toBe(true);
    const survivors = world.live();
    const sample = keys(160, 12);
    const replies = await Promise.all(
      sample.map((key, i) => survivors[i % survivors.length]!.send(key, 16, `k${i}`)),
    );
    replies.forEach((reply, i) =>
      expect(reply.deliveredBy, `key ${sample[i]}`).toBe(world.owner(sample[i]!)),
    );
    const exits = world.events.filter((e) => e.event.ev === "nodeExit");
    const exited = new Set(exits.map((e) => (e.event.ev === "nodeExit" ? e.event.node.id : "")));
    for (const v of victims) expect(exited.has(v.id)).toBe(true);
  });

  it("3.3 graceful stop is announced and repaired at once", async () => {
    const leaver = world.live()[3]!;
    const before = world.events.length;
    await leaver.stop();
    // No failure detection needed: the leave message alone updates the leaf sets.
    expect(await eventually(() => leafSetsExact(world), 3_000, 100)).toBe(true);
    const told = world.events
      .slice(before)
      .filter((e) => e.event.ev === "nodeExit" && e.event.node.id === leaver.id);
    expect(told.length).toBeGreaterThanOrEqual(HALF);
  });

  it("3.4 a node that dies the moment it delivers: delivered again at the next owner, and acknowledged", async () => {
    const seed = world.live()[0]!;
    const mortal = world.start({
      ...options(17, [seed.address]),
      env: { ...ENV, WENDY_TEST_DIE_ON_DELIVER_PURPOSE: "17" },
    });
    await mortal.ready;
    expect(await eventually(() => leafSetsExact(world), 20_000)).toBe(true);
    // Its own ID is a key it owns; the sender is another node, so the hop to it fails with the death.
    const key = mortal.id;
    const sender = world.live().find((p) => p !== mortal)!;
    const reply = await sender.send(key, 17, "last-words");

    expect(mortal.exited).toBe(true);
    const copies = world.deliveries.filter((d) => d.payload === "last-words");
    // Delivery is at most once per node: the dead node delivered once, the next owner once, same message.
    expect(copies.map((d) => d.at).sort()).toEqual([mortal.id, reply.deliveredBy].sort());
    expect(new Set(copies.map((d) => d.id))).toEqual(new Set([reply.messageId]));
    expect(reply.deliveredBy).toBe(world.owner(key));
  });
});
