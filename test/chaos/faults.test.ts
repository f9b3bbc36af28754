// Each fault does what it says to real packets and real node processes, and healing undoes it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, eventually, type PeerProcess } from "../integration/harness.js";
import { addLoss, freeze, heal, killHard, listRules, partition, restart, thaw } from "./lib/faults.js";
import { TestNetwork } from "./lib/netns.js";
import { startEchoServer, tcpRoundTrips } from "./lib/probe.js";
import { delayLink } from "./lib/relay.js";
import { withTimeout } from "./lib/scenario.js";
import type { ChildProcess } from "node:child_process";
import { testSecret } from "../helpers/secrets.js";

let net: TestNetwork;
const echoes: ChildProcess[] = [];
const world = new World();

beforeAll(async () => {
  net = await TestNetwork.create(4);
  for (const i of [1, 2, 3]) echoes.push(await startEchoServer(net, i, 7002, 120_000));
});

afterAll(async () => {
  for (const e of echoes) e.kill("SIGKILL");
  await world.closeAll();
  await net.destroy();
});

const target = (i: number): string => `${net.node(i).address}:7002`;

describe("packet faults", () => {
  it("a partition cuts both directions between the groups and nothing else; heal restores them", async () => {
    await partition(net, [0, 1], [2, 3]);
    expect(await tcpRoundTrips(net, 0, target(2), 1, 1000)).toBe("unreachable");
    expect(await tcpRoundTrips(net, 3, target(1), 1, 1000)).toBe("unreachable");
    expect(await tcpRoundTrips(net, 0, target(1))).not.toBe("unreachable");
    expect(await tcpRoundTrips(net, 2, target(3))).not.toBe("unreachable");
    await heal(net);
    expect(await tcpRoundTrips(net, 0, target(2))).not.toBe("unreachable");
    expect(await tcpRoundTrips(net, 3, target(1))).not.toBe("unreachable");
    expect(await listRules(net, 0)).not.toContain("drop");
  });

  it("loss drops a share of the packets on the chosen link while TCP still gets through", async () => {
    await addLoss(net, [0], [1], 10);
    // 10 %, not more: a round trip fails when either of its two packets is dropped (19 % here), and TCP backs
    // off on each failure (the SYN after 1, 2, 4, 8, 16 s), so the 40 s bound is passed only after five
    // failures in a row, about 0.19^5 = 2.5e-4 per connection. At 30 % loss those odds were 0.51^5 = 3.5 %, and
    // CI met them.
    // Both sides' rules count what they dropped. One exchange is some 25 packets over the link, and 0.9^25 (about
    // 7 %) of exchanges lose none, so exchanges are repeated until a drop is counted: eight without any would
    // be odds of about 1 in 10^9, or a rule that drops nothing.
    const dropCount = async (i: number): Promise<number> => {
      const counted = /numgen random mod 100 < 10 counter packets (\d+)/.exec(await listRules(net, i));
      expect(counted).not.toBeNull();
      return Number(counted![1]);
    };
    let dropped = 0;
    for (let exchange = 0; exchange < 8 && dropped === 0; exchange++) {
      const rtts = await tcpRoundTrips(net, 0, target(1), 8, 40_000);
      expect(rtts).not.toBe("unreachable");
      dropped = (await dropCount(0)) + (await dropCount(1));
    }
    expect(dropped).toBeGreaterThan(0);
    await heal(net);
    expect(await listRules(net, 0)).not.toContain("numgen");
    expect(await listRules(net, 1)).not.toContain("numgen");
  }, 120_000);

  it("a delayed link goes through the relay (slower); other links stay direct", async () => {
    const relay = await delayLink(net, 0, target(3), { minDelayMs: 80, maxDelayMs: 120, lifetimeMs: 60_000 });
    try {
      const slow = await tcpRoundTrips(net, 0, target(3), 3, 10_000);
      const direct = await tcpRoundTrips(net, 1, target(3), 3, 10_000);
      expect(slow).not.toBe("unreachable");
      expect(direct).not.toBe("unreachable");
      // Each round trip crosses the relay twice: at least 2 x 80 ms.
      for (const rtt of slow as number[]) expect(rtt).toBeGreaterThanOrEqual(155);
      expect(Math.min(...(direct as number[]))).toBeLessThan(155);
    } finally {
      await relay.stop();
    }
  });
});

describe("process faults on Wendy nodes inside namespaces", () => {
  let first: PeerProcess;
  let second: PeerProcess;

  beforeAll(async () => {
    first = world.start({
      name: "f1",
      host: net.node(0).address,
      secret: testSecret("faults"),
      wrap: net.wrap(0),
    });
    await first.ready;
    second = world.start({
      name: "f2",
      host: net.node(1).address,
      secret: testSecret("faults"),
      wrap: net.wrap(1),
      seeds: [first.address],
    });
    await second.ready;
  });

  it("a frozen node answers nothing until thawed", async () => {
    freeze(second);
    expect(await withTimeout(second.state(), 1000)).toBe("timeout");
    thaw(second);
    const state = await withTimeout(second.state(), 10_000);
    expect(state).not.toBe("timeout");
  });

  it("kill -9 ends the process; restart brings the same ID back with a fresh process", async () => {
    const id = second.id;
    const oldPid = second.child.pid;
    await killHard(second);
    expect(second.exited).toBe(true);
    const again = restart(world, second, [first.address]);
    await again.ready;
    expect(again.id).toBe(id);
    expect(again.child.pid).not.toBe(oldPid);
    const rejoined = await eventually(async () => {
      const s = await first.state();
      return [...s.left, ...s.right].some((n) => n.id === id);
    }, 20_000);
    expect(rejoined).toBe(true);
  });
});
