// Authentication attacks end to end against real node processes: calls without credentials, with the
// wrong secret, a captured call replayed to the same and to another node, and a joiner with the wrong
// secret. Every refusal is UNAUTHENTICATED, is counted by reason, and the intruder never gets in.
import { randomBytes } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { METADATA_MAC, METADATA_SEQ, METADATA_SESSION_ID } from "../../src/server/auth/session-protocol.js";
import { World, eventually, type PeerProcess } from "../integration/harness.js";
import { PeerCaller, fixtureKey, wireNode } from "./lib/peer-caller.js";
import { testSecret } from "../helpers/secrets.js";

const SECRET = testSecret("fuzz-auth");
const world = new World();
let a: PeerProcess;
let b: PeerProcess;

beforeAll(async () => {
  a = world.start({ name: "au1", host: "127.0.0.51", secret: SECRET });
  await a.ready;
  b = world.start({ name: "au2", host: "127.0.0.52", secret: SECRET, seeds: [a.address] });
  await b.ready;
}, 120_000);

afterAll(() => world.closeAll());

const heartbeatPath = PeerServiceService.heartbeat.path;
const heartbeat = (): Buffer =>
  PeerServiceService.heartbeat.requestSerialize({ sender: wireNode({ localAddress: "127.0.0.99:9" }) });

async function failures(node: PeerProcess): Promise<Record<string, number>> {
  return { ...((await node.state()).authFailures ?? {}) };
}

/** How much each reason's count grew between two snapshots. */
function grown(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v > (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

describe("authentication attacks on real nodes", () => {
  it("a call without credentials is UNAUTHENTICATED and counted as missing metadata", async () => {
    const before = await failures(a);
    const intruder = new PeerCaller(a.address, new Uint8Array(32));
    try {
      for (const method of ["heartbeat", "join", "route", "leave"] as const) {
        const outcome = await intruder.raw(PeerServiceService[method].path, heartbeat());
        expect(outcome.code, method).toBe(status.UNAUTHENTICATED);
        expect(outcome.authFailure).toBe("missing-metadata");
      }
    } finally {
      intruder.close();
    }
    expect(grown(before, await failures(a))).toEqual({ "missing-metadata": 4 });
  });

  it("a caller with the wrong secret gets a Hello but every signed call is refused as bad-mac", async () => {
    const before = await failures(a);
    const intruder = new PeerCaller(a.address, fixtureKey(testSecret("not-the-secret")));
    try {
      for (let i = 0; i < 3; i++) {
        const outcome = await intruder.signed(heartbeatPath, heartbeat());
        expect(outcome.code).toBe(status.UNAUTHENTICATED);
        expect(outcome.authFailure).toBe("bad-mac");
      }
      // Made-up session ids and malformed sequence numbers are refused too.
      const forged = await intruder.raw(heartbeatPath, heartbeat(), {
        [METADATA_SESSION_ID]: randomBytes(16).toString("hex"),
        [METADATA_SEQ]: "1",
        [METADATA_MAC]: randomBytes(32).toString("base64"),
      });
      expect(forged.authFailure).toBe("unknown-session");
      const malformed = await intruder.raw(heartbeatPath, heartbeat(), {
        [METADATA_SESSION_ID]: "x",
        [METADATA_SEQ]: "-1",
        [METADATA_MAC]: "AAAA",
      });
      expect(malformed.authFailure).toBe("malformed-metadata");
    } finally {
      intruder.close();
    }
    expect(grown(before, await failures(a))).toEqual({
      "bad-mac": 3,
      "unknown-session": 1,
      "malformed-metadata": 1,
    });
  });

  it("a captured authenticated call replayed to the same node, or to another, is refused", async () => {
    const honest = new PeerCaller(a.address, fixtureKey(SECRET));
    const other = new PeerCaller(b.address, fixtureKey(SECRET));
    try {
      const original = await honest.signed(heartbeatPath, heartbeat());
      expect(original.code).toBe(status.OK);
      const beforeA = await failures(a);
      const beforeB = await failures(b);
      const replay = await honest.raw(original.call.path, original.call.body, original.call.entries);
      expect(replay.code).toBe(status.UNAUTHENTICATED);
      expect(replay.authFailure).toBe("replayed-seq");
      // The same bytes and signature sent to a node that never issued the session.
      const crossNode = await other.raw(original.call.path, original.call.body, original.call.entries);
      expect(crossNode.code).toBe(status.UNAUTHENTICATED);
      expect(crossNode.authFailure).toBe("unknown-session");
      // The signature covers the method and body: the captured MAC on another method or body fails.
      const moved = await honest.raw(PeerServiceService.leave.path, original.call.body, {
        ...original.call.entries,
        [METADATA_SEQ]: String(Number(original.call.entries[METADATA_SEQ]) + 5),
      });
      expect(moved.authFailure).toBe("bad-mac");
      expect(grown(beforeA, await failures(a))).toEqual({ "replayed-seq": 1, "bad-mac": 1 });
      expect(grown(beforeB, await failures(b))).toEqual({ "unknown-session": 1 });
      // The honest session keeps working after the attacks.
      expect((await honest.signed(heartbeatPath, heartbeat())).code).toBe(status.OK);
    } finally {
      honest.close();
      other.close();
    }
  });

  it("a joiner with the wrong secret never gets in: no node lists it, and it counts the bad proof", async () => {
    const intruder = world.start({
      name: "au-intruder",
      host: "127.0.0.53",
      secret: testSecret("wrong-secret"),
      seeds: [a.address, b.address],
    });
    const joined = intruder.ready.then(
      () => true,
      () => false,
    );
    await intruder.listening;
    // Its join keeps failing; it has had several tries once it counted a few bad server proofs.
    const refused = await eventually(async () => {
      const f = await failures(intruder);
      return (f["bad-server-proof"] ?? 0) >= 2;
    }, 30_000);
    expect(refused).toBe(true);
    const intruderState = await intruder.state();
    expect(intruderState.ready).toBe(false);
    for (const node of [a, b]) {
      const s = await node.state();
      const everywhere = [...s.left, ...s.right, ...s.known].map((n) => n.id);
      expect(everywhere, node.options.name).not.toContain(intruder.id);
    }
    await intruder.kill();
    expect(await joined).toBe(false);
  });
});
