// WatchOwnership across real node processes: once the ring is quiet, the ranges the nodes report cover the
// ring exactly once and agree with Lookup and with where sends are delivered, through joins, graceful leaves
// and kill -9; every change names the neighbour the keys came from or went to, and epochs go up by one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId, closestTo } from "../../src/routing/id.js";
import { rangeHas, type KeyRange } from "../../src/routing/ownership.js";
import {
  WendyClient,
  type ClientStream,
  type OwnershipUpdate,
  type ReceiveStream,
} from "../../src/client/index.js";
import { NodeProcesses, type LoadedNode, type StartedNode } from "../helpers/node-processes.js";
import { waitFor } from "../helpers/wait.js";

const RING = 1n << 128n;
const PURPOSE = 77;
/** No update from any node for this long (several failure timeouts of the test nodes): the ring is quiet. */
const QUIET_MS = 3000;
const QUIET_LIMIT_MS = 60_000;

interface Watched {
  readonly node: StartedNode;
  readonly client: WendyClient;
  readonly stream: ClientStream<OwnershipUpdate>;
  readonly updates: OwnershipUpdate[];
  /** An application that acknowledges every delivery: an acknowledged send needs one at the owner. */
  readonly app: ReceiveStream;
}

const processes = new NodeProcesses();
const live = new Map<string, Watched>();
let lastUpdateAt = 0;
let seed: string | undefined;

/** Starts a node (one loaded ahead, or a new one by name), joining through `seed` once there is one. */
async function add(node: LoadedNode | string): Promise<Watched> {
  const rest = seed === undefined ? {} : { seed };
  return watch(
    await (typeof node === "string" ? processes.start({ name: node, ...rest }) : node.start(rest)),
  );
}

async function watch(node: StartedNode): Promise<Watched> {
  const client = new WendyClient(node.clientAddress, { reconnectWindowMs: 1000 });
  const watched: Watched = {
    node,
    client,
    stream: client.watchOwnership(),
    updates: [],
    app: client.receive([PURPOSE]),
  };
  void (async () => {
    for await (const delivery of watched.app) delivery.ack();
  })().catch(() => undefined);
  await watched.app.ready;
  void (async () => {
    try {
      for await (const update of watched.stream) {
        watched.updates.push(update);
        lastUpdateAt = Date.now();
      }
    } catch {
      // the node went away (a leave or a kill in this test)
    }
  })();
  live.set(node.id, watched);
  return watched;
}

function remove(watched: Watched): void {
  live.delete(watched.node.id);
  watched.stream.close();
  watched.app.close();
  watched.client.close();
}

async function leave(watched: Watched): Promise<void> {
  remove(watched);
  await processes.stop(watched.node);
}

async function kill(watched: Watched): Promise<void> {
  remove(watched);
  const exited = new Promise((resolve) => watched.node.process.once("exit", resolve));
  watched.node.process.kill("SIGKILL");
  await exited;
}

/** The latest range each live node reported, sorted by first key. */
function reportedRanges(): { id: string; range: KeyRange }[] {
  const reported = [...live.values()].map((w) => ({ id: w.node.id, range: latest(w).range }));
  return reported.sort((a, b) => a.range.first.compare(b.range.first));
}

/** True when the ranges cover the ring exactly once: each starts right after the previous one ends. */
function tileTheRing(reported: { range: KeyRange }[]): boolean {
  return (
    reported.reduce((sum, r) => sum + r.range.size, 0n) === RING &&
    reported.every(
      (r, i) => reported[(i + 1) % reported.length]!.range.first.value === (r.range.last.value + 1n) % RING,
    )
  );
}

/**
 * Waits until every live node has reported a range, the ranges tile the ring, and none has reported anything
 * for QUIET_MS. Silence alone is not enough: a kill -9 is seen when the victim's neighbours notice it (a broken
 * connection at once, or missed heartbeats: up to heartbeat + failure timeout later, longer than QUIET_MS on a
 * loaded machine), and until then the ring is silent with the victim's range uncovered.
 */
async function quiet(): Promise<void> {
  lastUpdateAt = Date.now();
  await waitFor(
    "the ring to be quiet, its ranges covering it exactly once",
    () =>
      [...live.values()].every((w) => w.updates.length > 0) &&
      tileTheRing(reportedRanges()) &&
      Date.now() - lastUpdateAt >= QUIET_MS
        ? true
        : undefined,
    QUIET_LIMIT_MS,
    100,
  );
}

const latest = (w: Watched): OwnershipUpdate => w.updates.at(-1)!;
const liveNodes = (): { id: NodeId }[] => [...live.keys()].map((hex) => ({ id: NodeId.fromHex(hex) }));

