/**
 * Exhaustive conformance of every built-in format of at most 16 bits:
 * decode every code, re-encode it under every non-stochastic rounding mode and
 * both overflow policies; monotonic decode; independent decoders; and f32 /
 * f16 / bf16 encode against Math.fround and an independent BigInt rounding.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allCodes,
  codec,
  formatBits,
  type FloatFormat,
  type Format,
  type OverflowPolicy,
  type Rounding,
  type RoundingMode,
} from "../ir/formats/index.js";
import { BUILTIN_FORMATS } from "../stdlib/index.js";
import * as F from "../stdlib/formats.js";

const R = (mode: RoundingMode, randomBits = 8): Rounding => ({ mode, randomBits });
const MODES: RoundingMode[] = ["nearest_even", "nearest_away", "nearest_lower", "toward_zero"];
const POLICIES: OverflowPolicy[] = ["saturate", "propagate"];
const SMALL = BUILTIN_FORMATS.filter((f) => formatBits(f) <= 16);
const hex = (c: number) => "0x" + c.toString(16);
const asFloat = (f: Format): FloatFormat => {
  if (f.kind !== "float") throw new Error(`${f.name} is not a float format`);
  return f;
};

/** Sign bit value of a signed float format's codes. */
const signBitOf = (f: FloatFormat) => 2 ** (f.exponent + f.mantissa);

describe("the built-in list holds what the brief names", () => {
  it("includes f16 and bf16 among the formats of at most 16 bits", () => {
    const names = SMALL.map((f) => f.name);
    expect(names).toContain("f16");
    expect(names).toContain("bf16");
    for (const n of [
      "e2m1",
      "e2m3",
      "e3m2",
      "e4m3",
      "e5m2",
      "e8m0",
      "int8",
      "int8_q6",
      "int4",
      "uint4",
    ])
      expect(names).toContain(n);
    expect(
      SMALL.some((f) => f.kind === "table" && f.bits === 4),
      "the NF4 table",
    ).toBe(true);
  });
});

/**
 * What encode(decode(code)) must be: the same code, except NaN codes give the
 * canonical NaN, codes outside the encode range (symmetric ints' most negative)
 * give the saturated code, and +-Inf under `saturate` gives +-max (PTX .satfinite)
 * while under `propagate` it stays +-Inf in every mode (an Inf input is exact).
 */
function expectedReencode(f: Format, code: number, policy: OverflowPolicy): number {
  const c = codec(f);
  const v = c.decode(code);
  if (Number.isNaN(v)) return c.nanCode;
  if (f.kind === "int" && f.signed && f.range === "symmetric" && code === 2 ** (f.bits - 1))
    return code + 1;
  if (f.kind === "float" && Math.abs(v) === Infinity && policy === "saturate") {
    const maxCode = c.encode(c.maxFinite, R("nearest_even"), "saturate");
    return v > 0 ? maxCode : maxCode + signBitOf(f);
  }
  return code;
}

