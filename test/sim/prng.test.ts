import { describe, expect, it } from "vitest";
import { Prng } from "../../src/sim/prng.js";

const draw = (p: Prng, n: number): number[] => Array.from({ length: n }, () => p.nextUint32());

describe("Prng", () => {
  it("is reproducible from its seed and differs between seeds", () => {
    expect(draw(new Prng(42), 100)).toEqual(draw(new Prng(42), 100));
    expect(draw(new Prng(42), 100)).not.toEqual(draw(new Prng(43), 100));
  });

  it("gives floats in [0, 1) that are roughly uniform", () => {
    const p = new Prng(7);
    const buckets = new Array<number>(10).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = p.next();
      if (x < 0 || x >= 1) outOfRange++;
      else buckets[Math.floor(x * 10)]!++;
    }
    expect(outOfRange).toBe(0);
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(500);
  });

  it("forks independent, reproducible streams", () => {
    const a = new Prng(1);
    const b = new Prng(1);
    const fa = a.fork();
    const fb = b.fork();
    expect(draw(fa, 20)).toEqual(draw(fb, 20));
    expect(draw(a.fork(), 20)).not.toEqual(draw(a.fork(), 20));
  });

  it("draws 128-bit IDs, integers in range and permutations", () => {
    const p = new Prng(3);
    const ids = new Set(Array.from({ length: 1000 }, () => p.nodeId().hex));
    expect(ids.size).toBe(1000);
    for (let i = 0; i < 1000; i++) {
      const v = p.int(7);
      expect(Number.isInteger(v) && v >= 0 && v < 7).toBe(true);
    }
    const perm = p.shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...perm].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
