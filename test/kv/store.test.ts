// The replica store's bounds and conflict rule, and the request checks of the client API.
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import type { KvRecord } from "../../src/kv/record.js";
import { WendyError } from "../../src/server/errors.js";
import { decodeOperation, timeoutOf } from "../../src/server/kv/operations.js";
import { KvStoreFullError, MemoryKvStore } from "../../src/server/kv/store.js";
import { WireFormatError } from "../../src/wire/errors.js";

const writer = NodeId.fromString("writer");
const record = (key: string, counter: bigint, bytes = 10, deleted = false): KvRecord => ({
  key: NodeId.fromString(key),
  version: { counter, writer },
  value: new Uint8Array(deleted ? 0 : bytes),
  deleted,
});

describe("the replica store", () => {
  it("keeps the higher version whatever the order of arrival, and counts bytes of what it holds", () => {
    const store = new MemoryKvStore({ maxKeys: 10, maxBytes: 10_000 });
    store.apply(record("a", 2n, 100));
    expect(store.apply(record("a", 1n, 5)).version.counter).toBe(2n);
    expect(store.bytes).toBe(16 + 16 + 8 + 100);
    store.apply(record("a", 3n, 0, true));
    expect(store.get(NodeId.fromString("a"))?.deleted).toBe(true);
    expect(store.bytes).toBe(16 + 16 + 8);
  });

  it("refuses a new key past its key bound and a growth past its byte bound with RESOURCE_EXHAUSTED, evicting nothing", () => {
    const store = new MemoryKvStore({ maxKeys: 2, maxBytes: 200 });
    store.apply(record("a", 1n));
    store.apply(record("b", 1n));
    expect(() => store.apply(record("c", 1n))).toThrow(KvStoreFullError);
    expect(store.apply(record("a", 2n)).version.counter).toBe(2n); // a held key may still change
    expect(() => store.apply(record("b", 2n, 500))).toThrow(/200 bytes/);
    expect(store.size).toBe(2);
    let refused: unknown;
    try {
      store.apply(record("c", 1n));
    } catch (error) {
      refused = error;
    }
    expect((refused as WendyError).code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("drops a handed-over key only if no newer version arrived meanwhile", () => {
    const store = new MemoryKvStore();
    const old = record("a", 1n);
    store.apply(old);
    store.apply(record("a", 2n));
    store.drop(old.key, old);
    expect(store.get(old.key)?.version.counter).toBe(2n);
    store.drop(old.key);
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
  });
});

describe("client requests", () => {
  const key = { kind: { $case: "name" as const, name: "k" } };
  it("a value over the payload limit is RESOURCE_EXHAUSTED; a missing key, if_absent = false or on a delete, a short writer are INVALID_ARGUMENT", () => {
    const code = (f: () => unknown): number | string => {
      try {
        f();
        return "ok";
      } catch (error) {
        return error instanceof WireFormatError ? status.INVALID_ARGUMENT : (error as WendyError).code;
      }
    };
    const put = (over: object) => ({
      $case: "put" as const,
      put: { key, value: Buffer.alloc(4), timeoutMs: 0, ...over },
    });
    expect(code(() => decodeOperation(put({ value: Buffer.alloc(11) }), 10))).toBe(status.RESOURCE_EXHAUSTED);
    expect(code(() => decodeOperation(put({ key: undefined }), 10))).toBe(status.INVALID_ARGUMENT);
    expect(
      code(() =>
        decodeOperation(put({ precondition: { kind: { $case: "ifAbsent", ifAbsent: false } } }), 10),
      ),
    ).toBe(status.INVALID_ARGUMENT);
    expect(
      code(() =>
        decodeOperation(
          put({
            precondition: {
              kind: { $case: "ifVersion", ifVersion: { counter: 1n, writer: Buffer.alloc(3) } },
            },
          }),
          10,
        ),
      ),
    ).toBe(status.INVALID_ARGUMENT);
    expect(
      code(() =>
        decodeOperation(
          put({
            precondition: {
              kind: { $case: "ifVersion", ifVersion: { counter: 0n, writer: Buffer.alloc(16) } },
            },
          }),
          10,
        ),
      ),
    ).toBe(status.INVALID_ARGUMENT);
    const del = {
      $case: "delete" as const,
      delete: { key, precondition: { kind: { $case: "ifAbsent" as const, ifAbsent: true } }, timeoutMs: 0 },
    };
    expect(code(() => decodeOperation(del, 10))).toBe(status.INVALID_ARGUMENT);
    expect(code(() => decodeOperation(put({}), 10))).toBe("ok");
  });

  it("timeout_ms 0 means 5000 ms; above 60000 is INVALID_ARGUMENT", () => {
    expect(timeoutOf({ $case: "get", get: { key, timeoutMs: 0 } })).toBe(5000);
    expect(timeoutOf({ $case: "get", get: { key, timeoutMs: 1234 } })).toBe(1234);
    expect(() => timeoutOf({ $case: "get", get: { key, timeoutMs: 60_001 } })).toThrow(WireFormatError);
  });
});
