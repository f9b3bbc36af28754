// SHA-256 and HMAC-SHA-256 for the per-batch MACs of the session protocol. Every RouteStream batch costs
// four of each (sign, verify, the answer's MAC and its check); createHash and createHmac build a native
// object per use and re-key the HMAC every time. Where Node has one-shot crypto.hash (Node >= 20.12 and
// >= 21.7) the HMAC is computed from it directly (RFC 2104, with the key's padded blocks kept per key);
// elsewhere it falls back to createHash and createHmac. Both give the same bytes.
// The one-shot digests are asked for as "binary" (latin1) strings, one character per byte: Node 20's
// crypto.hash checks a "buffer" output encoding on a slow path (lower-casing it, about 350 ns a call), and
// such a digest is written straight into the outer block; an HMAC costs 1.4 instead of 2.3 µs (2026-12-07,
// a call MAC over a 300-byte body).
import * as crypto from "node:crypto";

/** Hashes `data` in one call, returning the digest as a latin1 ("binary") string: crypto.hash's shape. */
export type OneShotHash = (algorithm: "sha256", data: Uint8Array, outputEncoding: "binary") => string;

export interface MacFunctions {
  sha256(data: Uint8Array): Buffer;
  /** HMAC-SHA-256 under `key` of the concatenation of `parts`. */
  hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Buffer;
}

/** SHA-256's block size: HMAC pads its key to one block. */
const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;
const IPAD = 0x36;
const OPAD = 0x5c;

interface Pads {
  readonly inner: Buffer;
  readonly outer: Buffer;
}

/** The MAC functions over `oneShot` when given, else over createHash and createHmac. */
export function macFunctions(oneShot: OneShotHash | undefined): MacFunctions {
  if (oneShot === undefined) {
    return {
      sha256: (data) => crypto.createHash("sha256").update(data).digest(),
      hmacSha256: (key, parts) => {
        const hmac = crypto.createHmac("sha256", key);
        for (const part of parts) hmac.update(part);
        return hmac.digest();
      },
    };
  }
  const sha256 = (data: Uint8Array): Buffer => Buffer.from(oneShot("sha256", data, "binary"), "latin1");
  // Session keys are long-lived objects: their padded blocks are made once, not per MAC.
  const padsByKey = new WeakMap<Uint8Array, Pads>();
  const padsOf = (key: Uint8Array): Pads => {
    let pads = padsByKey.get(key);
    if (pads === undefined) {
      const block = Buffer.alloc(BLOCK_BYTES);
      block.set(key.byteLength > BLOCK_BYTES ? sha256(key) : key);
      pads = { inner: xorBlock(block, IPAD), outer: xorBlock(block, OPAD) };
      padsByKey.set(key, pads);
    }
    return pads;
  };
  return {
    sha256,
    hmacSha256: (key, parts) => {
      const pads = padsOf(key);
      let length = BLOCK_BYTES;
      for (const part of parts) length += part.byteLength;
      const inner = Buffer.allocUnsafe(length);
      inner.set(pads.inner, 0);
      let at = BLOCK_BYTES;
      for (const part of parts) {
        inner.set(part, at);
        at += part.byteLength;
      }
      const outer = Buffer.allocUnsafe(BLOCK_BYTES + DIGEST_BYTES);
      outer.set(pads.outer, 0);
      outer.write(oneShot("sha256", inner, "binary"), BLOCK_BYTES, "latin1");
      return sha256(outer);
    },
  };
}

function xorBlock(block: Buffer, pad: number): Buffer {
  const out = Buffer.allocUnsafe(BLOCK_BYTES);
  for (let i = 0; i < BLOCK_BYTES; i++) out[i] = block[i]! ^ pad;
  return out;
}

/** crypto.hash where this Node has it (feature-detected: Node 20 before 20.12 has not). */
function detectOneShot(): OneShotHash | undefined {
  const candidate: unknown = (crypto as { readonly hash?: unknown }).hash;
  return typeof candidate === "function" ? (candidate as OneShotHash) : undefined;
}

/** The functions this process uses. */
export const { sha256, hmacSha256 } = macFunctions(detectOneShot());
