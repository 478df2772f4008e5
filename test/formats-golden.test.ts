/**
 * Golden vectors of SEMANTICS.md sections 1 and 4: the element-format table,
 * the E2M1 code table and RNE code list, E4M3 saturating RNE, special codes,
 * NF4 values, the integer formats, and the overflow policies.
 */
import { describe, expect, it } from "vitest";
import {
  codec,
  type Format,
  type OverflowPolicy,
  type Rounding,
  type RoundingMode,
} from "../ir/formats/index.js";
import * as F from "../stdlib/formats.js";
import { BUILTIN_FORMATS } from "../stdlib/index.js";

/** the NF4 code book (named nf4 or nf4v depending on the stdlib revision): the 4-bit table format */
const NF4_FORMAT = BUILTIN_FORMATS.find((f) => f.kind === "table" && f.bits === 4)!;

const R = (mode: RoundingMode, randomBits = 8): Rounding => ({ mode, randomBits });
const RNE = R("nearest_even");
const enc = (f: Format, x: number, r: Rounding = RNE, o: OverflowPolicy = "saturate") =>
  codec(f).encode(x, r, o);
const dec = (f: Format, code: number) => codec(f).decode(code);
const hex = (c: number) => "0x" + c.toString(16).toUpperCase();
const NEAREST: RoundingMode[] = ["nearest_even", "nearest_away", "nearest_lower"];
const NON_STOCHASTIC: RoundingMode[] = [
  "nearest_even",
  "nearest_away",
  "nearest_lower",
  "toward_zero",
];

describe("SEMANTICS.md section 1: format table (bias, max, min normal, min subnormal)", () => {
  // [format, bits, bias, max, maxCode, minNormal, minNormalCode, minSubnormal]
  const rows: [Format, number, number, number, number, number, number, number][] = [
    [F.e2m1, 4, 1, 6.0, 0x7, 1.0, 0x2, 0.5],
    [F.e2m3, 6, 1, 7.5, 0x1f, 1.0, 0x8, 0.125],
    [F.e3m2, 6, 3, 28.0, 0x1f, 0.25, 0x4, 0.0625],
    [F.e4m3, 8, 7, 448, 0x7e, 2 ** -6, 0x8, 2 ** -9],
    [F.e5m2, 8, 15, 57344, 0x7b, 2 ** -14, 0x4, 2 ** -16],
  ];
  for (const [f, bits, bias, max, maxCode, minNormal, minNormalCode, minSub] of rows) {
    it(`${f.name}: ${bits} bits, bias ${bias}, max ${max} at ${hex(maxCode)}, min normal ${minNormal}, min subnormal ${minSub}`, () => {
      const c = codec(f);
      expect(c.bits).toBe(bits);
      expect(f.kind === "float" && f.bias).toBe(bias);
      expect(c.maxFinite).toBe(max);
      expect(c.decode(maxCode)).toBe(max);
      expect(c.decode(minNormalCode)).toBe(minNormal);
      expect(c.minPositive).toBe(minSub);
      expect(c.decode(1)).toBe(minSub);
      // nothing finite decodes above max
      for (let code = 0; code < 2 ** bits; code++) {
        const v = c.decode(code);
        if (Number.isFinite(v)) expect(Math.abs(v)).toBeLessThanOrEqual(max);
      }
    });
  }

  it("e8m0: 8 bits, bias 127, max 2^127 at 0xFE, min 2^-127 at 0x00, unsigned, no zero, no Inf, 0xFF NaN", () => {
    const c = codec(F.e8m0);
    expect(c.bits).toBe(8);
    expect(F.e8m0.kind === "float" && F.e8m0.bias).toBe(127);
    expect(c.maxFinite).toBe(2 ** 127);
    expect(c.decode(0xfe)).toBe(2 ** 127);
    expect(c.minPositive).toBe(2 ** -127);
    expect(c.hasInf).toBe(false);
    expect(c.hasNaN).toBe(true);
    for (let b = 0; b < 255; b++) {
      expect(c.decode(b)).toBe(2 ** (b - 127)); // value of byte b is 2^(b-127)
      expect(c.decode(b)).toBeGreaterThan(0); // no zero, no negative
    }
  });

  it("MXINT8 (int8_q6): max 127/64, step 1/64, decode accepts -128", () => {
    const c = codec(F.int8_q6);
    expect(c.bits).toBe(8);
    expect(c.maxFinite).toBe(127 / 64);
    expect(c.minPositive).toBe(1 / 64);
    expect(c.decode(0x7f)).toBe(127 / 64);
    expect(c.decode(0x01)).toBe(1 / 64);
    expect(c.decode(0x80)).toBe(-2);
    expect(c.decode(0xff)).toBe(-1 / 64);
    expect(c.hasNaN).toBe(false);
    expect(c.hasInf).toBe(false);
  });

  it("INT4 symmetric: max 7, range [-7, 7]", () => {
    const c = codec(F.int4);
    expect(c.bits).toBe(4);
    expect(c.maxFinite).toBe(7);
    expect(c.minPositive).toBe(1);
    for (const mode of NON_STOCHASTIC) {
      expect(c.encode(100, R(mode), "saturate")).toBe(7);
      expect(c.encode(-100, R(mode), "saturate")).toBe(0x9); // -7
      expect(c.encode(-8, R(mode), "propagate")).toBe(0x9);
      expect(c.decode(c.encode(-7.9, R(mode), "saturate"))).toBe(-7);
    }
    const encodable = new Set<number>();
    for (let x = -20; x <= 20; x += 0.25) encodable.add(c.decode(c.encode(x, RNE, "saturate")));
    expect([...encodable].sort((a, b) => a - b)).toEqual([
      -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7,
    ]);
    expect(c.decode(0x8)).toBe(-8); // decode still accepts the most negative code
  });
});

