// Hostile input on the peer port of real node processes: malformed and random bodies for every
// PeerService RPC, signed correctly so they pass authentication and reach the decoder; oversized and
// deeply nested fields; IDs of the wrong length; floods of Hellos and Joins. The node must answer with the
// right status, keep serving others, and keep its memory bounded.
import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { PEER_METHODS, type PeerMethod } from "../../src/wire/methods.js";
import { World, type PeerProcess } from "../integration/harness.js";
import { inBatches, residentBytes, tally } from "./lib/nodes.js";
import { PeerCaller, fixtureKey, helloBody, wireNode } from "./lib/peer-caller.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("fuzz-peer-port");
const MEMORY_CEILING = 256 * 1024 * 1024;
const HELLO_LIMIT = 50;
const world = new World();
let a: PeerProcess;
let target: PeerProcess;
let c: PeerProcess;
let caller: PeerCaller;

beforeAll(async () => {
  a = world.start({ name: "fz1", host: "127.0.0.41", secret: SECRET });
  await a.ready;
  // A Hello limit well below any machine's Hello rate, so the flood below meets it however slow (or loaded)
  // the machine is; at the default 500/s a busy 2-core machine answered 2000 Hellos without reaching it.
  target = world.start({
    name: "fz2",
    host: "127.0.0.42",
    secret: SECRET,
    seeds: [a.address],
    env: { WENDY_TEST_MAX_HELLOS_PER_SECOND: String(HELLO_LIMIT) },
  });
  await target.ready;
  c = world.start({ name: "fz3", host: "127.0.0.43", secret: SECRET, seeds: [a.address] });
  await c.ready;
  caller = new PeerCaller(target.address, fixtureKey(SECRET));
}, 120_000);

afterAll(async () => {
  caller?.close();
  await world.closeAll();
});

/** The node still serves others: its health check says SERVING and a message to its key arrives. */
async function stillServing(): Promise<void> {
  expect(target.exited).toBe(false);
  const health = await new PeerCaller(target.address, fixtureKey(SECRET)).health();
  expect(health.code).toBe(status.OK);
  expect(health.serving).toBe(1);
  const reply = await c.send(target.id, 16, `after ${Date.now()}`);
  expect(reply.deliveredBy).toBe(target.id);
}

const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const path = (method: PeerMethod | "hello"): string => PeerServiceService[method].path;
const sender = () => wireNode({ localAddress: "127.0.0.99:9" });
const routeMessage = (over: Record<string, unknown> = {}) => ({
  id: "m-1",
  key: randomBytes(16),
  purpose: 16,
  payload: Buffer.from("x"),
  origin: sender(),
  hops: 0,
  maxHops: 40,
  wantAck: false,
  copy: 0,
  ...over,
});

/** Protobuf bytes of start-group tags nested `depth` deep under an unknown field number. */
function nestedGroups(depth: number): Buffer {
  const start = (15 << 3) | 3;
  return Buffer.concat([Buffer.alloc(depth, start)]);
}

