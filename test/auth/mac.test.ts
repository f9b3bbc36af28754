import * as crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import { macFunctions, type OneShotHash } from "../../src/server/auth/mac.js";

const oneShot = (crypto as { readonly hash?: OneShotHash }).hash;
const keys = [0, 1, 32, 64, 65, 200].map((n) => crypto.randomBytes(n));
const partLists: Uint8Array[][] = [
  [],
  [Buffer.from("wendy-v1 answer")],
  [Buffer.from("/wendy.v1.PeerService/RouteStream"), Buffer.alloc(8, 7), crypto.randomBytes(32)],
  [crypto.randomBytes(1000), new Uint8Array(0), crypto.randomBytes(3)],
];

function reference(key: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  const hmac = crypto.createHmac("sha256", key);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

describe.each([
  ["one-shot crypto.hash", oneShot],
  ["createHash and createHmac (Node without crypto.hash)", undefined],
])("MAC functions over %s", (_name, hash) => {
  const mac = macFunctions(hash);

  it("hmacSha256 equals createHmac's HMAC-SHA-256 for keys shorter, equal to and longer than a block", () => {
    for (const key of keys)
      for (const parts of partLists)
        expect(mac.hmacSha256(key, parts).equals(reference(key, parts))).toBe(true);
  });

  it("hmacSha256 gives the same MAC when asked again under the same key object (its kept pads)", () => {
    const key = crypto.randomBytes(32);
    const first = mac.hmacSha256(key, partLists[2]!);
    expect(mac.hmacSha256(key, partLists[2]!).equals(first)).toBe(true);
    expect(mac.hmacSha256(crypto.randomBytes(32), partLists[2]!).equals(first)).toBe(false);
  });

  it("sha256 equals createHash's SHA-256", () => {
    const data = crypto.randomBytes(777);
    expect(mac.sha256(data).equals(crypto.createHash("sha256").update(data).digest())).toBe(true);
  });
});