describe("SEMANTICS.md section 1: E2M1 code table", () => {
  const pos = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
  it("codes 0x0..0x7 = 0, 0.5, 1, 1.5, 2, 3, 4, 6; bit 3 is the sign; 0x8 = -0", () => {
    const c = codec(F.e2m1);
    for (let code = 0; code < 8; code++) {
      expect(c.decode(code)).toBe(pos[code]);
      expect(c.decode(code | 8)).toBe(-pos[code]);
    }
    expect(Object.is(c.decode(0x8), -0)).toBe(true);
    expect(Object.is(c.decode(0x0), 0)).toBe(true);
    expect(c.hasNaN).toBe(false);
    expect(c.hasInf).toBe(false);
  });
});

describe("SEMANTICS.md section 4: E2M1 RNE ties and code list", () => {
  const inputs = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 5.01, 6.5, 100, -0.25, -0.3, -2];
  const codes = [0x0, 0x2, 0x2, 0x4, 0x4, 0x6, 0x6, 0x7, 0x7, 0x7, 0x8, 0x9, 0xc];
  inputs.forEach((x, i) => {
    it(`e2m1 RNE ${x} -> ${hex(codes[i])}`, () => {
      expect(hex(enc(F.e2m1, x))).toBe(hex(codes[i]));
    });
  });
  it("values: 0.25->0, 0.75->1, 1.25->1, 1.75->2, 2.5->2, 3.5->4, 5->4; above 6 saturates to 6", () => {
    const pairs: [number, number][] = [
      [0.25, 0],
      [0.75, 1],
      [1.25, 1],
      [1.75, 2],
      [2.5, 2],
      [3.5, 4],
      [5, 4],
      [6.01, 6],
      [7, 6],
      [1e30, 6],
      [Infinity, 6],
    ];
    for (const [x, v] of pairs) {
      expect(dec(F.e2m1, enc(F.e2m1, x))).toBe(v);
      expect(dec(F.e2m1, enc(F.e2m1, -x))).toBe(-v);
    }
  });
});

