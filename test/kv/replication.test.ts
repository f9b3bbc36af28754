// The replication protocol's pure decisions (src/kv/re-replication.ts, reconcile.ts, placement.ts): unit
// tests of each, and a property over a whole ring of replicas that use nothing else: after any sequence of
// joins, crashes and partial writes, and then a quiet period, every key is held by exactly its k closest
// live nodes, at its newest version.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { NodeInfo } from "../../src/routing/types.js";
import { digestOf } from "../../src/kv/digest.js";
import { Placement } from "../../src/kv/placement.js";
import { lacking, ReplicationTracker } from "../../src/kv/re-replication.js";
import { supersedes, type KvRecord } from "../../src/kv/record.js";
import { answerDigest, antiEntropyPartners, reconcilePlan, sharedRecords } from "../../src/kv/reconcile.js";
import { replicaSet } from "../../src/kv/replica-set.js";
import { compareVersions, nextVersion } from "../../src/kv/version.js";

const K = 3;

function info(id: NodeId, incarnation = 1): NodeInfo {
  return { id, localAddress: id.hex, globalAddress: id.hex, region: "r", incarnation };
}

function record(key: NodeId, counter: bigint, writer: NodeId): KvRecord {
  return { key, version: { counter, writer }, value: Uint8Array.of(Number(counter % 256n)), deleted: false };
}

/** Sorted ring's neighbours of `self`, nearest first on each side (the leaf set an exact view has). */
function leafSetOf(self: NodeInfo, live: readonly NodeInfo[], half: number) {
  const ring = [...live].sort((a, b) => (a.id.value < b.id.value ? -1 : 1));
  const at = ring.findIndex((n) => n.id.equals(self.id));
  const left: NodeInfo[] = [];
  const right: NodeInfo[] = [];
  for (let i = 1; i <= Math.min(half, Math.floor((ring.length - 1) / 2)); i++) {
    right.push(ring[(at + i) % ring.length] as NodeInfo);
    left.push(ring[(at - i + ring.length) % ring.length] as NodeInfo);
  }
  return { left, right };
}

describe("re-replication decisions", () => {
  const a = info(NodeId.fromBigInt(10n));
  const b = info(NodeId.fromBigInt(20n));
  const c = info(NodeId.fromBigInt(30n));
  const d = info(NodeId.fromBigInt(40n));
  const key = NodeId.fromBigInt(19n);

  it("lacking lists the records a member does not hold or holds older, and not those it holds equal or newer", () => {
    const k2 = NodeId.fromBigInt(21n);
    const k3 = NodeId.fromBigInt(22n);
    const mine = [record(key, 2n, a.id), record(k2, 1n, a.id), record(k3, 1n, a.id)];
    const theirs = new Map([
      [key.hex, record(key, 1n, a.id)],
      [k2.hex, record(k2, 1n, a.id)],
    ]);
    expect(lacking(mine, theirs).map((r) => r.key.hex)).toEqual([key.hex, k3.hex]);
  });

  it("a step sends a held key to every other member; once sent it is placed and skipped until the set changes", () => {
    let live = [a, b, c];
    const placement = new Placement(() => live, K);
    const tracker = new ReplicationTracker(placement, 60_000);
    const held = new Map([[key.hex, record(key, 1n, b.id)]]);
    const keys = tracker.nextKeys(0, () => [...held.keys()], 10);
    expect(keys).toEqual([key.hex]);
    const plan = tracker.plan(b.id, keys, (h) => held.get(h));
    expect(plan.targets.map((t) => t.node.id.hex).sort()).toEqual([a.id.hex, c.id.hex].sort());
    expect(tracker.settle(plan, new Set())).toEqual([]);
    // Placed: the next pass (the full pass is due again) plans nothing for it.
    const again = tracker.plan(
      b.id,
      tracker.nextKeys(60_001, () => [...held.keys()], 10),
      (h) => held.get(h),
    );
    expect(again.targets).toEqual([]);
    // A new member nearer the key: the set changed, so the key goes out again.
    live = [a, b, c, info(NodeId.fromBigInt(18n))];
    const moved = tracker.plan(
      b.id,
      tracker.nextKeys(60_002, () => [...held.keys()], 10),
      (h) => held.get(h),
    );
    expect(moved.targets.map((t) => t.node.id.value).sort()).toEqual([18n, 10n].sort());
  });

  it("a node pushed out of the set hands the key over only once every member confirmed, else retries it first", () => {
    const live = [a, b, c, d];
    const placement = new Placement(() => live, K);
    const tracker = new ReplicationTracker(placement, 60_000);
    const far = record(NodeId.fromBigInt(21n), 1n, d.id); // set: b, c, a; d is outside it
    const held = new Map([[far.key.hex, far]]);
    const plan = tracker.plan(
      d.id,
      tracker.nextKeys(0, () => [...held.keys()], 10),
      (h) => held.get(h),
    );
    expect(plan.targets).toHaveLength(3);
    expect(tracker.settle(plan, new Set([far.key.hex]))).toEqual([]);
    expect(tracker.backlog).toBe(1);
    const retry = tracker.plan(
      d.id,
      tracker.nextKeys(1, () => [...held.keys()], 10),
      (h) => held.get(h),
    );
    expect(retry.checks.has(far.key.hex)).toBe(true);
    expect(tracker.settle(retry, new Set())).toEqual([far]);
  });

  it("a step checks at most its budget of keys, urgent ones first", () => {
    const abc = [a, b, c];
    const placement = new Placement(() => abc, K);
    const tracker = new ReplicationTracker(placement, 60_000);
    const keys = Array.from({ length: 10 }, (_, i) => NodeId.fromBigInt(BigInt(100 + i)).hex);
    tracker.written(NodeId.fromHex(keys[7] as string), [a], false);
    const first = tracker.nextKeys(0, () => keys, 4);
    expect(first).toHaveLength(4);
    expect(first[0]).toBe(keys[7]);
    expect(tracker.backlog).toBe(10 - 3);
    expect(keys).toHaveLength(10);
  });
});

