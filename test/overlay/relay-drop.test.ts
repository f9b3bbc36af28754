// A message dropped by a node on its way, not by its origin: the origin's Send must end with a clear status
// from the drop notice, not wait out its timeout. Real node processes: eight nodes with a leaf set of 4, so
// that some keys take two hops from the origin (see NAME); the origin gives its messages a hop limit of 1, so a node
// that would forward one a second hop drops it ("ttl") and tells the origin. Every acknowledged Send of
// many keys must then end acked (one hop) or failed UNAVAILABLE for the hop limit, and none may wait out
// its timeout (DEADLINE_EXCEEDED), which is what it did before drop notices. (The test nodes run no
// subscriber: a Send that reaches its owner is refused there, FAILED_PRECONDITION, once the delivery grace
// has passed; that, too, is a Send that reached its owner in one hop.)
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WendyClient, WendyClientError } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { NodeProcesses, type StartedNode } from "../helpers/node-processes.js";

const NODES = 8;
/**
 * Names chosen for their IDs: the origin (327b...) has 5726 and 5dcc on its right, c1d3 and c0ad on its
 * left; of the three nodes beyond its leaf set, a202 and aedb share their first digit, and one routing-table
 * slot (row 0, column a) holds one of them: the other one's ID, as a key, goes there first and then one hop
 * more, whichever of the two the slot holds.
 */
const NAME = (i: number): string => `relay-drop-2-${i}`;
const OTHER_KEYS = 24;
/** Far beyond what the notices take: a Send that waits it out was not told of its drop. */
const SEND_TIMEOUT_MS = 60_000;
const PURPOSE = 20;

const processes = new NodeProcesses();
let origin: StartedNode;
const others: StartedNode[] = [];
let client: WendyClient;

beforeAll(async () => {
  // Loading a process is most of its cost: all load together, then join one after another.
  const loaded = await Promise.all(
    Array.from({ length: NODES }, (_, i) =>
      processes.load({ name: NAME(i), leafSetSize: 4, ...(i === 0 ? { maxHops: 1 } : {}) }),
    ),
  );
  origin = await loaded[0]!.start();
  for (const node of loaded.slice(1)) others.push(await node.start({ seed: origin.peerAddress }));
  client = new WendyClient(origin.clientAddress);
}, 180_000);

afterAll(async () => {
  client?.close();
  await processes.stopAll();
});

interface Outcome {
  readonly kind: "reached" | "ttl" | "other";
  readonly tookMs: number;
  readonly detail: string;
}

async function send(key: NodeId): Promise<Outcome> {
  const started = performance.now();
  try {
    const result = await client.send(key, PURPOSE, "relay-drop", {
      waitForAck: true,
      timeoutMs: SEND_TIMEOUT_MS,
    });
    return { kind: "reached", tookMs: performance.now() - started, detail: `hops ${result.hops}` };
  } catch (error) {
    const tookMs = performance.now() - started;
    const code = error instanceof WendyClientError ? error.code : undefined;
    const message = (error as Error).message;
    if (code === status.UNAVAILABLE && /dropped: ttl/.test(message))
      return { kind: "ttl", tookMs, detail: message };
    // The owner was reached (these test nodes run no subscriber): its refusal, not a drop on the way.
    if (code === status.FAILED_PRECONDITION && /the key's owner/.test(message))
      return { kind: "reached", tookMs, detail: "hops 1" };
    return { kind: "other", tookMs, detail: `code ${String(code)}: ${message}` };
  }
}

describe("a message dropped at its hop limit by a node on its way", () => {
  it("fails the origin's Send UNAVAILABLE for the hop limit, never by its timeout; sends that need one hop reach their owner", async () => {
    const keys = [
      ...others.map((n) => NodeId.fromHex(n.id)),
      ...Array.from({ length: OTHER_KEYS }, (_, i) => NodeId.fromString(`relay-drop-key-${i}`)),
    ];
    const outcomes = await Promise.all(keys.map(send));
    const ttl = outcomes.filter((o) => o.kind === "ttl");
    const reached = outcomes.filter((o) => o.kind === "reached");
    console.log(
      `relay-drop: ${reached.length} reached their owner, ${ttl.length} dropped at the hop limit; slowest drop reported after ${Math.round(Math.max(0, ...ttl.map((o) => o.tookMs)))} ms`,
    );
    expect(outcomes.filter((o) => o.kind === "other").map((o) => o.detail)).toEqual([]);
    // Both kinds occur on this ring (see NAME): the test means something.
    expect(ttl.length).toBeGreaterThan(0);
    expect(reached.length).toBeGreaterThan(0);
    expect(reached.every((o) => o.detail === "hops 1")).toBe(true);
  }, 180_000);
});