describe("malformed bodies that pass authentication", () => {
  it("every RPC answers random bytes with INVALID_ARGUMENT", async () => {
    const bodies = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 300 }), { seed: 4242, numRuns: 12 });
    const codes: string[] = [];
    for (const method of PEER_METHODS) {
      for (const body of bodies) {
        const outcome = await caller.signed(path(method), Buffer.from(body));
        codes.push(`${method}:${status[outcome.code]}`);
        expect(outcome.code, `${method} with ${Buffer.from(body).toString("hex").slice(0, 40)}`).toBe(
          status.INVALID_ARGUMENT,
        );
      }
    }
    expect(codes).toHaveLength(PEER_METHODS.length * bodies.length);
    // Random bytes to Hello (unsigned by nature) are refused the same way.
    for (const body of bodies.slice(0, 4)) {
      expect((await caller.hello(Buffer.from(body))).code).toBe(status.INVALID_ARGUMENT);
    }
  });

  it("every RPC refuses a missing sender and a sender ID of the wrong length", async () => {
    for (const method of PEER_METHODS) {
      const empty = await caller.signed(path(method), Buffer.alloc(0));
      expect(empty.code, `${method} without sender`).toBe(status.INVALID_ARGUMENT);
      for (const length of [0, 15, 17, 64]) {
        const body = Buffer.from(
          PeerServiceService.heartbeat.requestSerialize({ sender: wireNode({ id: randomBytes(length) }) }),
        );
        // The sender is field 1 in every request, so a Heartbeat body is a valid prefix for each method.
        const outcome = await caller.signed(path(method), body);
        expect(outcome.code, `${method} with a ${length}-byte sender ID`).toBe(status.INVALID_ARGUMENT);
      }
    }
  });

  it("refuses bad fields in each message kind with INVALID_ARGUMENT", async () => {
    const cases: [string, PeerMethod, Buffer][] = [
      [
        "join: joiner ID of 8 bytes",
        "join",
        PeerServiceService.join.requestSerialize({
          sender: sender(),
          joiner: wireNode({ id: randomBytes(8) }),
          hops: 0,
        }),
      ],
      [
        "join: hop count beyond the limit",
        "join",
        PeerServiceService.join.requestSerialize({ sender: sender(), joiner: sender(), hops: 5000 }),
      ],
      [
        "sender address without a port",
        "heartbeat",
        PeerServiceService.heartbeat.requestSerialize({ sender: wireNode({ localAddress: "127.0.0.99" }) }),
      ],
      [
        "sender address of 300 characters",
        "announce",
        PeerServiceService.announce.requestSerialize({
          sender: wireNode({ localAddress: `${"h".repeat(295)}:9` }),
        }),
      ],
      [
        "region of 100 characters",
        "probe",
        PeerServiceService.probe.requestSerialize({
          sender: wireNode({ region: "r".repeat(100) }),
          sentAtMs: 1,
          joining: false,
        }),
      ],
      [
        "leaf set of 257 nodes",
        "shareLeafSet",
        PeerServiceService.shareLeafSet.requestSerialize({
          sender: sender(),
          leafSet: Array.from({ length: 257 }, sender),
          removed: [],
        }),
      ],
      [
        "removed ID of 3 bytes",
        "shareLeafSet",
        PeerServiceService.shareLeafSet.requestSerialize({
          sender: sender(),
          leafSet: [],
          removed: [randomBytes(3)],
        }),
      ],
      ["row 32", "requestRow", PeerServiceService.requestRow.requestSerialize({ sender: sender(), row: 32 })],
      [
        "row with 17 entries",
        "shareRow",
        PeerServiceService.shareRow.requestSerialize({
          sender: sender(),
          row: { row: 1, entries: Array.from({ length: 17 }, sender), roundTripMicros: [] },
        }),
      ],
      [
        "row with 2 entries and 1 round-trip time",
        "shareRow",
        PeerServiceService.shareRow.requestSerialize({
          sender: sender(),
          row: { row: 1, entries: [sender(), sender()], roundTripMicros: [1500] },
        }),
      ],
      [
        "route: message id of 129 characters",
        "route",
        PeerServiceService.route.requestSerialize({
          sender: sender(),
          message: routeMessage({ id: "i".repeat(129) }),
        }),
      ],
      [
        "route: key of 8 bytes",
        "route",
        PeerServiceService.route.requestSerialize({
          sender: sender(),
          message: routeMessage({ key: randomBytes(8) }),
        }),
      ],
      [
        "route: purpose 70000",
        "route",
        PeerServiceService.route.requestSerialize({
          sender: sender(),
          message: routeMessage({ purpose: 70_000 }),
        }),
      ],
      [
        "route: payload of 4 MiB + 1",
        "route",
        PeerServiceService.route.requestSerialize({
          sender: sender(),
          message: routeMessage({ payload: Buffer.alloc(4 * 1024 * 1024 + 1) }),
        }),
      ],
      [
        "route: no origin",
        "route",
        PeerServiceService.route.requestSerialize({
          sender: sender(),
          message: routeMessage({ origin: undefined }),
        }),
      ],
      [
        "ack: message id of 500 characters",
        "ack",
        PeerServiceService.ack.requestSerialize({
          sender: sender(),
          messageId: "a".repeat(500),
          hops: 1,
          refusalCode: 0,
          droppedCopy: 0,
          droppedReason: 0,
          refusalReason: "",
        }),
      ],
      [
        "leave: leaf set entry with a 20-byte ID",
        "leave",
        PeerServiceService.leave.requestSerialize({
          sender: sender(),
          leafSet: [wireNode({ id: randomBytes(20) })],
        }),
      ],
      [
        "start groups nested 100000 deep",
        "heartbeat",
        Buffer.concat([
          PeerServiceService.heartbeat.requestSerialize({ sender: sender() }),
          nestedGroups(100_000),
        ]),
      ],
      ["a truncated length-delimited field", "heartbeat", Buffer.from([0x0a, 0xff, 0xff, 0x03, 0x01])],
    ];
    const wrong: string[] = [];
    for (const [what, method, body] of cases) {
      const outcome = await caller.signed(path(method), Buffer.from(body));
      if (outcome.code !== status.INVALID_ARGUMENT)
        wrong.push(`${what}: ${status[outcome.code]} ${outcome.details}`);
    }
    expect(wrong).toEqual([]);
    await stillServing();
  });

  it("refuses a body beyond the gRPC message limit with RESOURCE_EXHAUSTED", async () => {
    const body = Buffer.concat([
      PeerServiceService.heartbeat.requestSerialize({ sender: sender() }),
      // An unknown length-delimited field carrying 6 MiB.
      Buffer.from([0x7a, 0x80, 0x80, 0x80, 0x03]),
      Buffer.alloc(6 * 1024 * 1024),
    ]);
    const outcome = await caller.signed(path("heartbeat"), body, 30_000);
    expect(status[outcome.code]).toBe("RESOURCE_EXHAUSTED");
    await stillServing();
  });
});