describe("SEMANTICS.md section 4: E4M3 saturating RNE", () => {
  const pairs: [number, number][] = [
    [449, 448],
    [464, 448],
    [465, 448],
    [500, 448],
    [240.5, 240],
    [0.3, 0.3125],
    [2 ** -10, 0],
    [1.5 * 2 ** -10, 2 ** -9],
  ];
  for (const [x, v] of pairs) {
    it(`e4m3 RNE saturate ${x} -> ${v} (and ${-x} -> ${-v})`, () => {
      expect(dec(F.e4m3, enc(F.e4m3, x))).toBe(v);
      expect(dec(F.e4m3, enc(F.e4m3, -x))).toBe(-v);
    });
  }
  it("2^-10 -> +0 code 0x00, -2^-10 -> -0 code 0x80 (tie to even keeps the sign)", () => {
    expect(enc(F.e4m3, 2 ** -10)).toBe(0x00);
    expect(enc(F.e4m3, -(2 ** -10))).toBe(0x80);
    expect(enc(F.e4m3, 1.5 * 2 ** -10)).toBe(0x01);
    expect(enc(F.e4m3, 500)).toBe(0x7e);
    expect(enc(F.e4m3, -500)).toBe(0xfe);
  });
});

describe("special codes", () => {
  it("E4M3: 0x7F and 0xFF are NaN, no Inf, max 448 at 0x7E, canonical NaN 0x7F", () => {
    const c = codec(F.e4m3);
    expect(c.decode(0x7f)).toBeNaN();
    expect(c.decode(0xff)).toBeNaN();
    expect(c.decode(0x7e)).toBe(448);
    expect(c.decode(0xfe)).toBe(-448);
    expect(c.hasInf).toBe(false);
    expect(c.hasNaN).toBe(true);
    expect(c.nanCode).toBe(0x7f);
    for (let code = 0; code < 256; code++) {
      const v = c.decode(code);
      expect(Number.isNaN(v)).toBe((code & 0x7f) === 0x7f);
      expect(Math.abs(v)).not.toBe(Infinity);
    }
    expect(c.encode(NaN, RNE, "saturate")).toBe(0x7f);
    expect(c.encode(NaN, RNE, "propagate")).toBe(0x7f);
  });

  it("E5M2: Inf = S.11111.00, NaN = S.11111.{01,10,11}, max 57344 at 0x7B", () => {
    const c = codec(F.e5m2);
    expect(c.decode(0x7c)).toBe(Infinity);
    expect(c.decode(0xfc)).toBe(-Infinity);
    for (const m of [1, 2, 3]) {
      expect(c.decode(0x7c | m)).toBeNaN();
      expect(c.decode(0xfc | m)).toBeNaN();
    }
    expect(c.decode(0x7b)).toBe(57344);
    expect(c.decode(0xfb)).toBe(-57344);
    expect(c.maxFinite).toBe(57344);
    expect(c.hasInf).toBe(true);
    expect(c.hasNaN).toBe(true);
    expect([0x7d, 0x7e, 0x7f]).toContain(c.nanCode);
    expect(c.encode(NaN, RNE, "saturate")).toBe(c.nanCode);
    expect(c.encode(Infinity, RNE, "propagate")).toBe(0x7c);
    expect(c.encode(-Infinity, RNE, "propagate")).toBe(0xfc);
  });

  it("E8M0: 0x00 = 2^-127 exactly (an fp32 subnormal, not flushed) and 0xFF = NaN", () => {
    const c = codec(F.e8m0);
    const v = c.decode(0x00);
    expect(v).toBe(2 ** -127);
    expect(v).toBeGreaterThan(0);
    expect(Math.fround(v)).toBe(2 ** -127); // representable in fp32 (as a subnormal)
    expect(c.decode(0xff)).toBeNaN();
    expect(c.decode(0x7f)).toBe(1);
    expect(c.nanCode).toBe(0xff);
    expect(c.encode(NaN, RNE, "saturate")).toBe(0xff);
    expect(c.encode(2 ** -127, RNE, "saturate")).toBe(0x00);
    expect(c.encode(1, RNE, "saturate")).toBe(0x7f);
    expect(c.encode(2 ** 127, RNE, "saturate")).toBe(0xfe);
    expect(c.encode(2 ** 127, RNE, "propagate")).toBe(0xfe);
  });

  it("f16 / bf16 / f32 specials", () => {
    const h = codec(F.f16);
    expect(h.maxFinite).toBe(65504);
    expect(h.decode(0x7bff)).toBe(65504);
    expect(h.decode(0x7c00)).toBe(Infinity);
    expect(h.decode(0xfc00)).toBe(-Infinity);
    expect(h.decode(0x7e00)).toBeNaN();
    expect(h.minPositive).toBe(2 ** -24);
    expect(Object.is(h.decode(0x8000), -0)).toBe(true);
    const b = codec(F.bf16);
    expect(b.decode(0x7f7f)).toBe(b.maxFinite);
    expect(b.maxFinite).toBe((2 - 2 ** -7) * 2 ** 127);
    expect(b.decode(0x7f80)).toBe(Infinity);
    expect(b.decode(0x7fc0)).toBeNaN();
    expect(b.minPositive).toBe(2 ** -133);
    const s = codec(F.f32);
    expect(s.maxFinite).toBe(3.4028234663852886e38);
    expect(s.minPositive).toBe(2 ** -149);
    expect(s.decode(0x7f800000)).toBe(Infinity);
    expect(s.decode(0xff800000)).toBe(-Infinity);
    expect(s.decode(0x7fc00000)).toBeNaN();
    expect(s.decode(0x00000001)).toBe(2 ** -149);
    expect(s.decode(0x3f800000)).toBe(1);
  });
});

