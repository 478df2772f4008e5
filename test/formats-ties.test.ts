/**
 * Every tie point of every built-in format of at most 8 bits, under each
 * non-stochastic rounding mode and both overflow policies; and an independent
 * reference ("nearest value by search over all decoded values") agreeing with
 * encode on random inputs.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  codec,
  formatBits,
  type Format,
  type OverflowPolicy,
  type RoundingMode,
} from "../ir/formats/index.js";
import { BUILTIN_FORMATS } from "../stdlib/index.js";

const MODES: RoundingMode[] = ["nearest_even", "nearest_away", "nearest_lower", "toward_zero"];
const POLICIES: OverflowPolicy[] = ["saturate", "propagate"];
const R = (mode: RoundingMode) => ({ mode, randomBits: 8 });
const FORMATS = BUILTIN_FORMATS.filter((f) => formatBits(f) <= 8);
const hex = (c: number) => "0x" + c.toString(16);

/** A value the encoder can produce, or the one past max that would exist with an unbounded exponent. */
interface Entry {
  v: number;
  code: number;
  /** past the largest finite value: choosing it means overflow */
  virtual: boolean;
}

interface Model {
  f: Format;
  /** all encodable values in ascending order (one entry for 0; virtual entries at both ends for floats) */
  entries: Entry[];
  signBit: number;
  maxCode: number;
  /** the code an overflow of sign `neg` gives under `propagate` with a nearest mode */
  overflowCode(neg: boolean, policy: OverflowPolicy): number;
}

/** Built from decode() and the format's fields only, never from encode(). */
function model(f: Format): Model {
  const c = codec(f);
  const n = 2 ** c.bits;
  const entries: Entry[] = [];
  let signBit = 0;
  let maxCode = -1;
  if (f.kind === "float") {
    signBit = f.signed ? 2 ** (f.exponent + f.mantissa) : n;
    for (let code = 0; code < signBit; code++) {
      const v = c.decode(code);
      if (!Number.isFinite(v)) continue;
      entries.push({ v, code, virtual: false });
      if (f.signed && code !== 0) entries.push({ v: -v, code: code + signBit, virtual: false });
      if (v === c.maxFinite) maxCode = code;
    }
    // the next value past max with an unbounded exponent: max + ulp(max)
    const e = Math.floor(Math.log2(c.maxFinite));
    const next = c.maxFinite + 2 ** (e - f.mantissa);
    entries.push({ v: next, code: maxCode + 1, virtual: true });
    if (f.signed) entries.push({ v: -next, code: maxCode + 1 + signBit, virtual: true });
  } else if (f.kind === "int") {
    const maxInt = f.signed ? n / 2 - 1 : n - 1;
    const minInt = !f.signed ? 0 : f.range === "symmetric" ? -maxInt : -n / 2;
    for (let i = minInt; i <= maxInt; i++) {
      const code = i < 0 ? i + n : i;
      entries.push({ v: c.decode(code), code, virtual: false });
    }
    maxCode = maxInt;
  } else {
    for (let code = 0; code < n; code++) entries.push({ v: c.decode(code), code, virtual: false });
  }
  entries.sort((a, b) => a.v - b.v);
  const m: Model = {
    f,
    entries,
    signBit,
    maxCode,
    overflowCode(neg, policy) {
      const sign = neg && f.kind === "float" && f.signed ? signBit : 0;
      if (policy === "saturate" || (!c.hasInf && !c.hasNaN)) return maxCode + sign;
      if (c.hasInf) return maxCode + 1 + sign; // IEEE: Inf follows max
      return c.nanCode;
    },
  };
  return m;
}

/** Picks between neighbours lo < x < hi under a mode; x is a tie iff 2x = lo + hi. */
function pick(lo: Entry, hi: Entry, x: number, mode: RoundingMode): Entry {
  const smaller = Math.abs(lo.v) <= Math.abs(hi.v) ? lo : hi;
  const larger = smaller === lo ? hi : lo;
  if (mode === "toward_zero") return smaller;
  const mid = (lo.v + hi.v) / 2; // exact for every format here (neighbours share a binade or validateFormat checked it)
  if (x < mid) return lo;
  if (x > mid) return hi;
  if (mode === "nearest_even") return lo.code % 2 === 0 ? lo : hi;
  if (mode === "nearest_away") return larger;
  return lo; // nearest_lower: toward -Inf
}