describe("decode then re-encode every code (formats of at most 16 bits)", () => {
  for (const f of SMALL) {
    it(`${f.name}: every code round-trips under every non-stochastic mode and both overflow policies`, () => {
      const c = codec(f);
      const bad: string[] = [];
      for (const code of allCodes(c)) {
        const v = c.decode(code);
        for (const policy of POLICIES) {
          for (const mode of MODES) {
            const got = c.encode(v, R(mode), policy);
            const want = expectedReencode(f, code, policy);
            if (got !== want && bad.length < 10)
              bad.push(`${hex(code)} (${v}) ${mode}/${policy}: ${hex(got)} != ${hex(want)}`);
          }
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it("-0 keeps its sign code in every signed float format", () => {
    for (const f of SMALL) {
      if (f.kind !== "float" || !f.signed) continue;
      const c = codec(f);
      const sb = signBitOf(f);
      expect(Object.is(c.decode(sb), -0), f.name).toBe(true);
      for (const mode of MODES)
        for (const p of POLICIES) expect(c.encode(-0, R(mode), p), f.name).toBe(sb);
    }
  });

  it("-0 encodes to code 0 in integer formats (no negative zero code)", () => {
    for (const f of SMALL) {
      if (f.kind !== "int") continue;
      for (const mode of MODES) expect(codec(f).encode(-0, R(mode), "saturate"), f.name).toBe(0);
    }
  });

  it("+-Inf under toward_zero + propagate stays +-Inf, while finite overflow gives +-max (docs/semantics.md: an Inf input is not an overflow)", () => {
    // docs/semantics.md, Encoding/Overflow: "`toward_zero` never overflows to Inf (IEEE 754); an Inf
    // input is not an overflow: it stays Inf under `propagate` (where the format has Inf) and becomes
    // +-max under `saturate`". IEEE 754-2019 agrees (converting an infinite operand is exact;
    // Math.fround(Infinity) = Infinity; PTX cvt.rz of +Inf is +Inf). Regression test: before commit
    // 48529c6 ir/formats/float.ts gave +-max here.
    const bad: string[] = [];
    for (const f of [F.e5m2, F.f16, F.bf16, F.f32]) {
      const c = codec(f);
      for (const x of [Infinity, -Infinity]) {
        const got = c.decode(c.encode(x, R("toward_zero"), "propagate"));
        if (got !== x)
          bad.push(`${f.name}: encode(${x}, toward_zero, propagate) decodes to ${got}`);
        const fin = c.decode(
          c.encode(x > 0 ? c.maxFinite * 2 : -c.maxFinite * 2, R("toward_zero"), "propagate"),
        );
        if (fin !== (x > 0 ? c.maxFinite : -c.maxFinite))
          bad.push(`${f.name}: finite overflow toward_zero gives ${fin}`);
        const sat = c.decode(c.encode(x, R("toward_zero"), "saturate"));
        if (sat !== (x > 0 ? c.maxFinite : -c.maxFinite))
          bad.push(`${f.name}: ${x} toward_zero saturate gives ${sat}`);
      }
    }
    expect(bad).toEqual([]);
  });
});

describe("decoded values are monotonic in code order within each sign", () => {
  for (const f of SMALL) {
    if (f.kind === "table") continue;
    it(`${f.name}`, () => {
      const c = codec(f);
      const n = 2 ** c.bits;
      const runs: number[][] = [];
      if (f.kind === "float") {
        const sb = f.signed ? signBitOf(f) : n;
        runs.push(Array.from({ length: sb }, (_, i) => i)); // magnitudes increase with the code
        if (f.signed) runs.push(Array.from({ length: sb }, (_, i) => sb + i).reverse()); // negatives: values decrease as code grows
      } else {
        const half = f.signed ? n / 2 : n;
        if (f.signed) runs.push(Array.from({ length: half }, (_, i) => half + i)); // -2^(b-1) .. -1
        runs.push(Array.from({ length: half }, (_, i) => i));
      }
      const bad: string[] = [];
      for (const run of runs) {
        const vals = run.map((code) => c.decode(code)).filter((v) => !Number.isNaN(v));
        for (let i = 1; i < vals.length; i++)
          if (!(vals[i] > vals[i - 1])) bad.push(`${vals[i - 1]} then ${vals[i]}`);
      }
      if (f.kind === "int") {
        // the full value order: negatives (most negative first) then non-negatives
        const all = runs.flat().map((code) => c.decode(code));
        for (let i = 1; i < all.length; i++)
          if (!(all[i] > all[i - 1])) bad.push(`${all[i - 1]} then ${all[i]}`);
      }
      expect(bad.slice(0, 10)).toEqual([]);
    });
  }
});

/** Independent decoder: value of a float code from its fields (OCP MX v1.0 / IEEE 754 definitions). */
function refDecodeFloat(f: FloatFormat, code: number): number {
  const m = f.mantissa;
  const eBits = f.exponent;
  const signed = f.signed;
  const sign = signed && (code >> (eBits + m)) & 1 ? -1 : 1;
  const ef = (code >> m) & ((1 << eBits) - 1);
  const frac = code & ((1 << m) - 1);
  const allOnes = (1 << eBits) - 1;
  switch (f.specials) {
    case "ieee":
      if (ef === allOnes) return frac === 0 ? sign * Infinity : NaN;
      break;
    case "nan_only":
      if (ef === allOnes && frac === (1 << m) - 1) return NaN;
      break;
    case "e8m0":
      return ef === allOnes ? NaN : 2 ** (ef - f.bias);
  }
  if (ef === 0) return sign * frac * 2 ** (1 - f.bias - m);
  return sign * (1 + frac / 2 ** m) * 2 ** (ef - f.bias);
}

describe("decode agrees with independent decoders", () => {
  for (const f of SMALL) {
    it(`${f.name}`, () => {
      const c = codec(f);
      const bad: string[] = [];
      for (const code of allCodes(c)) {
        let want: number;
        if (f.kind === "float") want = refDecodeFloat(f, code);
        else if (f.kind === "int") {
          const n = f.signed && code >= 2 ** (f.bits - 1) ? code - 2 ** f.bits : code;
          want = n * 2 ** -f.shift;
        } else want = Math.fround(f.values[code]);
        const got = c.decode(code);
        const ok = Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want);
        if (!ok && bad.length < 10) bad.push(`${hex(code)}: ${got} != ${want}`);
      }
      expect(bad).toEqual([]);
    });
  }

  it("bf16 decode equals the f32 whose top 16 bits are the code", () => {
    const c = codec(F.bf16);
    const u = new Uint32Array(1);
    const fv = new Float32Array(u.buffer);
    const bad: string[] = [];
    for (let code = 0; code < 65536; code++) {
      u[0] = code << 16;
      const want = fv[0];
      const got = c.decode(code);
      const ok = Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want);
      if (!ok && bad.length < 10) bad.push(`${hex(code)}: ${got} != ${want}`);
    }
    expect(bad).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Independent rounding of a float64 to an ExMy IEEE-style format, by exact
// BigInt arithmetic on the float64's integer significand.

const dv = new DataView(new ArrayBuffer(8));

function doubleParts(x: number): { neg: boolean; M: bigint; E: number } {
  dv.setFloat64(0, x);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const neg = hi >>> 31 === 1;
  const be = (hi >>> 20) & 0x7ff;
  let M = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let E: number;
  if (be === 0) E = -1074;
  else {
    M |= 1n << 52n;
    E = be - 1075;
  }
  return { neg, M, E };
}

function fromBits(neg: boolean, biasedExp: number, mant: bigint): number {
  dv.setUint32(0, ((neg ? 1 : 0) << 31) | (biasedExp << 20) | Number(mant >> 32n));
  dv.setUint32(4, Number(mant & 0xffffffffn));
  return dv.getFloat64(0);
}

const bitLength = (n: bigint) => n.toString(2).length;

/** Reference: the value (not code) that x rounds to in an IEEE-like format with subnormals. */
function refRoundIeee(
  x: number,
  f: { exponent: number; mantissa: number; bias: number },
  mode: RoundingMode,
  policy: OverflowPolicy,
): number {
  if (Number.isNaN(x)) return NaN;
  const m = f.mantissa;
  const maxFinite = (2 - 2 ** -m) * 2 ** (2 ** f.exponent - 2 - f.bias);
  if (x === Infinity || x === -Infinity) {
    const v = policy === "saturate" ? maxFinite : Infinity; // Inf is exact: stays Inf under propagate
    return x > 0 ? v : -v;
  }
  const { neg, M, E } = doubleParts(x);
  const sgn = (v: number) => (neg ? -v : v);
  if (M === 0n) return sgn(0);
  const e = E + bitLength(M) - 1;
  const emin = 1 - f.bias;
  const qe = Math.max(e, emin) - m;
  const shift = qe - E;
  let n: bigint;
  if (shift <= 0) n = M << BigInt(-shift);
  else {
    const s = BigInt(shift);
    n = M >> s;
    const rem = M & ((1n << s) - 1n);
    const half = 1n << (s - 1n);
    let up = false;
    if (rem !== 0n) {
      switch (mode) {
        case "toward_zero":
          up = false;
          break;
        case "nearest_even":
          up = rem > half || (rem === half && (n & 1n) === 1n);
          break;
        case "nearest_away":
          up = rem >= half;
          break;
        case "nearest_lower":
          up = rem > half || (rem === half && neg);
          break;
        default:
          throw new Error(mode);
      }
    }
    if (up) n += 1n;
  }
  const v = Number(n) * 2 ** qe;
  if (v > maxFinite)
    return sgn(policy === "saturate" || mode === "toward_zero" ? maxFinite : Infinity);
  return sgn(v);
}

/**
 * Doubles that stress a format with `m` mantissa bits: random significands,
 * exact ties (a single 1 right after the kept bits), values just off a tie,
 * and exact representable values, over exponents [emin, emax].
 */
function stressDouble(m: number, emin: number, emax: number): fc.Arbitrary<number> {
  return fc
    .record({
      neg: fc.boolean(),
      exp: fc.integer({ min: emin, max: emax }),
      mant: fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }),
      kind: fc.constantFrom("random", "tie", "tie+", "tie-", "exact"),
      keep: fc.integer({ min: 0, max: m + 24 }),
    })
    .map(({ neg, exp, mant, kind, keep }) => {
      // `keep` leading fraction bits survive; below them, a pattern
      const k = Math.min(keep, 51);
      const low = 52n - BigInt(k);
      let mnt = (mant >> low) << low;
      if (kind === "random") mnt = mant;
      else if (kind === "tie") mnt |= 1n << (low - 1n);
      else if (kind === "tie+") mnt |= (1n << (low - 1n)) | 1n;
      else if (kind === "tie-") mnt |= (1n << (low - 1n)) - 1n;
      const be = Math.max(0, Math.min(2046, exp + 1023));
      return fromBits(neg, be, mnt);
    });
}

describe("f32 encode (nearest_even) equals Math.fround", () => {
  const c = codec(F.f32);
  const u = new Uint32Array(1);
  const fv = new Float32Array(u.buffer);
  const check = (x: number) => {
    const code = c.encode(x, R("nearest_even"), "propagate");
    const want = Math.fround(x);
    if (Number.isNaN(want)) {
      expect(code).toBe(c.nanCode);
      return;
    }
    fv[0] = want;
    expect(hex(code), `x = ${x}`).toBe(hex(u[0])); // the code is fround's bit pattern
    expect(Object.is(c.decode(code), want)).toBe(true);
  };
  it("on arbitrary doubles (fast-check fc.double)", () => {
    fc.assert(
      fc.property(fc.double(), (x) => check(x)),
      { numRuns: 10000 },
    );
  });
  it("on doubles near f32 rounding boundaries, subnormals and overflow", () => {
    fc.assert(
      fc.property(stressDouble(23, -155, 129), (x) => check(x)),
      { numRuns: 15000 },
    );
  });
  it("on exact midpoints between adjacent f32 values", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7f7fffff }), fc.boolean(), (bits, neg) => {
        u[0] = bits;
        const a = fv[0];
        u[0] = bits + 1;
        const b = fv[0]; // may be Infinity at the top
        const mid = b === Infinity ? a + 2 ** 103 : (a + b) / 2;
        check(neg ? -mid : mid);
      }),
      { numRuns: 10000 },
    );
  });
  it("specials: 0, -0, +-Inf, NaN, 2^-150 (tie to 0), 3*2^-151, max, 2^128 - 2^103 (tie to Inf)", () => {
    for (const x of [
      0,
      -0,
      Infinity,
      -Infinity,
      NaN,
      2 ** -150,
      -(2 ** -150),
      3 * 2 ** -151,
      3.4028234663852886e38,
      2 ** 128 - 2 ** 103,
      -(2 ** 128 - 2 ** 103),
      2 ** 128 - 2 ** 103 - 2 ** 70,
    ])
      check(x);
  });
});

