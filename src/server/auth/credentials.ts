// Node credentials, kept compatible with the seed's model (`marshal()` / `valid(bytes)`), with the
// seed's weakness fixed: a shared passphrase is never sent, it keys a challenge/response (session.ts).
import { createHmac, scryptSync, timingSafeEqual } from "node:crypto";
import { SECRET_ADVICE, secretWeakness } from "./secret-strength.js";

/**
 * The seed's credentials model. For custom implementations that are NOT a shared secret, the bytes from
 * `marshal()` travel in call metadata and the callee checks them with `valid()` (see bearer.ts). Such bytes
 * are bearer tokens: anyone who sees one can replay it, so use them only over TLS (tls.ts).
 */
export interface Credentials {
  marshal(): Uint8Array;
  valid(bytes: Uint8Array): boolean;
}

/**
 * Credentials backed by a secret every node shares. The runtime must authenticate these with the session
 * protocol (session.ts), never by sending `marshal()` bytes as proof.
 */
export interface SharedSecretCredentials extends Credentials {
  /** 32 bytes that key the Hello proofs and session keys. Never sent on the wire. */
  readonly sharedKey: Uint8Array;
  /**
   * During a rotation (secret-keys.ts): every key accepted from the peers this node calls, sharedKey
   * first. Undefined: sharedKey only.
   */
  readonly acceptedKeys?: readonly Uint8Array[];
}

export function isSharedSecretCredentials(creds: Credentials): creds is SharedSecretCredentials {
  const key = (creds as Partial<SharedSecretCredentials>).sharedKey;
  return key instanceof Uint8Array && key.length > 0;
}

/** scrypt parameters. The defaults cost about 32 MiB and tens of milliseconds, paid once per process. */
export interface ScryptCost {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT_COST: ScryptCost = { N: 1 << 15, r: 8, p: 1 };

/**
 * Fixed protocol salt: every node must derive the same key from the same secret. A per-deployment salt
 * would only defeat precomputation, which a key of 128 random bits (PassphraseCredentials requires one)
 * already rules out; it would also be one more value every node must agree on or the ring splits.
 */
export const PASSPHRASE_KDF_SALT = "wendy-v1 passphrase key";
const KEY_BYTES = 32;
const KEY_ID_LABEL = "wendy-v1 key id";

export class InvalidPassphraseError extends Error {
  override readonly name = "InvalidPassphraseError";
}

/** Derives the 32-byte shared key from a passphrase with scrypt and the fixed protocol salt. */
export function derivePassphraseKey(
  passphrase: string | Uint8Array,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
): Uint8Array {
  const secret = typeof passphrase === "string" ? Buffer.from(passphrase, "utf8") : Buffer.from(passphrase);
  if (secret.length === 0) throw new InvalidPassphraseError("the passphrase must not be empty");
  // scrypt needs 128*N*r bytes; leave headroom so the default memory cap does not reject the cost.
  const maxmem = 256 * cost.N * cost.r * cost.p + 1024 * 1024;
  return new Uint8Array(scryptSync(secret, PASSPHRASE_KDF_SALT, KEY_BYTES, { ...cost, maxmem }));
}

/**
 * The built-in credentials: a secret key shared by all nodes. The key is derived once, at construction.
 * The secret must look like a random key of at least 128 bits (see secret-strength.ts): one captured Hello
 * lets anyone test guesses offline, so a passphrase a person could type is refused here.
 * `marshal()` returns a public key identifier (an HMAC of a fixed label under the derived key), useful to
 * spot a misconfigured peer; it proves nothing by itself, so authentication goes through session.ts.
 */
export class PassphraseCredentials implements SharedSecretCredentials {
  readonly sharedKey: Uint8Array;
  readonly acceptedKeys: readonly Uint8Array[];
  private readonly keyId: Uint8Array;

  /** `passphrase` is this node's key; `alsoAccepted`, keys of a rotation accepted from peers too. */
  constructor(
    passphrase: string | Uint8Array,
    cost: ScryptCost = DEFAULT_SCRYPT_COST,
    alsoAccepted: readonly (string | Uint8Array)[] = [],
  ) {
    for (const secret of [passphrase, ...alsoAccepted]) {
      const weakness = secretWeakness(secret);
      if (weakness !== undefined)
        throw new InvalidPassphraseError(`the shared secret is too weak: ${weakness}; ${SECRET_ADVICE}`);
    }
    this.sharedKey = derivePassphraseKey(passphrase, cost);
    this.acceptedKeys = [this.sharedKey, ...alsoAccepted.map((other) => derivePassphraseKey(other, cost))];
    this.keyId = new Uint8Array(createHmac("sha256", this.sharedKey).update(KEY_ID_LABEL).digest());
  }

  marshal(): Uint8Array {
    return new Uint8Array(this.keyId);
  }

  valid(bytes: Uint8Array): boolean {
    return bytes.length === this.keyId.length && timingSafeEqual(bytes, this.keyId);
  }
}
