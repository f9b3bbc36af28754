// A small seeded PRNG (xoshiro128**, seeded through splitmix32) so a whole simulation is reproducible
// from one seed. Math.random is never used by the simulator.
import type { RandomSource } from "../routing/types.js";
import { NodeId } from "../routing/id.js";

const TWO_POW_32 = 4294967296;

/** splitmix32: spreads a single 32-bit seed over the 128 bits of xoshiro state. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Prng implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const sm = { s: seed | 0 };
    this.a = splitmix32(sm);
    this.b = splitmix32(sm);
    this.c = splitmix32(sm);
    this.d = splitmix32(sm);
    // An all-zero state would only ever produce zeros.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** An integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** An independent generator derived from this one (one per simulated node, so nodes do not interleave). */
  fork(): Prng {
    return new Prng(this.nextUint32() ^ Math.imul(this.nextUint32(), 0x27d4eb2d));
  }

  /** A uniformly random 128-bit ID. */
  nodeId(): NodeId {
    let hex = "";
    for (let i = 0; i < 4; i++) hex += this.nextUint32().toString(16).padStart(8, "0");
    return NodeId.fromHex(hex);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