describe("f32 / f16 / bf16 encode against an independent BigInt rounding (all non-stochastic modes)", () => {
  const cases: [FloatFormat, number, number, number][] = [
    [asFloat(F.f16), 10, -28, 17],
    [asFloat(F.bf16), 7, -137, 129],
    [asFloat(F.f32), 23, -153, 129],
  ];
  for (const [f, m, lo, hi] of cases) {
    it(`${f.name}`, () => {
      const c = codec(f);
      fc.assert(
        fc.property(
          fc.oneof(stressDouble(m, lo, hi), fc.double()),
          fc.constantFrom(...MODES),
          fc.constantFrom(...POLICIES),
          (x, mode, policy) => {
            const want = refRoundIeee(x, f, mode, policy);
            const got = c.decode(c.encode(x, R(mode), policy));
            if (Number.isNaN(want)) expect(got).toBeNaN();
            else
              expect(
                Object.is(got, want),
                `${f.name} ${mode}/${policy} x=${x}: ${got} != ${want}`,
              ).toBe(true);
          },
        ),
        { numRuns: 15000 },
      );
    });
  }

  it("f16 encode of every f32 tie point between adjacent f16 values (both signs) matches the reference", () => {
    const c = codec(F.f16);
    for (let code = 0; code < 0x7c00; code++) {
      const a = c.decode(code);
      const b = code + 1 === 0x7c00 ? 65536 : c.decode(code + 1);
      const mid = (a + b) / 2;
      for (const x of [mid, -mid])
        for (const mode of MODES) {
          const want = refRoundIeee(x, asFloat(F.f16), mode, "propagate");
          const got = c.decode(c.encode(x, R(mode), "propagate"));
          if (!Object.is(got, want)) expect.fail(`f16 ${mode} x=${x}: ${got} != ${want}`);
        }
    }
  });
});