describe("anti-entropy decisions", () => {
  const a = info(NodeId.fromBigInt(10n));
  const b = info(NodeId.fromBigInt(20n));
  const c = info(NodeId.fromBigInt(30n));

  it("partners are the leaf-set neighbours up to k-1 places away on each side, each once", () => {
    const n = (v: bigint): NodeInfo => info(NodeId.fromBigInt(v));
    const partners = antiEntropyPartners({ left: [n(1n), n(2n), n(3n)], right: [n(4n), n(5n), n(6n)] }, 3);
    expect(partners.map((p) => p.id.value)).toEqual([4n, 1n, 5n, 2n]);
    expect(antiEntropyPartners({ left: [n(4n)], right: [n(4n)] }, 3).map((p) => p.id.value)).toEqual([4n]);
  });

  it("equal replicas exchange nothing; differing ones pull the newer and push the missing, within the bound", () => {
    const abc = [a, b, c];
    const placement = new Placement(() => abc, K);
    const keys = Array.from({ length: 6 }, (_, i) => NodeId.fromBigInt(BigInt(i) << 122n));
    const mine = keys.map((k) => record(k, 1n, a.id));
    const same = answerDigest(mine, digestOf(mine), 100);
    expect(same.completeBuckets).toEqual([]);
    expect(reconcilePlan(mine, same, 100)).toEqual({ pull: [], push: [] });
    // The partner holds key 0 newer, lacks key 1.
    const theirs = [record(keys[0] as NodeId, 2n, b.id), ...mine.slice(2)];
    const answer = answerDigest(theirs, digestOf(mine), 100);
    const plan = reconcilePlan(mine, answer, 100);
    expect(plan.pull.map((k) => k.hex)).toEqual([(keys[0] as NodeId).hex]);
    expect(plan.push.map((r) => r.key.hex)).toEqual([(keys[1] as NodeId).hex]);
    // Bounded: at most maxRecords versions listed, whole buckets only.
    expect(answerDigest(theirs, digestOf([]), 2).versions.length).toBeLessThanOrEqual(2);
    expect(sharedRecords(a.id, b.id, mine, placement)).toHaveLength(6);
  });
});

type Op =
  | { readonly kind: "join"; readonly id: bigint }
  | { readonly kind: "crash"; readonly pick: number }
  | { readonly kind: "write"; readonly key: number; readonly reach: number }
  | { readonly kind: "repair" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("join" as const), id: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }) }),
  fc.record({ kind: fc.constant("crash" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("write" as const), key: fc.nat({ max: 11 }), reach: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("repair" as const) }),
);

/** A ring of replicas with exact views that run only src/kv's decisions; sends to live nodes succeed. */
class Ring {
  readonly nodes = new Map<
    string,
    { info: NodeInfo; store: Map<string, KvRecord>; placement: Placement; tracker: ReplicationTracker }
  >();
  private now = 0;
  /** The live nodes: a new array at each join or crash (every replica's exact view). */
  private members: NodeInfo[] = [];

  live(): NodeInfo[] {
    return this.members;
  }

  join(node: NodeInfo): void {
    const placement = new Placement(() => this.members, K);
    this.nodes.set(node.id.hex, {
      info: node,
      store: new Map(),
      placement,
      tracker: new ReplicationTracker(placement, 30_000),
    });
    this.changed();
  }

  crash(hex: string): void {
    this.nodes.delete(hex);
    this.changed();
  }

  private changed(): void {
    this.members = [...this.nodes.values()].map((n) => n.info);
  }

  /** Holders of `key` at its newest version. */
  holdersOfNewest(key: NodeId, newest: KvRecord): number {
    let count = 0;
    for (const n of this.nodes.values()) {
      const held = n.store.get(key.hex);
      if (held !== undefined && compareVersions(held.version, newest.version) >= 0) count++;
    }
    return count;
  }