describe("floods", () => {
  it("a Hello flood is answered with OK or RESOURCE_EXHAUSTED, within bounded memory", async () => {
    const before = residentBytes(target);
    const flooder = new PeerCaller(target.address, fixtureKey(SECRET));
    try {
      const started = performance.now();
      const outcomes = await Promise.all(
        Array.from({ length: 2000 }, () => flooder.hello(helloBody(randomBytes(16)))),
      );
      const seconds = (performance.now() - started) / 1000;
      const codes = tally(outcomes.map((o) => status[o.code]));
      expect([...codes.keys()].sort()).toEqual(["OK", "RESOURCE_EXHAUSTED"]);
      // The bucket's burst plus what it refilled while the flood lasted, and not one more.
      expect(codes.get("OK")).toBeLessThanOrEqual(Math.ceil(HELLO_LIMIT * (1 + seconds)));
      console.log(`Hello flood: ${JSON.stringify(Object.fromEntries(codes))}`);
    } finally {
      flooder.close();
    }
    await stillServing();
    const after = residentBytes(target);
    console.log(`Hello flood: RSS ${mib(before)} -> ${mib(after)} MiB`);
    expect(after - before).toBeLessThan(MEMORY_CEILING);
    const failures = (await target.state()).authFailures ?? {};
    expect(failures["hello-rate-limited"]).toBeGreaterThan(0);
  });

  it("a Join flood of made-up joiners leaves the node serving, its leaf set clean, its memory bounded", async () => {
    const before = residentBytes(target);
    const joiners = Array.from({ length: 400 }, () =>
      wireNode({ localAddress: "127.0.0.99:9", globalAddress: "127.0.0.99:9" }),
    );
    const outcomes = await inBatches(
      joiners.map(
        (joiner) => () =>
          caller.signed(
            path("join"),
            PeerServiceService.join.requestSerialize({ sender: joiner, joiner, hops: 0 }),
          ),
      ),
      50,
    );
    const codes = tally(outcomes.map((o) => status[o.code]));
    for (const code of codes.keys()) expect(["OK", "RESOURCE_EXHAUSTED"]).toContain(code);
    console.log(`Join flood: ${JSON.stringify(Object.fromEntries(codes))}`);
    await stillServing();
    const after = residentBytes(target);
    console.log(`Join flood: RSS ${mib(before)} -> ${mib(after)} MiB`);
    expect(after - before).toBeLessThan(MEMORY_CEILING);
    // None of the made-up joiners ever answered, so none may sit in any node's leaf set.
    const bogus = new Set(joiners.map((j) => j.id.toString("hex")));
    for (const node of [a, target, c]) {
      const state = await node.state();
      const inLeafSet = [...state.left, ...state.right].filter((n) => bogus.has(n.id));
      expect(inLeafSet, `${node.options.name}'s leaf set`).toEqual([]);
    }
  });
});
