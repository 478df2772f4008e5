/**
 * Philox4x32-10: the Random123 known-answer vectors, the (seed, index) ->
 * random bits mapping of qkc's stochastic rounding, and uniformity.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { philox4x32, randomBits } from "../ir/philox.js";

const hex = (w: ArrayLike<number>) =>
  Array.from(w, (x) => (x >>> 0).toString(16).padStart(8, "0")).join(" ");

describe("Random123 known-answer vectors (philox4x32-10)", () => {
  const kat: [number[], number[], string][] = [
    [[0, 0, 0, 0], [0, 0], "6627e8d5 e169c58d bc57ac4c 9b00dbd8"],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      "408f276d 41c83b0e a20bc7c6 6d5451fd",
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      "d16cfe09 94fdcceb 5001e420 24126ea1",
    ],
  ];
  for (const [ctr, key, want] of kat) {
    it(`ctr ${hex(ctr)} key ${hex(key)} -> ${want}`, () => {
      expect(hex(philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1]))).toBe(want);
    });
  }

  it("writes into a caller's buffer and returns it; inputs are not mutated", () => {
    const out = new Uint32Array(4);
    const r = philox4x32(0, 0, 0, 0, 0, 0, out);
    expect(r).toBe(out);
    expect(hex(out)).toBe("6627e8d5 e169c58d bc57ac4c 9b00dbd8");
    // a second call with other inputs does not depend on the first
    expect(
      hex(philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)),
    ).toBe("408f276d 41c83b0e a20bc7c6 6d5451fd");
    expect(hex(philox4x32(0, 0, 0, 0, 0, 0))).toBe("6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  });

  it("mulhi is exact: the output matches a BigInt re-implementation on random inputs", () => {
    const M0 = 0xd2511f53n;
    const M1 = 0xcd9e8d57n;
    const W0 = 0x9e3779b9n;
    const W1 = 0xbb67ae85n;
    const mask = 0xffffffffn;
    const ref = (c: bigint[], k: bigint[]) => {
      c = [...c];
      k = [...k];
      for (let round = 0; round < 10; round++) {
        if (round > 0) k = [(k[0] + W0) & mask, (k[1] + W1) & mask];
        const p0 = M0 * c[0];
        const p1 = M1 * c[2];
        c = [
          ((p1 >> 32n) ^ c[1] ^ k[0]) & mask,
          p1 & mask,
          ((p0 >> 32n) ^ c[3] ^ k[1]) & mask,
          p0 & mask,
        ];
      }
      return c.map(Number);
    };
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(u32, u32, u32, u32, u32, u32, (a, b, c, d, k0, k1) => {
        const want = ref([a, b, c, d].map(BigInt), [k0, k1].map(BigInt));
        expect(hex(philox4x32(a, b, c, d, k0, k1))).toBe(hex(want));
      }),
      { numRuns: 500 },
    );
  });
});

describe("randomBits(seed, index, bits)", () => {
  /** The documented mapping: block floor(i/4) as a 64-bit counter in words 0-1, word i % 4, key (seed lo, seed hi), top bits. */
  const model = (seed: number, index: number, bits: number) => {
    const block = Math.floor(index / 4);
    const w = philox4x32(
      block % 2 ** 32,
      Math.floor(block / 2 ** 32),
      0,
      0,
      seed % 2 ** 32,
      Math.floor(seed / 2 ** 32),
    );
    const word = w[index % 4];
    return bits === 32 ? word : Math.floor(word / 2 ** (32 - bits));
  };

  it("seed 0: indices 0..3 are the words of the all-zero KAT block", () => {
    const words = [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8];
    for (let i = 0; i < 4; i++) {
      expect(randomBits(0, i, 32)).toBe(words[i]);
      expect(randomBits(0, i, 8)).toBe(words[i] >>> 24);
      expect(randomBits(0, i, 1)).toBe(words[i] >>> 31);
      expect(randomBits(0, i, 16)).toBe(words[i] >>> 16);
    }
  });

  it("seed 2^53 - 1 uses key (0xffffffff, 0x1fffff)", () => {
    const seed = Number.MAX_SAFE_INTEGER;
    const w = philox4x32(0, 0, 0, 0, 0xffffffff, 0x1fffff);
    for (let i = 0; i < 4; i++) expect(randomBits(seed, i, 32)).toBe(w[i]);
  });

  it("matches the documented mapping for random seeds, indices (beyond 2^32 and 2^34) and bit counts", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        ),
        fc.oneof(
          fc.integer({ min: 0, max: 1 << 20 }),
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        ),
        fc.integer({ min: 1, max: 32 }),
        (seed, index, bits) => {
          const got = randomBits(seed, index, bits);
          expect(got).toBe(model(seed, index, bits));
          expect(Number.isInteger(got) && got >= 0 && got < 2 ** bits).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("indices past 2^34 carry into counter word 1 (element 2^34 is block 2^32: ctr = (0, 1, 0, 0))", () => {
    const w = philox4x32(0, 1, 0, 0, 7, 0);
    expect(randomBits(7, 2 ** 34, 32)).toBe(w[0]);
    expect(randomBits(7, 2 ** 34 + 3, 32)).toBe(w[3]);
    expect(randomBits(7, 2 ** 34, 32)).not.toBe(randomBits(7, 0, 32));
  });

  it("fewer bits are the top bits of more bits", () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 31 }), (seed, index, bits) => {
        expect(randomBits(seed, index, bits)).toBe(randomBits(seed, index, 32) >>> (32 - bits));
        expect(randomBits(seed, index, bits)).toBe(randomBits(seed, index, bits + 1) >>> 1);
      }),
      { numRuns: 1000 },
    );
  });

  it("depends on the seed and the index (no two of the first 4096 indices, or 64 seeds, repeat a 32-bit word)", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 4096; i++) seen.add(randomBits(42, i, 32));
    expect(seen.size).toBe(4096);
    const bySeed = new Set<number>();
    for (let s = 0; s < 64; s++) bySeed.add(randomBits(s, 5, 32));
    expect(bySeed.size).toBe(64);
  });
});

