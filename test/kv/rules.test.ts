// The store's pure rules: version order and the conflict rule, replica sets, quorum decisions, digests.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NodeId, ringDistance } from "../../src/routing/id.js";
import { DIGEST_BUCKETS, bucketOf, differingBuckets, digestOf } from "../../src/kv/digest.js";
import { newestRecord, supersedes, type KvRecord } from "../../src/kv/record.js";
import { Quorum, versionReadQuorum } from "../../src/kv/quorum.js";
import { kvReplication, majority, maxReplicationFactor, replicaSet } from "../../src/kv/replica-set.js";
import { compareVersions, nextVersion, type Version } from "../../src/kv/version.js";

const RING = 1n << 128n;
const idArb = fc.bigInt({ min: 0n, max: RING - 1n }).map((v) => NodeId.fromBigInt(v));
const versionArb: fc.Arbitrary<Version> = fc.record({
  counter: fc.bigInt({ min: 1n, max: 6n }),
  writer: fc.constantFrom(...["a", "b", "c"].map((n) => NodeId.fromString(n))),
});
const recordArb = (key: NodeId): fc.Arbitrary<KvRecord> =>
  fc.record({
    key: fc.constant(key),
    version: versionArb,
    value: fc.uint8Array({ maxLength: 4 }),
    deleted: fc.boolean(),
  });