/** The check made after every change of membership. */
async function expectRangesAgreeWithRouting(): Promise<void> {
  await quiet();
  const reported = reportedRanges();
  // Exactly once: sorted by first key, each range starts right after the previous one ends.
  expect(reported.reduce((sum, r) => sum + r.range.size, 0n)).toBe(RING);
  reported.forEach((r, i) => {
    const next = reported[(i + 1) % reported.length]!;
    expect(next.range.first.value, `the range after ${r.id}'s`).toBe((r.range.last.value + 1n) % RING);
  });
  // Each range holds its node's keys by the routing rule, and Lookup and delivery agree, from any node.
  const askers = [...live.values()];
  const keys = reported.flatMap((r) => edgeKeys(r.range).map((key) => ({ key, holder: r.id })));
  for (const [i, { key, holder }] of keys.entries()) {
    expect(closestTo(key, liveNodes())?.id.hex, `the closest live node to ${key.hex}`).toBe(holder);
    const asker = askers[i % askers.length]!;
    expect((await asker.client.lookup(key)).id.hex, `Lookup(${key.hex}) via ${asker.node.name}`).toBe(holder);
    const sent = await asker.client.send(key, PURPOSE, "ownership check", { waitForAck: true });
    expect(sent.deliveredBy?.id.hex, `delivery of ${key.hex} from ${asker.node.name}`).toBe(holder);
  }
  // Epochs go up by one at each update a watcher saw.
  for (const w of live.values()) {
    const epochs = w.updates.map((u) => u.epoch);
    expect(epochs, w.node.name).toEqual(epochs.map((_, i) => epochs[0]! + BigInt(i)));
  }
}

/** A range's ends and its middle. */
function edgeKeys(range: KeyRange): NodeId[] {
  const { first, last, size } = range;
  return [first, last, NodeId.fromBigInt(first.value + size / 2n)];
}

/** The changes a watcher reported after its update count was `from`. */
function changesSince(w: Watched, from: number) {
  return w.updates.slice(from).flatMap((u) => u.changes);
}

beforeAll(async () => {
  // Nine nodes: with the test nodes' leaf set of 8, no node's leaf set wraps round the ring. Loading a node
  // process (node, tsx, the modules) is most of what it costs, and one at a time it made the set-up as long
  // as nine loads on a busy machine: all nine load together, then start and join one after another.
  const loaded = await Promise.all(Array.from({ length: 9 }, (_, i) => processes.load({ name: `own-${i}` })));
  const first = await add(loaded[0]!);
  seed = first.node.peerAddress;
  for (const node of loaded.slice(1)) await add(node);
}, 120_000);

afterAll(async () => {
  for (const w of [...live.values()]) remove(w);
  await processes.stopAll();
});

describe("WatchOwnership across node processes", () => {
  it("once the ring is quiet, the reported ranges cover the ring exactly once and match Lookup and delivery", async () => {
    await expectRangesAgreeWithRouting();
    for (const w of live.values()) {
      const u = latest(w);
      expect(u.self.id.hex).toBe(w.node.id);
      expect(rangeHas(u.range, NodeId.fromHex(w.node.id)), `${w.node.name} owns its own ID`).toBe(true);
    }
  }, 120_000);

  it(
    "through a join, a graceful leave, a kill -9, and a join with a kill -9 together, each quiet ring passes " +
      "the same check, and the neighbours report the moved keys naming the node they went to or came from",
    async () => {
      const counts = () => new Map([...live.values()].map((w) => [w.node.id, w.updates.length]));
      const moved = (before: Map<string, number>, kind: "gained" | "lost", neighbour: string): bigint =>
        [...live.values()]
          .flatMap((w) => changesSince(w, before.get(w.node.id) ?? 0))
          .filter((c) => c.kind === kind && c.neighbour.id.hex === neighbour)
          .reduce((sum, c) => sum + c.range.size, 0n);

      let before = counts();
      const joiner = await add("own-joiner");
      await expectRangesAgreeWithRouting();
      expect(moved(before, "lost", joiner.node.id), "keys lost to the joiner").toBe(
        latest(joiner).range.size,
      );

      let range = latest(joiner).range;
      before = counts();
      await leave(joiner);
      await expectRangesAgreeWithRouting();
      expect(moved(before, "gained", joiner.node.id), "keys gained from the leaver").toBe(range.size);

      const victim = [...live.values()].find((w) => w.node.name === "own-3")!;
      range = latest(victim).range;
      before = counts();
      await kill(victim);
      await expectRangesAgreeWithRouting();
      expect(moved(before, "gained", victim.node.id), "keys gained from the killed node").toBe(range.size);

      const second = [...live.values()].find((w) => w.node.name === "own-6")!;
      await Promise.all([add("own-late"), kill(second)]);
      await expectRangesAgreeWithRouting();
    },
    240_000,
  );
});
