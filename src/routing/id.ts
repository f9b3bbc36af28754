// 128-bit Pastry identifiers on a ring of size 2^128, read as 32 base-16 digits (b = 4).
import * as crypto from "node:crypto";

export const ID_BITS = 128;
export const ID_BYTES = 16;
/** Bits per digit (Pastry's b). */
export const DIGIT_BITS = 4;
/** Number of digits in an ID: the routing table's row count. */
export const ID_DIGITS = ID_BITS / DIGIT_BITS;
/** Values one digit can take: the routing table's column count. */
export const DIGIT_BASE = 1 << DIGIT_BITS;

/** Hex digits in NodeId.top: 52 bits, the most a double holds exactly. */
const TOP_DIGITS = 13;
/** Hex digits in NodeId.head: 28 bits, within V8's small integers (stored unboxed in the object). */
const HEAD_DIGITS = 7;
/** The ring's size in units of NodeId.top (2^52). */
const TOP_RING = 2 ** (TOP_DIGITS * DIGIT_BITS);

const RING = 1n << BigInt(ID_BITS);
const HALF_RING = RING >> 1n;
const HEX_RE = /^[0-9a-fA-F]{32}$/;

type OneShotHash = (algorithm: "sha256", data: string, outputEncoding: "buffer") => Buffer;
/** crypto.hash where this Node has it (20.12+, 21.7+): one call, no Hash object per key name. */
const oneShotHash: unknown = (crypto as { readonly hash?: unknown }).hash;
/** SHA-256 of `text` as UTF-8; the same bytes either way. */
const sha256Text: (text: string) => Buffer =
  typeof oneShotHash === "function"
    ? (text) => (oneShotHash as OneShotHash)("sha256", text, "buffer")
    : (text) => crypto.createHash("sha256").update(text, "utf8").digest();

export class InvalidNodeIdError extends Error {
  override readonly name = "InvalidNodeIdError";
}

/** An immutable 128-bit identifier. Equal IDs have equal `hex` strings and equal `value`s. */
export class NodeId {
  /** The ID as an unsigned integer in [0, 2^128). */
  readonly value: bigint;
  /** The ID as 32 lowercase hex digits; most significant digit first. */
  readonly hex: string;
  /**
   * The top 52 bits (the first 13 hex digits) as an exact integer: ring distances in units of 2^76 without
   * bigint arithmetic, to order IDs that are far apart (see approxClockwise).
   */
  readonly top: number;
  /**
   * The top 28 bits: a small integer, held in the object itself (a bigint or a 52-bit double is a separate
   * heap object), so that equals() tells most different IDs apart without loading either value.
   */
  private readonly head: number;

  private constructor(value: bigint, hex: string) {
    this.value = value;
    this.hex = hex;
    this.top = Number.parseInt(hex.slice(0, TOP_DIGITS), 16);
    this.head = Number.parseInt(hex.slice(0, HEAD_DIGITS), 16);
  }

  /** Takes the first 16 bytes. Fewer than 16 bytes is an error: an ID must not be silently zero-padded. */
  static fromBytes(bytes: Uint8Array): NodeId {
    if (bytes.length < ID_BYTES) {
      throw new InvalidNodeIdError(`a node ID needs at least ${ID_BYTES} bytes, got ${bytes.length}`);
    }
    // Buffer's hex is always 32 lowercase digits: no need for fromHex's checks.
    const hex = Buffer.from(bytes.buffer, bytes.byteOffset, ID_BYTES).toString("hex");
    return new NodeId(BigInt("0x" + hex), hex);
  }

  static fromHex(hex: string): NodeId {
    if (!HEX_RE.test(hex)) {
      throw new InvalidNodeIdError(
        `a node ID in hex must be exactly 32 hex digits, got ${JSON.stringify(hex)}`,
      );
    }
    const lower = hex.toLowerCase();
    return new NodeId(BigInt("0x" + lower), lower);
  }

  static fromBigInt(value: bigint): NodeId {
    const v = ((value % RING) + RING) % RING;
    return new NodeId(v, v.toString(16).padStart(ID_DIGITS, "0"));
  }

  /** The first 16 bytes of SHA-256 of the text: a stable ID for a name or key. */
  static fromString(text: string): NodeId {
    return NodeId.fromBytes(sha256Text(text));
  }

  toBytes(): Uint8Array {
    return new Uint8Array(Buffer.from(this.hex, "hex"));
  }

  toString(): string {
    return this.hex;
  }

  /** Digit i (0 = most significant), in [0, 16). */
  digit(i: number): number {
    return digitOfHex(this.hex, i);
  }

  equals(other: NodeId): boolean {
    return this === other || (this.head === other.head && this.value === other.value);
  }

  /** Numeric order: negative, zero or positive. */
  compare(other: NodeId): number {
    return this.value < other.value ? -1 : this.value > other.value ? 1 : 0;
  }

  /** Number of leading digits shared with `other` (32 when equal). */
  commonPrefixLength(other: NodeId): number {
    return commonPrefixLengthOfHex(this.hex, other.hex);
  }
}

/** NodeId.commonPrefixLength of two IDs given as their `hex`: for callers that hold only the hex. */
export function commonPrefixLengthOfHex(a: string, b: string): number {
  let i = 0;
  while (i < ID_DIGITS && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** NodeId.digit of an ID given as its `hex`. */
export function digitOfHex(hex: string, i: number): number {
  const c = hex.charCodeAt(i);
  return c <= 57 ? c - 48 : c - 87;
}

/** Distance going clockwise (increasing IDs, wrapping) from `from` to `to`. */
export function clockwiseDistance(from: NodeId, to: NodeId): bigint {
  const d = to.value - from.value;
  return d >= 0n ? d : d + RING;
}

/**
 * clockwiseDistance from `from` to `to` in units of 2^76, from the IDs' top 52 bits alone (no bigint). For a
 * result a >= 1 the exact distance d lies strictly between (a - 1) * 2^76 and (a + 1) * 2^76; a result of 0
 * says nothing (d is below 2^76 or above 2^128 - 2^76).
 */
export function approxClockwise(from: NodeId, to: NodeId): number {
  const d = to.top - from.top;
  return d < 0 ? d + TOP_RING : d;
}

/**
 * How two exact distances compare, from their approxClockwise values alone: -1 (the first is smaller), 1
 * (it is larger), or 0 when the approximations are too close to tell (compare the exact ones then).
 */
export function approxOrder(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  if (a + 2 <= b) return -1;
  if (b + 2 <= a) return 1;
  return 0;
}

/** Distance on the ring the shorter way round; at most 2^127. */
export function ringDistance(a: NodeId, b: NodeId): bigint {
  const d = clockwiseDistance(a, b);
  return d > HALF_RING ? RING - d : d;
}

/**
 * True when `a` is strictly closer to `key` than `b` on the ring. A key exactly between two nodes belongs
 * to the lower ID (as in the original Wendy); this rule is used everywhere a closest node is chosen.
 */
export function isCloser(key: NodeId, a: NodeId, b: NodeId): boolean {
  const da = ringDistance(key, a);
  const db = ringDistance(key, b);
  if (da !== db) return da < db;
  return a.value < b.value;
}

/** The member of `candidates` closest to `key` (ties to the lower ID), or undefined when empty. */
export function closestTo<T extends { id: NodeId }>(key: NodeId, candidates: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const c of candidates) {
    if (best === undefined || isCloser(key, c.id, best.id)) best = c;
  }
  return best;
}