describe("versions", () => {
  it("order by counter first, then by writer ID", () => {
    const low = NodeId.fromBigInt(1n);
    const high = NodeId.fromBigInt(2n);
    expect(compareVersions({ counter: 2n, writer: low }, { counter: 1n, writer: high })).toBeGreaterThan(0);
    expect(compareVersions({ counter: 1n, writer: high }, { counter: 1n, writer: low })).toBeGreaterThan(0);
    expect(compareVersions({ counter: 1n, writer: low }, { counter: 1n, writer: low })).toBe(0);
  });

  it("are a total order: antisymmetric and transitive", () => {
    fc.assert(
      fc.property(versionArb, versionArb, versionArb, (a, b, c) => {
        expect(Math.sign(compareVersions(a, b)) + Math.sign(compareVersions(b, a))).toBe(0);
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0)
          expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it("a coordinator's next version is newer than every version it read", () => {
    fc.assert(
      fc.property(fc.array(fc.option(versionArb, { nil: undefined })), idArb, (seen, writer) => {
        const next = nextVersion(seen, writer);
        for (const v of seen) if (v !== undefined) expect(compareVersions(next, v)).toBeGreaterThan(0);
        if (seen.every((v) => v === undefined)) expect(next.counter).toBe(1n);
      }),
    );
  });

  it("replicas that apply the same writes in any order end with the same record (the higher version wins)", () => {
    const key = NodeId.fromString("k");
    fc.assert(
      fc.property(fc.array(recordArb(key), { minLength: 1, maxLength: 8 }), fc.nat(), (writes, seed) => {
        const apply = (order: readonly KvRecord[]): KvRecord | undefined =>
          order.reduce<KvRecord | undefined>((held, w) => (supersedes(w, held) ? w : held), undefined);
        const shuffled = [...writes].sort(
          (a, b) => ((writes.indexOf(a) * 7919 + seed) % 13) - ((writes.indexOf(b) * 7919 + seed) % 13),
        );
        const a = apply(writes);
        const b = apply(shuffled);
        expect(a && compareVersions(a.version, b!.version)).toBe(0);
        expect(compareVersions(a!.version, newestRecord(writes)!.version)).toBe(0);
      }),
    );
  });
});

describe("replica sets", () => {
  it("are the k nodes at the smallest ring distance from the key, closest first", () => {
    fc.assert(
      fc.property(
        idArb,
        fc.uniqueArray(idArb, { minLength: 1, maxLength: 30, selector: (n) => n.hex }),
        fc.integer({ min: 1, max: 17 }),
        (key, ids, k) => {
          const set = replicaSet(
            key,
            ids.map((id) => ({ id })),
            k,
          );
          expect(set).toHaveLength(Math.min(k, ids.length));
          const chosen = new Set(set.map((n) => n.id.hex));
          const farthest = set.reduce(
            (m, n) => (ringDistance(key, n.id) > m ? ringDistance(key, n.id) : m),
            0n,
          );
          for (const id of ids) if (!chosen.has(id.hex)) expect(ringDistance(key, id) >= farthest).toBe(true);
          for (let i = 1; i < set.length; i++)
            expect(ringDistance(key, set[i - 1]!.id) <= ringDistance(key, set[i]!.id)).toBe(true);
        },
      ),
    );
  });

  it("break a tie between two equally distant nodes towards the lower ID, as routing does", () => {
    const key = NodeId.fromBigInt(100n);
    const set = replicaSet(key, [{ id: NodeId.fromBigInt(110n) }, { id: NodeId.fromBigInt(90n) }], 1);
    expect(set[0]!.id.value).toBe(90n);
  });

  it("k defaults to 3 with majority quorums, and is bounded by half the leaf set plus one", () => {
    expect(kvReplication(32, {})).toEqual({ replicas: 3, writeQuorum: 2, readQuorum: 2 });
    expect(kvReplication(32, { replicas: 5 })).toEqual({ replicas: 5, writeQuorum: 3, readQuorum: 3 });
    expect(maxReplicationFactor(32)).toBe(17);
    expect(() => kvReplication(8, { replicas: 6 })).toThrow(/1\.\.5/);
    expect(() => kvReplication(32, { replicas: 3, writeQuorum: 4 })).toThrow(/write quorum/);
    expect(() => kvReplication(32, { replicas: 3, readQuorum: 0 })).toThrow(/read quorum/);
    expect(majority(4)).toBe(3);
  });
});

describe("quorums", () => {
  it("are reached at the needed successes and fail once the rest cannot make it up", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.nat(),
        fc.array(fc.boolean(), { maxLength: 9 }),
        (total, n, answers) => {
          const needed = 1 + (n % total);
          const q = new Quorum(total, needed);
          let ok = 0;
          let bad = 0;
          for (const a of answers.slice(0, total)) {
            if (a) ok++;
            else bad++;
            const state = a ? q.succeeded() : q.failed();
            expect(state).toBe(ok >= needed ? "reached" : total - bad < needed ? "failed" : "pending");
          }
        },
      ),
    );
  });

  it("a put's version read meets every write quorum of the same replicas", () => {
    for (let k = 1; k <= 7; k++)
      for (let w = 1; w <= k; w++)
        for (let r = 1; r <= k; r++) expect(versionReadQuorum(k, w, r) + w).toBeGreaterThan(k);
  });
});

describe("digests", () => {
  it("differ exactly in the buckets of the keys whose versions differ", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { maxLength: 40, selector: (n) => n.hex }),
        fc.nat(),
        (keys, pick) => {
          const records: KvRecord[] = keys.map((key) => ({
            key,
            version: { counter: 1n, writer: key },
            value: new Uint8Array(),
            deleted: false,
          }));
          const same = digestOf(records);
          expect(differingBuckets(same, digestOf([...records].reverse()))).toEqual([]);
          if (records.length === 0) return;
          const changed = records.map((r, i) =>
            i === pick % records.length ? { ...r, version: { ...r.version, counter: 2n } } : r,
          );
          expect(differingBuckets(same, digestOf(changed))).toEqual([
            bucketOf(records[pick % records.length]!.key.hex),
          ]);
        },
      ),
    );
  });

  it("put each key in one of 64 buckets by its first six bits", () => {
    expect(bucketOf("00" + "0".repeat(30))).toBe(0);
    expect(bucketOf("ff" + "0".repeat(30))).toBe(DIGEST_BUCKETS - 1);
    expect(bucketOf("04" + "0".repeat(30))).toBe(1);
  });
});
