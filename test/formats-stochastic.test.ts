/**
 * Stochastic rounding (SEMANTICS.md section 4): only the two neighbours are
 * produced; the result is a function of (x, random bits); with k random bits
 * uniform over [0, 2^k) the mean equals x exactly when x's discarded fraction is
 * a multiple of 2^-k, and in general P(up) = floor(t * 2^k) / 2^k (the PTX cvt.rs
 * definition in ir/formats/rounding.ts), checked by enumeration and, with bits
 * from ir/philox.ts randomBits, statistically.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  codec,
  formatBits,
  type Format,
  type OverflowPolicy,
  type Rounding,
} from "../ir/formats/index.js";
import { randomBits } from "../ir/philox.js";
import { BUILTIN_FORMATS } from "../stdlib/index.js";
import * as F from "../stdlib/formats.js";

const SR = (k: number): Rounding => ({ mode: "stochastic", randomBits: k });
const KS = [1, 4, 8, 16];
/** formats stochastic rounding is defined for (tables are rejected), at most 16 bits */
const FORMATS = BUILTIN_FORMATS.filter((f) => f.kind !== "table" && formatBits(f) <= 16);

/** Ascending finite values the encoder can produce (one entry for 0), from decode() only. */
function encodable(f: Format): number[] {
  const c = codec(f);
  const vals = new Set<number>();
  for (let code = 0; code < 2 ** c.bits; code++) {
    const v = c.decode(code);
    if (!Number.isFinite(v)) continue;
    if (f.kind === "int" && f.signed && f.range === "symmetric" && code === 2 ** (f.bits - 1))
      continue;
    vals.add(v === 0 ? 0 : v);
  }
  return [...vals].sort((a, b) => a - b);
}

const cache = new Map<Format, number[]>();
const valuesOf = (f: Format) => {
  let v = cache.get(f);
  if (!v) cache.set(f, (v = encodable(f)));
  return v;
};

/** Neighbours lo <= x <= hi among the encodable values (x inside the range). */
function neighbours(vals: number[], x: number): [number, number] {
  let lo = 0;
  let hi = vals.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (vals[mid] <= x) lo = mid;
    else hi = mid;
  }
  return vals[lo] === x ? [x, x] : vals[hi] === x ? [x, x] : [vals[lo], vals[hi]];
}

/** An x strictly inside the format's range, away from the unsigned formats' clamp at the bottom. */
function insideArb(f: Format): fc.Arbitrary<number> {
  const vals = valuesOf(f);
  return fc
    .record({
      i: fc.integer({ min: 0, max: vals.length - 2 }),
      t: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    })
    .map(({ i, t }) => vals[i] + t * (vals[i + 1] - vals[i]));
}

/** Decoded result of stochastic rounding; -0 normalised to 0 for value comparisons. */
const sr = (f: Format, x: number, k: number, r: number, o: OverflowPolicy = "saturate") => {
  const v = codec(f).decode(codec(f).encode(x, SR(k), o, r));
  return v === 0 ? 0 : v;
};

describe("stochastic rounding gives only the two neighbours, deterministically", () => {
  for (const f of FORMATS) {
    it(`${f.name}`, () => {
      const vals = valuesOf(f);
      const c = codec(f);
      fc.assert(
        fc.property(insideArb(f), fc.constantFrom(...KS, 32), fc.nat(), (x, k, seed) => {
          const r = k === 32 ? seed >>> 0 : seed % 2 ** k;
          const [lo, hi] = neighbours(vals, x);
          const code = c.encode(x, SR(k), "saturate", r);
          const v = c.decode(code);
          if (!(v === lo || v === hi))
            throw new Error(`${f.name} x=${x} k=${k} r=${r}: ${v} not in {${lo}, ${hi}}`);
          expect(c.encode(x, SR(k), "saturate", r)).toBe(code); // same inputs, same code
          expect(c.encode(x, SR(k), "propagate", r)).toBe(code); // inside the range the policy is irrelevant
          if (x < 0 || Object.is(x, -0)) {
            if (f.kind === "float" && f.signed)
              expect(code >= 2 ** (f.exponent + f.mantissa)).toBe(true); // keeps the sign
          }
          // r = 0 never rounds up in magnitude; r = 2^k - 1 rounds up iff t >= 2^-k
          const [dn, up] = Math.abs(lo) <= Math.abs(hi) ? [lo, hi] : [hi, lo];
          expect(sr(f, x, k, 0)).toBe(dn === 0 ? 0 : dn);
          if (lo !== hi) {
            const t = (Math.abs(x) - Math.abs(dn)) / Math.abs(up - dn);
            expect(sr(f, x, k, 2 ** k - 1), `t=${t}`).toBe(t >= 2 ** -k ? up : dn === 0 ? 0 : dn);
          }
        }),
        { numRuns: 1500 },
      );
    });
  }

  it("exact values never move, for every random input", () => {
    for (const f of FORMATS) {
      const c = codec(f);
      const vals = valuesOf(f).filter((_, i, a) => a.length < 300 || i % 97 === 0);
      const bad: string[] = [];
      for (const v of vals)
        for (const k of [...KS, 32])
          for (const r of [0, 1, 2 ** k - 1]) {
            const got = c.decode(c.encode(v, SR(k), "saturate", r));
            if (!Object.is(got, v) && bad.length < 10)
              bad.push(`${f.name} ${v} k=${k} r=${r}: ${got}`);
          }
      expect(bad).toEqual([]);
    }
  });

  it("symmetric in sign: SR(-x, r) = -SR(x, r) for signed formats", () => {
    for (const f of FORMATS) {
      if (f.kind === "table" || !f.signed) continue;
      fc.assert(
        fc.property(insideArb(f), fc.constantFrom(...KS), fc.nat(), (x, k, seed) => {
          const r = seed % 2 ** k;
          const a = Math.abs(x);
          if (f.kind === "int" && a > codec(f).maxFinite) return; // the symmetric-range edge is covered elsewhere
          expect(sr(f, -a, k, r)).toBe(-sr(f, a, k, r) || 0);
        }),
        { numRuns: 300 },
      );
    }
  });

  it("table formats reject stochastic rounding", () => {
    expect(() =>
      codec(BUILTIN_FORMATS.find((f) => f.kind === "table")!).encode(0.1, SR(8), "saturate", 3),
    ).toThrow(/stochastic/);
  });
});

