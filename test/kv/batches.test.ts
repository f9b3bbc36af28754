// A coordinator's calls to other replicas, coalesced per peer until the end of the turn: what travels in one
// request, what is asked again, what fails together; and the Fetch answer's byte budget.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import type { KvRecord } from "../../src/kv/record.js";
import type {
  FetchRequest,
  FetchResponse,
  ReplicateRequest,
  ReplicateResponse,
} from "../../src/gen/wendy/v1/kv_peer.js";
import { answerFetch } from "../../src/server/kv/batches.js";
import { KvPeerBatches } from "../../src/server/kv/peer-batches.js";
import type { KvPeers } from "../../src/server/kv/peer-client.js";
import { decodeRecord, encodeVersion } from "../../src/server/kv/wire.js";

const writer = NodeId.fromString("writer");
const record = (key: string, bytes = 10): KvRecord => ({
  key: NodeId.fromString(key),
  version: { counter: 1n, writer },
  value: new Uint8Array(bytes),
  deleted: false,
});
const node = (name: string): NodeInfo => ({
  id: NodeId.fromString(name),
  localAddress: `${name}:1`,
  globalAddress: `${name}:1`,
  region: "",
  incarnation: 1,
});
const hexOf = (k: Uint8Array): string => Buffer.from(k).toString("hex");
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Peers that answer from a table of records per node, recording every request. */
class FakePeers implements KvPeers {
  readonly fetches: { to: string; request: FetchRequest }[] = [];
  readonly replicates: { to: string; request: ReplicateRequest }[] = [];
  failWith: Error | undefined;
  constructor(
    private readonly held: ReadonlyMap<string, readonly KvRecord[]>,
    private readonly maxAnswerBytes = 1 << 20,
  ) {}
  fetch(to: NodeInfo, request: FetchRequest): Promise<FetchResponse> {
    this.fetches.push({ to: to.localAddress, request });
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    const asked = new Set(request.keys.map(hexOf));
    const held = (this.held.get(to.localAddress) ?? []).filter((r) => asked.has(r.key.hex));
    return Promise.resolve(answerFetch(held, request.versionsOnly, this.maxAnswerBytes));
  }
  replicate(to: NodeInfo, request: ReplicateRequest): Promise<ReplicateResponse> {
    this.replicates.push({ to: to.localAddress, request });
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve({ held: request.records.map((r) => r.version!) });
  }
  coordinate(): never {
    throw new Error("not used");
  }
  digest(): never {
    throw new Error("not used");
  }
  close(): void {}
}

const self = node("self");
const options = { timeoutMs: 1000, maxBatchBytes: 1 << 20 };

describe("a Fetch answer", () => {
  it("carries every version asked, and values up to its byte budget (the first always), the rest listed as omitted", () => {
    const held = [record("a", 600), record("b", 600), record("c", 10)];
    const versions = answerFetch(held, true, 100);
    expect(versions.records.map((r) => decodeRecord(r, "r", 1 << 20).key.hex)).toEqual(
      held.map((r) => r.key.hex),
    );
    expect(versions.omitted).toEqual([]);
    const values = answerFetch(held, false, 1000);
    expect(values.records.map((r) => decodeRecord(r, "r", 1 << 20).key.hex)).toEqual([held[0]!.key.hex]);
    expect(values.omitted.map(hexOf)).toEqual([held[1]!.key.hex, held[2]!.key.hex]);
    expect(answerFetch([record("big", 5000)], false, 1000).records).toHaveLength(1);
  });
});

describe("coalesced replica calls", () => {
  it("send the reads of one turn for one peer in one Fetch, one per peer and kind, and answer each read its own key", async () => {
    const a = node("a");
    const b = node("b");
    const peers = new FakePeers(new Map([["a:1", [record("x"), record("y")]]]));
    const batches = new KvPeerBatches(peers, () => self, options);
    const reads = [
      batches.fetch(a, NodeId.fromString("x"), false),
      batches.fetch(a, NodeId.fromString("y"), false),
      batches.fetch(a, NodeId.fromString("x"), false),
      batches.fetch(a, NodeId.fromString("z"), false),
      batches.fetch(a, NodeId.fromString("x"), true),
      batches.fetch(b, NodeId.fromString("x"), false),
    ];
    expect(peers.fetches).toHaveLength(0);
    const answers = await Promise.all(reads);
    expect(peers.fetches.map((f) => [f.to, f.request.keys.length, f.request.versionsOnly])).toEqual([
      ["a:1", 3, false],
      ["a:1", 1, true],
      ["b:1", 1, false],
    ]);
    expect(answers.map((r) => r?.key.hex)).toEqual([
      NodeId.fromString("x").hex,
      NodeId.fromString("y").hex,
      NodeId.fromString("x").hex,
      undefined,
      NodeId.fromString("x").hex,
      undefined,
    ]);
  });

  it("send a read alone at the end of its own turn, and the reads of the next turn in a new Fetch", async () => {
    const a = node("a");
    const peers = new FakePeers(new Map([["a:1", [record("x")]]]));
    const batches = new KvPeerBatches(peers, () => self, options);
    const first = batches.fetch(a, NodeId.fromString("x"), false);
    await turn();
    expect(peers.fetches).toHaveLength(1);
    await first;
    await batches.fetch(a, NodeId.fromString("x"), false);
    expect(peers.fetches).toHaveLength(2);
  });

  it("ask again alone for each key the answer omitted, and resolve it with its record", async () => {
    const a = node("a");
    const peers = new FakePeers(
      new Map([["a:1", [record("x", 800), record("y", 800), record("z", 800)]]]),
      1000,
    );
    const batches = new KvPeerBatches(peers, () => self, options);
    const answers = await Promise.all(
      ["x", "y", "z"].map((k) => batches.fetch(a, NodeId.fromString(k), false)),
    );
    expect(answers.map((r) => r?.value.byteLength)).toEqual([800, 800, 800]);
    expect(peers.fetches.map((f) => f.request.keys.length)).toEqual([3, 1, 1]);
  });

  it("send the writes of one turn for one peer in one Replicate, and fail every read or write of a failed call", async () => {
    const a = node("a");
    const peers = new FakePeers(new Map());
    const batches = new KvPeerBatches(peers, () => self, options);
    const shared = record("same");
    await Promise.all([batches.store(a, record("p")), batches.store(a, shared), batches.store(a, shared)]);
    expect(peers.replicates).toHaveLength(1);
    expect(peers.replicates[0]!.request.records.map((r) => r.version)).toEqual([
      encodeVersion(record("p").version),
      encodeVersion(shared.version),
      encodeVersion(shared.version),
    ]);
    peers.failWith = new Error("down");
    const outcomes = await Promise.allSettled([
      batches.store(a, record("q")),
      batches.fetch(a, NodeId.fromString("q"), false),
      batches.fetch(a, NodeId.fromString("r"), false),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
  });
});
