import { describe, expect, it } from "vitest";
import {
  InvalidPassphraseError,
  PassphraseCredentials,
  derivePassphraseKey,
  isSharedSecretCredentials,
  type Credentials,
  type ScryptCost,
} from "../../src/server/auth/credentials.js";
import { testSecret } from "../helpers/secrets.js";

// Cheap enough for tests; production uses DEFAULT_SCRYPT_COST.
const TEST_COST: ScryptCost = { N: 1024, r: 8, p: 1 };
// scrypt("wendy", salt "wendy-v1 passphrase key", N=1024, r=8, p=1, 32 bytes).
const PINNED_WENDY_KEY_HEX = "956518fdb445da054d499e6f55bcd320f20135f255a882f8fec2b57fbf753c43";

describe("derivePassphraseKey", () => {
  it("is deterministic and the same for a string and its UTF-8 bytes", () => {
    const a = derivePassphraseKey("correct horse", TEST_COST);
    const b = derivePassphraseKey("correct horse", TEST_COST);
    const c = derivePassphraseKey(new TextEncoder().encode("correct horse"), TEST_COST);
    expect(a).toHaveLength(32);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(true);
  });

  it("pins the protocol salt: a fixed vector every release must reproduce", () => {
    const key = derivePassphraseKey("wendy", TEST_COST);
    expect(Buffer.from(key).toString("hex")).toBe(PINNED_WENDY_KEY_HEX);
  });

  it("differs for a different passphrase or a different cost", () => {
    const base = Buffer.from(derivePassphraseKey("correct horse", TEST_COST)).toString("hex");
    expect(Buffer.from(derivePassphraseKey("correct horsf", TEST_COST)).toString("hex")).not.toBe(base);
    const dearer = derivePassphraseKey("correct horse", { N: 2048, r: 8, p: 1 });
    expect(Buffer.from(dearer).toString("hex")).not.toBe(base);
  });

  it("refuses an empty passphrase", () => {
    expect(() => derivePassphraseKey("", TEST_COST)).toThrow(InvalidPassphraseError);
    expect(() => new PassphraseCredentials(new Uint8Array(0), TEST_COST)).toThrow(InvalidPassphraseError);
  });
});

describe("PassphraseCredentials", () => {
  it("never puts the passphrase or the key in marshal()", () => {
    const creds = new PassphraseCredentials(testSecret("hunter2"), TEST_COST);
    const wire = Buffer.from(creds.marshal());
    expect(wire.includes(Buffer.from(testSecret("hunter2")))).toBe(false);
    expect(wire.includes(Buffer.from(creds.sharedKey))).toBe(false);
  });

  it("accepts the key id of the same passphrase and refuses others", () => {
    const mine = new PassphraseCredentials(testSecret("alpha"), TEST_COST);
    const same = new PassphraseCredentials(testSecret("alpha"), TEST_COST);
    const other = new PassphraseCredentials(testSecret("beta"), TEST_COST);
    expect(mine.valid(same.marshal())).toBe(true);
    expect(mine.valid(other.marshal())).toBe(false);
    expect(mine.valid(mine.marshal().subarray(0, 31))).toBe(false);
    expect(mine.valid(new Uint8Array(0))).toBe(false);
  });

  it("refuses a weak secret with the reason and how to make a strong one", () => {
    for (const weak of ["s3cret", "correct horse battery staple", new Uint8Array(16)]) {
      expect(() => new PassphraseCredentials(weak, TEST_COST)).toThrow(/too weak: .*openssl rand/);
    }
  });

  it("is recognised as a shared secret, unlike a custom bearer credential", () => {
    const custom: Credentials = { marshal: () => new Uint8Array([1]), valid: (b) => b[0] === 1 };
    expect(isSharedSecretCredentials(new PassphraseCredentials(testSecret("alpha"), TEST_COST))).toBe(true);
    expect(isSharedSecretCredentials(custom)).toBe(false);
  });
});