describe("SEMANTICS.md section 1: NF4", () => {
  const NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0,
  ];
  it("index order = code order, values are the float32 of the listed values", () => {
    expect(NF4_FORMAT, "a 4-bit table format among the built-ins").toBeDefined();
    const c = codec(NF4_FORMAT);
    expect(c.bits).toBe(4);
    for (let code = 0; code < 16; code++) expect(c.decode(code)).toBe(Math.fround(NF4[code]));
    expect(c.maxFinite).toBe(1);
  });
  it("the listed values are float32 numbers already (so decode equals them exactly)", () => {
    const c = codec(NF4_FORMAT);
    for (let code = 0; code < 16; code++) expect(c.decode(code)).toBe(NF4[code]);
  });
  it("every listed value encodes to its own code in every non-stochastic mode; out of range clamps", () => {
    const c = codec(NF4_FORMAT);
    for (const mode of NON_STOCHASTIC)
      for (let code = 0; code < 16; code++)
        expect(c.encode(NF4[code], R(mode), "saturate")).toBe(code);
    expect(c.encode(5, RNE, "saturate")).toBe(15);
    expect(c.encode(-5, RNE, "saturate")).toBe(0);
    expect(c.encode(-0, RNE, "saturate")).toBe(7);
  });
  it("an exact tie goes to the lower value under nearest_lower (bitsandbytes)", () => {
    const c = codec(NF4_FORMAT);
    for (let i = 0; i < 15; i++) {
      const mid = (NF4[i] + NF4[i + 1]) / 2;
      expect(c.encode(mid, R("nearest_lower"), "saturate")).toBe(i);
    }
  });
});

describe("MXINT8: encode range [-127, 127], decode of 0x80 = -2", () => {
  it("encode never produces 0x80", () => {
    const c = codec(F.int8_q6);
    for (const mode of NON_STOCHASTIC) {
      for (const o of ["saturate", "propagate"] as const) {
        expect(c.encode(-2, R(mode), o)).toBe(0x81);
        expect(c.encode(-1e9, R(mode), o)).toBe(0x81);
        expect(c.encode(-Infinity, R(mode), o)).toBe(0x81);
        expect(c.encode(1e9, R(mode), o)).toBe(0x7f);
        expect(c.encode(Infinity, R(mode), o)).toBe(0x7f);
      }
    }
    for (let k = -200; k <= 200; k++) {
      const code = c.encode(k / 64, RNE, "saturate");
      expect(code).not.toBe(0x80);
      expect(c.decode(code)).toBe(Math.max(-127, Math.min(127, k)) / 64);
    }
    expect(c.decode(0x80)).toBe(-2);
  });
});

