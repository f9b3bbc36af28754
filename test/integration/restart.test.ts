// A node killed with kill -9 and started again at once under the same ID and address, as a StatefulSet's
// kubelet restarts a container: its peers still hold the dead incarnation, and their channels to that
// address saw the connection refused. Found by the StatefulSet rehearsal, where such a pod once took more than
// 90 s to be ready, and here, where it was ready with a leaf set missing live members.
import { afterAll, describe, expect, it } from "vitest";
import { World, keys, type PeerOptions } from "./harness.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("restart-secret");
/** A fixed port, so the restarted process listens where the old one did. */
const PORT = 7311;
const NODES = 5;

function options(i: number, seeds: string[]): PeerOptions {
  return {
    name: `r${i}`,
    host: `127.0.2.${i}`,
    secret: SECRET,
    seeds,
    env: { WENDY_TEST_PORT: String(PORT) },
  };
}

describe("a node restarted in place (same ID, same address)", () => {
  const world = new World();
  afterAll(() => world.closeAll());

  it("rejoins with its whole leaf set and owns its keys again, round after round", async () => {
    const first = world.start(options(1, []));
    await first.ready;
    const rest = Array.from({ length: NODES - 1 }, (_, i) => world.start(options(i + 2, [first.address])));
    await Promise.all(rest.map((p) => p.ready));

    for (const [round, name] of ["r2", "r3", "r4", "r5"].entries()) {
      const victim = world.live().find((p) => p.options.name === name)!;
      const id = victim.id;
      await victim.kill();
      const restartedAt = performance.now();
      const again = world.start({ ...victim.options, seeds: [first.address] });
      await again.ready;
      const readyAfter = performance.now() - restartedAt;
      expect(again.id).toBe(id);

      // Right at readiness, before any repair could help: every live node is in its leaf set (a ring of five).
      const state = await again.state();
      const members = new Set([...state.left, ...state.right].map((n) => n.id));
      const others = world.live().filter((p) => p !== again);
      expect([...members].sort(), `${name}'s leaf set when ready`).toEqual(others.map((p) => p.id).sort());

      const sample = keys(40, 20 + round);
      const live = world.live();
      const replies = await Promise.all(
        sample.map((key, i) => live[i % live.length]!.send(key, 16, `restart-${round}-${i}`)),
      );
      replies.forEach((reply, i) => expect(reply.deliveredBy, sample[i]).toBe(world.owner(sample[i]!)));
      process.stderr.write(`[restart] ${name}: ready ${readyAfter.toFixed(0)} ms after the restart\n`);
    }
  }, 180_000);
});