describe("uniformity", () => {
  /** chi-square statistic of counts against a uniform expectation */
  const chi2 = (counts: number[], n: number) => {
    const e = n / counts.length;
    return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  };
  /** upper bound for a chi-square with df degrees of freedom, far in the tail (about 6 sigma) */
  const bound = (df: number) => df + 6 * Math.sqrt(2 * df);

  for (const seed of [0, 1, 0xdeadbeef, 2 ** 40 + 3]) {
    it(`8-bit outputs over 2^16 consecutive indices are uniform (seed ${seed})`, () => {
      const N = 1 << 16;
      const counts = new Array(256).fill(0);
      for (let i = 0; i < N; i++) counts[randomBits(seed, i, 8)]++;
      expect(chi2(counts, N)).toBeLessThan(bound(255));
      // and each word lane on its own
      for (let lane = 0; lane < 4; lane++) {
        const lc = new Array(256).fill(0);
        for (let i = lane; i < N; i += 4) lc[randomBits(seed, i, 8)]++;
        expect(chi2(lc, N / 4), `lane ${lane}`).toBeLessThan(bound(255));
      }
    });
  }

  it("each of the 32 bit positions is 1 about half the time, and 1- and 4-bit outputs are uniform", () => {
    const N = 1 << 15;
    const ones = new Array(32).fill(0);
    const c1 = [0, 0];
    const c4 = new Array(16).fill(0);
    for (let i = 0; i < N; i++) {
      const w = randomBits(12345, i, 32);
      for (let b = 0; b < 32; b++) ones[b] += (w >>> b) & 1;
      c1[randomBits(12345, i, 1)]++;
      c4[randomBits(12345, i, 4)]++;
    }
    const sigma = Math.sqrt(N / 4);
    for (let b = 0; b < 32; b++)
      expect(Math.abs(ones[b] - N / 2), `bit ${b}`).toBeLessThan(6 * sigma);
    expect(chi2(c1, N)).toBeLessThan(bound(1));
    expect(chi2(c4, N)).toBeLessThan(bound(15));
  });

  it("consecutive 8-bit outputs are pairwise independent (chi-square on 16x16 pairs of top nibbles)", () => {
    const N = 1 << 15;
    const counts = new Array(256).fill(0);
    for (let i = 0; i < N; i++) counts[(randomBits(99, i, 4) << 4) | randomBits(99, i + 1, 4)]++;
    expect(chi2(counts, N)).toBeLessThan(bound(255));
  });
});
