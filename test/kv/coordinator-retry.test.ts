// A hand-on to the key's owner that fails after it may have arrived (the owner was killed with the call in
// flight: UNAVAILABLE "Connection dropped"): a read is tried again within its deadline, a write is not
// (it may have been applied), and a hand-on that surely never arrived is tried again for both.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { kvReplication } from "../../src/kv/replica-set.js";
import { KvCoordinator, type KvOperation, type KvResult } from "../../src/server/kv/coordinator.js";
import type { KvOverlay } from "../../src/server/kv/overlay.js";
import { KvPeerError, type KvPeers } from "../../src/server/kv/peer-client.js";
import { MemoryKvStore } from "../../src/server/kv/store.js";

const info = (name: string): NodeInfo => ({
  id: NodeId.fromString(name),
  localAddress: "127.0.0.1:1",
  globalAddress: "127.0.0.1:1",
  region: "",
  incarnation: 1,
});
const self = info("self");
const owner = info("owner");
const overlay: KvOverlay = {
  self: () => self,
  ready: () => true,
  owner: () => owner,
  // No replica set known here, so even a read is handed on to the owner (a node whose leaf set spans the
  // key's neighbourhood would read the replicas itself: src/kv/coverage.ts).
  replicas: () => [],
  replicaCandidates: () => [self],
  leafSet: () => ({ left: [], right: [] }),
};
const unused = (): Promise<never> => Promise.reject(new Error("not called"));
const peers: KvPeers = {
  coordinate: unused,
  replicate: unused,
  fetch: unused,
  digest: unused,
  close: () => {},
};
const coordinator = new KvCoordinator(
  overlay,
  new MemoryKvStore(),
  peers,
  { replication: kvReplication(32, {}), readSettleMs: 0, replicaTimeoutMs: 1000, maxBatchBytes: 1 << 20 },
  { written: () => {}, readRepaired: () => {} },
);
const key = NodeId.fromString("k");
const answer: KvResult = {
  record: { key, version: { counter: 1n, writer: owner.id }, value: new Uint8Array([1]), deleted: false },
  answers: 2,
  coordinator: owner,
};

/** Runs `op` with a hand-on that fails with `error` the first time and answers the second; counts calls. */
async function handOn(op: KvOperation, error: KvPeerError): Promise<{ calls: number; outcome: unknown }> {
  let calls = 0;
  const outcome = await coordinator
    .execute(op, 3000, 0, () => (calls++ === 0 ? Promise.reject(error) : Promise.resolve(answer)))
    .catch((e: unknown) => e);
  return { calls, outcome };
}

const dropped = (): KvPeerError => new KvPeerError("Connection dropped", status.UNAVAILABLE);
const refused = (): KvPeerError => new KvPeerError("connect ECONNREFUSED 127.0.0.1:1", status.UNAVAILABLE);

describe("a hand-on to the owner that failed", () => {
  it("is tried again for a read when the connection dropped with the call in flight, and the read succeeds", async () => {
    expect(dropped().neverArrived).toBe(false);
    const { calls, outcome } = await handOn({ kind: "get", key }, dropped());
    expect(calls).toBe(2);
    expect(outcome).toBe(answer);
  });

  it("is not tried again for a write when the call may have arrived: the caller gets UNAVAILABLE", async () => {
    const { calls, outcome } = await handOn({ kind: "put", key, value: new Uint8Array([2]) }, dropped());
    expect(calls).toBe(1);
    expect(outcome).toBeInstanceOf(KvPeerError);
    expect((outcome as KvPeerError).code).toBe(status.UNAVAILABLE);
  });

  it("is tried again for a write when it surely never arrived", async () => {
    const { calls, outcome } = await handOn({ kind: "delete", key }, refused());
    expect(calls).toBe(2);
    expect(outcome).toBe(answer);
  });

  it("is not tried again for a read that the owner refused for a reason other than reachability", async () => {
    const { calls, outcome } = await handOn(
      { kind: "get", key },
      new KvPeerError("bad key", status.INVALID_ARGUMENT),
    );
    expect(calls).toBe(1);
    expect((outcome as KvPeerError).code).toBe(status.INVALID_ARGUMENT);
  });
});