/** Reference encode: search the sorted encodable values for x's neighbours. */
function refEncode(m: Model, x: number, mode: RoundingMode, policy: OverflowPolicy): number {
  const c = codec(m.f);
  if (Number.isNaN(x)) return c.nanCode;
  const E = m.entries;
  const neg = x < 0 || Object.is(x, -0);
  const finish = (e: Entry): number => {
    if (e.virtual)
      return mode === "toward_zero"
        ? m.maxCode + (neg ? m.signBit : 0)
        : m.overflowCode(neg, policy);
    if (e.v === 0 && neg && m.f.kind === "float" && m.f.signed) return m.signBit; // -0
    return e.code;
  };
  if (x <= E[0].v) {
    // below everything: clamps (ints, tables, unsigned floats) or overflows (signed floats)
    if (E[0].virtual && x < E[0].v) return mode === "toward_zero" ? finish(E[1]) : finish(E[0]);
    return finish(E[0]);
  }
  const top = E[E.length - 1];
  if (x >= top.v) {
    if (top.virtual && x > top.v && mode === "toward_zero") return finish(E[E.length - 2]);
    return finish(top);
  }
  let i = 0;
  while (E[i + 1].v <= x) i++;
  if (E[i].v === x) return finish(E[i]);
  return finish(pick(E[i], E[i + 1], x, mode));
}

describe("every tie point of every format of at most 8 bits", () => {
  for (const f of FORMATS) {
    it(`${f.name}: ties under nearest_even (even code), nearest_away (larger magnitude), nearest_lower (toward -Inf), toward_zero (smaller magnitude)`, () => {
      const m = model(f);
      const c = codec(f);
      const bad: string[] = [];
      const E = m.entries;
      let ties = 0;
      for (let i = 0; i + 1 < E.length; i++) {
        const lo = E[i];
        const hi = E[i + 1];
        const x = (lo.v + hi.v) / 2;
        expect(x - lo.v).toBe(hi.v - x); // an exact float64 tie
        ties++;
        const smaller = Math.abs(lo.v) <= Math.abs(hi.v) ? lo : hi;
        const larger = smaller === lo ? hi : lo;
        const want: Record<RoundingMode, Entry> = {
          nearest_even: lo.code % 2 === 0 ? lo : hi,
          nearest_away: larger,
          nearest_lower: lo,
          toward_zero: smaller,
          stochastic: lo,
        };
        if (f.kind === "float")
          expect((lo.code ^ hi.code) & 1, `${f.name} ${lo.v}/${hi.v} codes differ in parity`).toBe(
            1,
          );
        for (const mode of MODES) {
          for (const policy of POLICIES) {
            const e = want[mode];
            const neg = x < 0;
            let code: number;
            if (e.virtual) code = m.overflowCode(neg, policy);
            else if (e.v === 0 && neg && f.kind === "float" && f.signed) code = m.signBit;
            else code = e.code;
            const got = c.encode(x, R(mode), policy);
            const ok =
              got === code || (Number.isNaN(c.decode(code)) && Number.isNaN(c.decode(got)));
            if (!ok)
              bad.push(
                `x=${x} ${mode}/${policy}: got ${hex(got)} (${c.decode(got)}) want ${hex(code)} (${c.decode(code)})`,
              );
          }
        }
      }
      // integers: the ties just outside the encode range saturate in every mode
      if (f.kind === "int") {
        const vals = E.map((e) => e.v);
        const step = vals[1] - vals[0];
        for (const [x, e] of [
          [vals[vals.length - 1] + step / 2, E[E.length - 1]],
          [vals[0] - step / 2, E[0]],
        ] as const) {
          for (const mode of MODES) {
            const got = c.encode(x, R(mode), "saturate");
            if (got !== e.code)
              bad.push(`x=${x} ${mode}: got ${hex(got)} want ${hex(e.code)} (saturated)`);
          }
        }
      }
      expect(ties).toBeGreaterThan(0);
      expect(bad.slice(0, 20)).toEqual([]);
    });
  }

  it("spot checks of tie rules (documented examples)", () => {
    const byName = new Map(FORMATS.map((f) => [f.name, codec(f)]));
    const e2m1 = byName.get("e2m1")!;
    expect(e2m1.encode(2.5, R("nearest_away"), "saturate")).toBe(0x5); // 3
    expect(e2m1.encode(-2.5, R("nearest_lower"), "saturate")).toBe(0xd); // -3
    expect(e2m1.encode(2.5, R("nearest_lower"), "saturate")).toBe(0x4); // 2
    expect(e2m1.encode(-2.5, R("toward_zero"), "saturate")).toBe(0xc); // -2
    expect(e2m1.encode(-0.25, R("nearest_lower"), "saturate")).toBe(0x9); // -0.5
    expect(e2m1.encode(-0.25, R("toward_zero"), "saturate")).toBe(0x8); // -0
    const e4m3 = byName.get("e4m3")!;
    expect(e4m3.encode(464, R("nearest_away"), "propagate")).toBe(e4m3.nanCode);
    expect(e4m3.encode(464, R("nearest_away"), "saturate")).toBe(0x7e);
    expect(e4m3.encode(464, R("nearest_even"), "propagate")).toBe(0x7e);
    const e5m2 = byName.get("e5m2")!;
    expect(e5m2.encode(-61440, R("nearest_even"), "propagate")).toBe(0xfc); // -Inf
    expect(e5m2.encode(-61440, R("nearest_lower"), "propagate")).toBe(0xfc); // toward -Inf
    expect(e5m2.encode(61440, R("nearest_lower"), "propagate")).toBe(0x7b);
    const e8m0 = byName.get("e8m0")!;
    expect(e8m0.encode(1.5, R("nearest_even"), "saturate")).toBe(0x80); // 2^1: code 128 is even
    expect(e8m0.encode(3, R("nearest_even"), "saturate")).toBe(0x80); // tie 2/4: code 128 even
    expect(e8m0.encode(1.5 * 2 ** 127, R("nearest_even"), "propagate")).toBe(0xfe);
    expect(e8m0.encode(1.5 * 2 ** 127, R("nearest_away"), "propagate")).toBe(0xff);
    const int4 = byName.get("int4")!;
    expect(int4.encode(-3.5, R("nearest_even"), "saturate")).toBe(0xc); // -4
    expect(int4.encode(-2.5, R("nearest_even"), "saturate")).toBe(0xe); // -2
    expect(int4.encode(-2.5, R("nearest_lower"), "saturate")).toBe(0xd); // -3
    expect(int4.encode(7.5, R("nearest_away"), "saturate")).toBe(0x7);
    expect(int4.encode(-7.5, R("nearest_away"), "saturate")).toBe(0x9); // -7, never -8
  });
});

