// Overlay keys: raw IDs pass through, names hash exactly like NodeId.fromString, anything else is refused.
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { decodeKey, encodeKey, MAX_KEY_NAME_BYTES, WireFormatError } from "../../src/wire/index.js";

describe("decodeKey", () => {
  it("returns a raw 16-byte ID unchanged", () => {
    const id = NodeId.fromString("some key");
    expect(decodeKey(encodeKey(id), "key")).toEqual(id);
  });

  it("hashes a name to the same ID as NodeId.fromString (SHA-256, first 16 bytes)", () => {
    expect(decodeKey({ kind: { $case: "name", name: "user/42" } }, "key").hex).toBe(
      NodeId.fromString("user/42").hex,
    );
  });

  it("refuses a missing key, a short ID, an empty or oversized name", () => {
    expect(() => decodeKey(undefined, "key")).toThrow(WireFormatError);
    expect(() => decodeKey({ kind: undefined }, "key")).toThrow(/either id or name/);
    expect(() => decodeKey({ kind: { $case: "id", id: Buffer.alloc(8) } }, "key")).toThrow(/key\.id/);
    expect(() => decodeKey({ kind: { $case: "name", name: "" } }, "key")).toThrow(/key\.name/);
    const long = "é".repeat(MAX_KEY_NAME_BYTES / 2 + 1);
    expect(() => decodeKey({ kind: { $case: "name", name: long } }, "key")).toThrow(/key\.name/);
  });
});
