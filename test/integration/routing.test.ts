// Real nodes, each its own OS process on its own loopback address, joined over gRPC with authentication.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, eventually, keys, type PeerProcess } from "./harness.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("integration-secret");
const world = new World();
let nodes: PeerProcess[] = [];

beforeAll(async () => {
  // Two seeds: the first node founds the ring, later nodes join through either of the first two.
  const first = world.start({ name: "n1", host: "127.0.0.1", secret: SECRET });
  await first.ready;
  const second = world.start({ name: "n2", host: "127.0.0.2", secret: SECRET, seeds: [first.address] });
  await second.ready;
  const rest = Array.from({ length: 14 }, (_, i) =>
    world.start({
      name: `n${i + 3}`,
      host: `127.0.0.${i + 3}`,
      secret: SECRET,
      env: { WENDY_TEST_VETO_PURPOSE: "17", WENDY_TEST_MODIFY_PURPOSE: "18" },
      seeds: i % 2 === 0 ? [first.address] : [second.address, first.address],
    }),
  );
  await Promise.all(rest.map((p) => p.ready));
  nodes = world.peers;
}, 120_000);

afterAll(() => world.closeAll());

describe("2.2 routing across 16 processes", () => {
  it("every node joined and sees the others in its leaf set", async () => {
    expect(nodes).toHaveLength(16);
    // With 16 nodes and l = 32, every leaf set holds every other node once the joins settle.
    const settled = await eventually(async () => {
      const states = await Promise.all(nodes.map((n) => n.state()));
      return states.every((s) => s.ready && new Set([...s.left, ...s.right].map((x) => x.id)).size === 15);
    }, 20_000);
    expect(settled).toBe(true);
  });

  it("delivers every message exactly once, at the numerically closest node", async () => {
    const sample = keys(320, 7);
    const replies = await Promise.all(
      sample.map((key, i) => nodes[i % nodes.length]!.send(key, 16, `m${i}`)),
    );
    for (const [i, reply] of replies.entries()) {
      expect(reply.deliveredBy, `key ${sample[i]}`).toBe(world.owner(sample[i]!));
    }
    const ids = new Set(replies.map((r) => r.messageId));
    const delivered = world.deliveries.filter((d) => ids.has(d.id));
    expect(delivered).toHaveLength(sample.length);
    expect(new Set(delivered.map((d) => d.id)).size).toBe(sample.length);
    for (const d of delivered) expect(d.at).toBe(world.owner(d.key));
    const hops = delivered.map((d) => d.hops);
    // log16(16) = 1: with a full leaf set every message is at most one hop away.
    expect(Math.max(...hops)).toBeLessThanOrEqual(1);
  });

  it("a forward callback can veto a message", async () => {
    // Nodes 3..16 veto purpose 17 when forwarding; a key owned by node 1 sent from node 3 must cross one.
    const key = nodes[0]!.id;
    const from = nodes[2]!;
    await from.send(key, 17, "vetoed", false);
    const alsoSent = await from.send(key, 16, "control");
    expect(alsoSent.deliveredBy).toBe(nodes[0]!.id);
    const seen = await eventually(async () => world.deliveries.some((d) => d.payload === "control"), 5_000);
    expect(seen).toBe(true);
    expect(world.deliveries.some((d) => d.payload === "vetoed")).toBe(false);
  });

  it("a forward callback can change the payload on the way", async () => {
    const key = nodes[1]!.id;
    const from = nodes[5]!;
    const reply = await from.send(key, 18, "original");
    expect(reply.deliveredBy).toBe(nodes[1]!.id);
    const delivered = world.deliveries.find((d) => d.purpose === 18);
    expect(delivered?.payload).toBe(`modified by ${from.id}`);
  });

  it("refuses reserved purposes and oversized payloads from applications with INVALID_ARGUMENT", async () => {
    await expect(nodes[0]!.send(nodes[3]!.id, 5, "reserved")).rejects.toMatchObject({ code: 3 });
    await expect(nodes[0]!.send(nodes[3]!.id, 16, "x".repeat(4 * 1024 * 1024 + 1))).rejects.toMatchObject({
      code: 3,
    });
    // The node is still serving.
    const reply = await nodes[0]!.send(nodes[3]!.id, 16, "after");
    expect(reply.deliveredBy).toBe(nodes[3]!.id);
  });
});
