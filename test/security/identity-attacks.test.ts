// The attacks of #13 by an insider (the cluster secret and a valid certificate of its own, for its own node
// ID) on real node processes with per-node identities on: it cannot take over another node's ID even with a
// higher incarnation, and IDs it invents around a key (gossiped, then "confirmed" by answering the probes
// sent to them) never enter a leaf set or routing table, so messages to that key still reach its owner.
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { World, eventually, type PeerProcess } from "../integration/harness.js";
import { CertDir } from "../helpers/certs.js";
import { testSecret } from "../helpers/secrets.js";
import { Insider } from "./lib/insider.js";

const SECRET = testSecret("identity-attacks");
const certs = new CertDir();
const world = new World();
const nodes: PeerProcess[] = [];
const malloryId = NodeId.fromString("mallory");
// IDs mallory makes up, all closer to `key` than any real node: the key sits 1000 past a real node's ID.
let key: NodeId;
let invented: NodeId[] = [];
const inventedClaims = (port: number): NodeInfo[] =>
  invented.map((id) => ({
    id,
    localAddress: `127.0.0.1:${port}`,
    globalAddress: `127.0.0.1:${port}`,
    region: "",
    incarnation: 1,
  }));

let mallory: Insider;
/** Probes mallory's server was sent (each addressed to an invented node at its address). */
let probesReceived = 0;

function identityEnv(name: string): Record<string, string> {
  return {
    WENDY_TEST_TLS_CERT: certs.file(`${name}.crt`),
    WENDY_TEST_TLS_KEY: certs.file(`${name}.key`),
    WENDY_TEST_TLS_CA: certs.file("ca.crt"),
    WENDY_TEST_NODE_IDENTITY: "true",
    WENDY_TEST_LEAF_SET_SIZE: "8",
  };
}

beforeAll(async () => {
  certs.ca("ca");
  const names = ["ida", "idb", "idc", "idd"];
  names.forEach((name, i) => certs.nodeLeaf(name, "ca", NodeId.fromString(name).hex, `IP:127.0.4.${i + 1}`));
  certs.nodeLeaf("mallory", "ca", malloryId.hex, "IP:127.0.0.1");
  for (const [i, name] of names.entries()) {
    const node = world.start({
      name,
      host: `127.0.4.${i + 1}`,
      secret: SECRET,
      seeds: i === 0 ? [] : [nodes[0]!.address],
      env: identityEnv(name),
    });
    await node.ready;
    nodes.push(node);
  }
  key = NodeId.fromBigInt(NodeId.fromHex(nodes[1]!.id).value + 1000n);
  invented = [-2n, -1n, 0n, 1n, 2n].map((d) => NodeId.fromBigInt(key.value + d));

  mallory = new Insider({
    secret: SECRET,
    tls: certs.mutualTls("mallory", "ca"),
    // Every probe it is sent, it answers as each invented node, as a node behind those IDs would.
    onMessage: (sender, message) => {
      if (message.type !== "probe") return;
      probesReceived++;
      for (const claim of inventedClaims(mallory.port)) {
        void mallory
          .send(
            sender.localAddress,
            { type: "probeReply", echoSentAt: message.sentAt, leafSet: [], ready: true },
            claim,
          )
          .catch(() => undefined);
      }
    },
  });
  await mallory.start((port) => ({
    id: malloryId,
    localAddress: `127.0.0.1:${port}`,
    globalAddress: `127.0.0.1:${port}`,
    region: "",
    incarnation: 1,
  }));
}, 120_000);

afterAll(async () => {
  mallory?.close();
  await world.closeAll();
  certs.remove();
});

describe("an insider with only its own certificate", () => {
  it("cannot claim another node's ID with a higher incarnation: PERMISSION_DENIED, counted, and the node keeps its place", async () => {
    const [target, victim] = [nodes[0]!, nodes[1]!];
    const stolen: NodeInfo = {
      id: NodeId.fromHex(victim.id),
      localAddress: `127.0.0.1:${mallory.port}`,
      globalAddress: `127.0.0.1:${mallory.port}`,
      region: "",
      incarnation: 2 ** 50,
    };
    for (const message of [{ type: "heartbeat" }, { type: "announce" }] as const) {
      const error = await mallory.send(target.address, message, stolen).then(
        () => undefined,
        (e: unknown) => e as { code?: number },
      );
      expect(error?.code).toBe(status.PERMISSION_DENIED);
    }
    const state = await target.state();
    expect(state.authFailures["identity-mismatch"]).toBeGreaterThanOrEqual(2);
    const seen = [...state.left, ...state.right, ...state.known].filter((n) => n.id === victim.id);
    expect(seen.length).toBeGreaterThan(0);
    for (const entry of seen) expect(entry.localAddress).toBe(victim.address);
    // Messages for the victim's keys still reach the victim.
    const sent = await target.send(victim.id, 16, "for the victim");
    expect(sent.deliveredBy).toBe(victim.id);
  }, 60_000);

  it("invents node IDs around a key: they never enter a leaf set, and the key's messages reach its owner", async () => {
    const target = nodes[0]!;
    await mallory.send(target.address, {
      type: "leafSet",
      leafSet: inventedClaims(mallory.port),
      removed: [],
    });
    // The target probes the invented nodes at mallory's address, and mallory answers in their names.
    expect(await eventually(async () => probesReceived >= invented.length, 20_000)).toBe(true);
    // Time for those probes to be acknowledged and to expire (500 ms each, three attempts): a probe
    // acknowledged by mallory, or answered in an invented name, would have taken the node in by then.
    await new Promise((r) => setTimeout(r, 4000));
    const inventedHex = new Set(invented.map((id) => id.hex));
    for (const node of nodes) {
      const state = await node.state();
      for (const member of [...state.left, ...state.right]) expect(inventedHex.has(member.id)).toBe(false);
    }
    const owner = world.owner(key.hex, nodes);
    for (const from of [nodes[0]!, nodes[2]!]) {
      const sent = await from.send(key.hex, 16, `to the key from ${from.id}`);
      expect(sent.deliveredBy).toBe(owner);
    }
    // Mallory's answers in the invented names were refused and counted (besides the two of the first test).
    const failures = (await target.state()).authFailures;
    expect(failures["identity-mismatch"]).toBeGreaterThanOrEqual(2 + invented.length);
    expect(failures["wrong-peer"]).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it("the invented node IDs enter no routing table either: only nodes that proved their identity do", async () => {
    const inventedHex = new Set(invented.map((id) => id.hex));
    for (const node of nodes) {
      const state = await node.state();
      for (const known of state.known) expect(inventedHex.has(known.id)).toBe(false);
    }
  });
});