  /** A write coordinated by the key's owner: reaches the owner and `reach` (a bit mask) of the others. */
  write(key: NodeId, reach: number): KvRecord {
    const set = replicaSet(key, this.live(), K);
    const owner = this.nodes.get((set[0] as NodeInfo).id.hex)!;
    const seen = [...this.nodes.values()].map((n) => n.store.get(key.hex)?.version);
    const rec: KvRecord = {
      key,
      version: nextVersion(seen, owner.info.id),
      value: Uint8Array.of(1),
      deleted: false,
    };
    owner.store.set(key.hex, rec);
    let everywhere = true;
    set.slice(1).forEach((member, i) => {
      if ((reach >> i) & 1) {
        const m = this.nodes.get(member.id.hex)!;
        if (supersedes(rec, m.store.get(key.hex))) m.store.set(key.hex, rec);
        m.tracker.received(key.hex);
      } else everywhere = false;
    });
    owner.tracker.written(key, set, everywhere);
    return rec;
  }

  /** One re-replication step and one anti-entropy round at every node. */
  round(): void {
    this.now += 1000;
    for (const n of [...this.nodes.values()]) {
      const keys = n.tracker.nextKeys(this.now, () => [...n.store.keys()], 1_000);
      const plan = n.tracker.plan(n.info.id, keys, (h) => n.store.get(h));
      const failed = new Set<string>();
      for (const { node, records } of plan.targets) {
        const target = this.nodes.get(node.id.hex);
        if (target === undefined) {
          for (const r of records) failed.add(r.key.hex);
          continue;
        }
        for (const r of lacking(records, target.store)) {
          target.store.set(r.key.hex, r);
          target.tracker.received(r.key.hex);
        }
      }
      for (const r of n.tracker.settle(plan, failed)) n.store.delete(r.key.hex);
    }
    for (const n of [...this.nodes.values()]) {
      const half = K - 1;
      const partners = antiEntropyPartners(leafSetOf(n.info, this.live(), half), K);
      const partner = partners[(this.now / 1000) % Math.max(1, partners.length)];
      const p = partner === undefined ? undefined : this.nodes.get(partner.id.hex);
      if (p === undefined) continue;
      const mine = sharedRecords(n.info.id, p.info.id, n.store.values(), n.placement);
      const theirs = sharedRecords(p.info.id, n.info.id, p.store.values(), p.placement);
      const plan = reconcilePlan(mine, answerDigest(theirs, digestOf(mine), 512), 512);
      for (const key of plan.pull) {
        const r = p.store.get(key.hex);
        if (r !== undefined && supersedes(r, n.store.get(key.hex))) {
          n.store.set(key.hex, r);
          n.tracker.received(key.hex);
        }
      }
      for (const r of plan.push) {
        if (supersedes(r, p.store.get(r.key.hex))) {
          p.store.set(r.key.hex, r);
          p.tracker.received(r.key.hex);
        }
      }
    }
  }
}

describe("the replication protocol over a ring", () => {
  it("after any joins, crashes (never of a key's last newest holder) and partial writes, and a quiet period, every key is held by exactly its k closest live nodes at its newest version", () => {
    const keys = Array.from({ length: 12 }, (_, i) => NodeId.fromString(`key-${i}`));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), { minLength: K + 2, maxLength: 8 }),
        fc.array(opArb, { maxLength: 40 }),
        (initial, ops) => {
          const ring = new Ring();
          for (const v of initial) ring.join(info(NodeId.fromBigInt(v)));
          const newest = new Map<string, KvRecord>();
          for (const op of ops) {
            if (op.kind === "join") {
              if (!ring.nodes.has(NodeId.fromBigInt(op.id).hex)) ring.join(info(NodeId.fromBigInt(op.id)));
            } else if (op.kind === "crash") {
              const live = ring.live();
              if (live.length <= K + 1) continue;
              const victim = live[op.pick % live.length] as NodeInfo;
              const lastHolder = [...newest.values()].some(
                (r) =>
                  ring.holdersOfNewest(r.key, r) === 1 &&
                  ring.nodes.get(victim.id.hex)?.store.get(r.key.hex)?.version === r.version,
              );
              if (!lastHolder) ring.crash(victim.id.hex);
            } else if (op.kind === "write") {
              const key = keys[op.key] as NodeId;
              newest.set(key.hex, ring.write(key, op.reach));
            } else {
              ring.round();
            }
          }
          for (let i = 0; i < 12; i++) ring.round();
          for (const r of newest.values()) {
            const want = replicaSet(r.key, ring.live(), K)
              .map((n) => n.id.hex)
              .sort();
            const holding = [...ring.nodes.values()]
              .filter((n) => n.store.has(r.key.hex))
              .map((n) => n.info.id.hex)
              .sort();
            expect(holding).toEqual(want);
            for (const hex of want)
              expect(compareVersions(ring.nodes.get(hex)!.store.get(r.key.hex)!.version, r.version)).toBe(0);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