describe("overflow policy propagate", () => {
  it("E4M3: 500 -> NaN code (no Inf); -500 -> a NaN code; saturate gives 448", () => {
    const c = codec(F.e4m3);
    for (const mode of NEAREST) {
      expect(c.encode(500, R(mode), "propagate")).toBe(c.nanCode);
      expect(c.decode(c.encode(-500, R(mode), "propagate"))).toBeNaN();
      expect(c.encode(500, R(mode), "saturate")).toBe(0x7e);
      expect(c.encode(-500, R(mode), "saturate")).toBe(0xfe);
    }
    // pinned (docs/semantics.md names the canonical NaN only for NaN inputs): a negative overflow
    // into NaN also gives the canonical, positive NaN code, never 0xFF, so backends agree bit for bit
    for (const mode of NEAREST) {
      expect(c.encode(-500, R(mode), "propagate")).toBe(0x7f);
      expect(c.encode(-Infinity, R(mode), "propagate")).toBe(0x7f);
    }
    // RNE: 464 is a tie that stays at 448 (0x7E is even) even under propagate
    expect(c.encode(464, RNE, "propagate")).toBe(0x7e);
    expect(c.decode(c.encode(465, RNE, "propagate"))).toBeNaN();
  });
  it("E5M2: 1e6 -> Inf, -1e6 -> -Inf", () => {
    const c = codec(F.e5m2);
    for (const mode of NEAREST) {
      expect(c.encode(1e6, R(mode), "propagate")).toBe(0x7c);
      expect(c.encode(-1e6, R(mode), "propagate")).toBe(0xfc);
      expect(c.encode(1e6, R(mode), "saturate")).toBe(0x7b);
      expect(c.encode(-1e6, R(mode), "saturate")).toBe(0xfb);
    }
    // RNE: 61440 is the tie between 57344 and 65536 and rounds to the even code 0x7C = Inf
    expect(c.encode(61440, RNE, "propagate")).toBe(0x7c);
    expect(c.encode(61439, RNE, "propagate")).toBe(0x7b);
  });
  it("E2M1 has neither Inf nor NaN: saturates anyway", () => {
    const c = codec(F.e2m1);
    for (const mode of NON_STOCHASTIC) {
      expect(c.encode(100, R(mode), "propagate")).toBe(0x7);
      expect(c.encode(-100, R(mode), "propagate")).toBe(0xf);
      expect(c.encode(7.5, R(mode), "propagate")).toBe(0x7);
    }
  });
  it("toward_zero never gives Inf (or NaN) on finite overflow", () => {
    for (const f of [F.e4m3, F.e5m2, F.f16, F.bf16, F.f32, F.e8m0]) {
      const c = codec(f);
      for (const x of [c.maxFinite * 1.01, c.maxFinite * 1.5, c.maxFinite * 2, 1e300]) {
        const code = c.encode(x, R("toward_zero"), "propagate");
        expect(c.decode(code), `${f.name} ${x}`).toBe(c.maxFinite);
      }
    }
  });
  it("f16: 65520 (tie above max) -> Inf under RNE, 65519 -> 65504", () => {
    const c = codec(F.f16);
    expect(c.encode(65520, RNE, "propagate")).toBe(0x7c00);
    expect(c.encode(65519.99, RNE, "propagate")).toBe(0x7bff);
    expect(c.encode(65520, RNE, "saturate")).toBe(0x7bff);
  });
  it("E8M0 overflow: 2^128 -> NaN (0xFF) under propagate, 0xFE under saturate", () => {
    const c = codec(F.e8m0);
    expect(c.encode(2 ** 128, RNE, "propagate")).toBe(0xff);
    expect(c.encode(2 ** 128, RNE, "saturate")).toBe(0xfe);
  });
});