/** Inputs that exercise a format: neighbours' fractions, exact ties and values, and wide random doubles. */
function inputs(m: Model): fc.Arbitrary<number> {
  const E = m.entries;
  const span = Math.max(Math.abs(E[0].v), Math.abs(E[E.length - 1].v));
  const between = fc
    .record({
      i: fc.integer({ min: 0, max: E.length - 2 }),
      t: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ i, t }) => E[i].v + t * (E[i + 1].v - E[i].v));
  const tie = fc.integer({ min: 0, max: E.length - 2 }).map((i) => (E[i].v + E[i + 1].v) / 2);
  const exact = fc.integer({ min: 0, max: E.length - 1 }).map((i) => E[i].v);
  const nearTie = fc
    .record({ i: fc.integer({ min: 0, max: E.length - 2 }), up: fc.boolean() })
    .map(({ i, up }) => {
      const mid = (E[i].v + E[i + 1].v) / 2;
      const ulp = Math.max(Math.abs(mid) * 2 ** -52, 2 ** -1074);
      return up ? mid + ulp : mid - ulp;
    });
  const wide = fc.double({ min: -4 * span, max: 4 * span, noNaN: true });
  const tiny = fc.double({ min: -1e-3, max: 1e-3, noNaN: true });
  return fc.oneof(
    between,
    tie,
    exact,
    nearTie,
    wide,
    tiny,
    fc.constantFrom(0, -0, 2 ** -1074, -(2 ** -1074)),
  );
}

describe("encode agrees with a search over all decoded values (random inputs)", () => {
  for (const f of FORMATS) {
    it(`${f.name}`, () => {
      const m = model(f);
      const c = codec(f);
      fc.assert(
        fc.property(
          inputs(m),
          fc.constantFrom(...MODES),
          fc.constantFrom(...POLICIES),
          (x, mode, policy) => {
            const want = refEncode(m, x, mode, policy);
            const got = c.encode(x, R(mode), policy);
            const ok =
              got === want || (Number.isNaN(c.decode(want)) && Number.isNaN(c.decode(got)));
            if (!ok)
              throw new Error(
                `${f.name} ${mode}/${policy} x=${x}: got ${hex(got)} (${c.decode(got)}) want ${hex(want)} (${c.decode(want)})`,
              );
          },
        ),
        { numRuns: 6000 },
      );
    });
  }

  it("NaN encodes to the canonical NaN code (or the zero code where the format has no NaN)", () => {
    for (const f of FORMATS) {
      const c = codec(f);
      for (const mode of MODES)
        for (const p of POLICIES) {
          const code = c.encode(NaN, R(mode), p);
          expect(code, f.name).toBe(c.nanCode);
          if (c.hasNaN) expect(c.decode(code), f.name).toBeNaN();
          else expect(c.decode(code), f.name).toBe(0);
        }
    }
  });
});