describe("E[SR(x)] over all 2^k random inputs", () => {
  for (const k of KS) {
    it(`k = ${k}: the mean equals x exactly when the discarded fraction is a multiple of 2^-${k}`, () => {
      const formats = k === 16 ? [F.e2m1, F.e4m3, F.int4, F.f16] : FORMATS;
      const R = 2 ** k;
      for (const f of formats) {
        const vals = valuesOf(f);
        const samples = k === 16 ? 6 : 40;
        fc.assert(
          fc.property(
            fc.integer({ min: 0, max: vals.length - 2 }),
            fc.integer({ min: 0, max: R - 1 }),
            (i, j) => {
              // dn: the neighbour of smaller magnitude, up: the larger; x's discarded fraction is j / 2^k
              const [dn, up] =
                Math.abs(vals[i]) <= Math.abs(vals[i + 1])
                  ? [vals[i], vals[i + 1]]
                  : [vals[i + 1], vals[i]];
              const x = dn + (j / R) * (up - dn); // exact in float64 for these formats
              let ups = 0;
              let sum = 0;
              for (let r = 0; r < R; r++) {
                const v = sr(f, x, k, r);
                if (v !== dn && v !== up) throw new Error(`${f.name} x=${x} r=${r}: ${v}`);
                if (v === up) ups++;
                sum += v;
              }
              if (ups !== j)
                throw new Error(
                  `${f.name} k=${k} x=${x} (${dn} -> ${up}, j=${j}): ${ups} of ${R} rounded up, want ${j}`,
                );
              if (sum / R !== x) throw new Error(`${f.name} k=${k} x=${x}: mean ${sum / R}`);
            },
          ),
          { numRuns: samples },
        );
      }
    });
  }

  it("general x: P(up) = floor(t * 2^k) / 2^k, so 0 <= x - mean < (hi - lo) / 2^k in magnitude", () => {
    for (const k of [1, 4, 8]) {
      const R = 2 ** k;
      for (const f of FORMATS) {
        const vals = valuesOf(f);
        fc.assert(
          fc.property(insideArb(f), (x) => {
            const [lo, hi] = neighbours(vals, x);
            if (lo === hi) return;
            const a = Math.abs(x);
            const [dn, up] = Math.abs(lo) <= Math.abs(hi) ? [lo, hi] : [hi, lo];
            const t = (a - Math.abs(dn)) / Math.abs(up - dn);
            let ups = 0;
            for (let r = 0; r < R; r++) if (sr(f, x, k, r) === up) ups++;
            expect(ups, `${f.name} k=${k} x=${x} t=${t}`).toBe(Math.floor(t * R));
            const meanMag = Math.abs(dn) + (ups / R) * Math.abs(up - dn);
            expect(meanMag).toBeLessThanOrEqual(a);
            expect(a - meanMag).toBeLessThan(Math.abs(up - dn) / R);
          }),
          { numRuns: 40 },
        );
      }
    }
  });
});

describe("E[SR(x)] with Philox bits over many element indices", () => {
  const N = 20000;
  for (const k of KS) {
    it(`k = ${k}: empirical P(up) and mean within 5 sigma`, () => {
      const R = 2 ** k;
      const cases: [Format, number][] = [
        [F.e2m1, 2.7],
        [F.e2m1, -0.3],
        [F.e4m3, 0.3],
        [F.e4m3, -300.7],
        [F.e5m2, 1e-5],
        [F.int8_q6, 0.123456],
        [F.int4, -3.3],
        [F.f16, Math.PI],
        [F.bf16, -Math.E * 1e10],
        [F.e8m0, 3.3],
      ];
      for (const [f, x] of cases) {
        const [lo, hi] = neighbours(valuesOf(f), x);
        const [dn, up] = Math.abs(lo) <= Math.abs(hi) ? [lo, hi] : [hi, lo];
        const q = Math.abs(up - dn);
        const t = (Math.abs(x) - Math.abs(dn)) / q;
        const p = Math.floor(t * R) / R;
        let ups = 0;
        let sum = 0;
        const seed = 0x1234_5678_9a + k;
        for (let i = 0; i < N; i++) {
          const v = sr(f, x, k, randomBits(seed, i, k));
          if (v === up) ups++;
          else if (v !== dn) throw new Error(`${f.name} x=${x}: ${v} is not a neighbour`);
          sum += v;
        }
        const sigma = Math.sqrt((p * (1 - p)) / N);
        const tol = 5 * sigma + 1e-12;
        expect(
          Math.abs(ups / N - p),
          `${f.name} x=${x} k=${k}: P(up) ${ups / N} vs ${p}`,
        ).toBeLessThanOrEqual(tol);
        // the mean is x up to the truncation bias (< q / 2^k) plus noise
        const mean = sum / N;
        expect(Math.abs(mean - x), `${f.name} x=${x} k=${k}: mean ${mean}`).toBeLessThanOrEqual(
          q * (1 / R + 5 * sigma) + 1e-12 * Math.abs(x),
        );
        if (k === 16) expect(Math.abs(mean - x) / q).toBeLessThan(0.01);
      }
    });
  }
});
