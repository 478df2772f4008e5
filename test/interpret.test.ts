import { describe, expect, it } from "vitest";
import { dequantize, qdq, quantize } from "../ir/interpret/index.js";
import { codec, intFormat, NEAREST_EVEN } from "../ir/formats/index.js";
import { scheme } from "../ir/scheme.js";
import * as F from "../stdlib/formats.js";
import * as S from "../stdlib/schemes.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";

const f32 = (xs: number[]) => Float32Array.from(xs);
const block = (head: number[], fill = 0, size = 32) =>
  f32([...head, ...new Array(size - head.length).fill(fill)]);

describe("MX scale rules (SEMANTICS.md section 3)", () => {
  it("amax = 7 with E2M1: floor gives byte 127 and 7 saturates to 6", () => {
    const q = quantize(S.mxfp4, block([7, 1]));
    expect(q.scales[0]).toBe(127);
    expect(dequantize(q)[0]).toBe(6);
  });

  it("amax = 7 with E2M1: rceil gives byte 128 and 3.5 rounds to 4", () => {
    const q = quantize(S.mxfp4_rceil, block([7, 1]));
    expect(q.scales[0]).toBe(128);
    expect(q.codes[0]).toBe(0x6); // 4.0
    expect(dequantize(q)[0]).toBe(8);
  });

  it("floor and rceil agree iff the mantissa of amax is at most 1.5 (E2M1)", () => {
    for (let m = 1; m < 2; m += 1 / 64) {
      const x = block([m * 8]);
      const same = quantize(S.mxfp4, x).scales[0] === quantize(S.mxfp4_rceil, x).scales[0];
      expect(same).toBe(m <= 1.5);
    }
  });

  it("ceil and even rules", () => {
    const ceil = scheme({ name: "c", element: F.e2m1, scale: { format: F.e8m0, rule: "ceil" } });
    const even = scheme({ name: "e", element: F.e2m1, scale: { format: F.e8m0, rule: "even" } });
    expect(quantize(ceil, block([4])).scales[0]).toBe(127); // ceil(log2 4) - 2 = 0
    expect(quantize(ceil, block([5])).scales[0]).toBe(128);
    expect(quantize(even, block([7])).scales[0]).toBe(128); // 1.75 rounds to 2.0 at 1 mantissa bit
    expect(quantize(even, block([5])).scales[0]).toBe(127); // 1.25 rounds to 1.0
    expect(quantize(even, block([6])).scales[0]).toBe(127); // 1.5 stays
  });

  it("an all-zero block gets byte 0x00 (2^-127) and zero elements, keeping -0", () => {
    const q = quantize(S.mxfp4, block([-0]));
    expect(q.scales[0]).toBe(0);
    expect(q.codes[0]).toBe(0x8);
    const y = dequantize(q);
    expect(Object.is(y[0], -0)).toBe(true);
    expect([...y.slice(1)].every((v) => Object.is(v, 0))).toBe(true);
  });

  it("a block holding NaN or Inf gets scale 0xFF and dequantizes to NaN", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const s of [S.mxfp4, S.mxfp8_e4m3, S.mxint8, S.mxfp4_rceil]) {
        const x = f32([...block([1, bad]), ...block([2])]);
        const q = quantize(s, x);
        expect(q.scales[0]).toBe(0xff);
        const y = dequantize(q);
        expect(y.slice(0, 32).every((v) => Number.isNaN(v))).toBe(true);
        expect(y[32]).toBe(2); // the next block is unaffected
      }
    }
  });

  it("shared exponents below -127 clamp to byte 0", () => {
    const q = quantize(S.mxfp4, block([2 ** -140]));
    expect(q.scales[0]).toBe(0);
    expect(dequantize(q)[0]).toBe(0); // 2^-140 / 2^-127 = 2^-13 rounds to 0
  });

  it("shared exponents above 127 give a NaN scale", () => {
    // an element whose largest value is 127/256 has emax = -2
    const tiny = intFormat("int8_q8", { bits: 8, range: "symmetric", shift: 8 });
    const s = scheme({ name: "t", element: tiny, scale: { format: F.e8m0, rule: "floor" } });
    expect(quantize(s, block([2 ** 125])).scales[0]).toBe(0xfe); // 125 - (-2) = 127
    expect(quantize(s, block([2 ** 126])).scales[0]).toBe(0xff); // 126 - (-2) = 128 > 127
    expect(qdq(s, block([2 ** 126])).every(Number.isNaN)).toBe(true);
  });

  it("rceil near the top of f32 overflows to Inf on dequantization, as specified", () => {
    const big = Math.fround(3.4028234663852886e38);
    const y = qdq(S.mxfp4_rceil, block([big]));
    expect(y[0]).toBe(Infinity);
  });

  it("MXINT8 elements are int8 x 2^-6 encoded to [-127, 127]", () => {
    const q = quantize(S.mxint8, block([1.5, -1.99, 0.015625]));
    expect(q.scales[0]).toBe(127);
    expect([...q.codes.slice(0, 3)]).toEqual([96, 0x100 - 127, 1]);
  });
});

describe("NVFP4 two-level scaling (SEMANTICS.md section 3)", () => {
  const x = Float32Array.from({ length: 64 }, (_, i) =>
    Math.fround(Math.sin(i) * (i < 16 ? 10 : 0.01)),
  );

  it("stores D = amax / 2688 and encodes with S_enc = 2688 / amax", () => {
    const q = quantize(S.nvfp4, x);
    const amax = Math.max(...x.map(Math.abs));
    expect(q.tensorScale!.amax).toBe(amax);
    expect(q.tensorScale!.decode).toBe(Math.fround(amax / 2688));
    expect(q.tensorScale!.encode).toBe(Math.fround(2688 / amax));
  });

  it("follows the documented order of f32 operations bit for bit", () => {
    const q = quantize(S.nvfp4, x);
    const e4m3 = codec(F.e4m3);
    const e2m1 = codec(F.e2m1);
    const { encode: sEnc, decode: D } = q.tensorScale!;
    const y = dequantize(q);
    for (let b = 0; b < 4; b++) {
      const blk = x.slice(b * 16, b * 16 + 16);
      const bamax = Math.max(...blk.map(Math.abs));
      const sCode = e4m3.encode(
        Math.fround(Math.fround(bamax * sEnc) / 6),
        NEAREST_EVEN,
        "saturate",
      );
      expect(q.scales[b]).toBe(sCode);
      const sb = e4m3.decode(sCode);
      const mult = Math.fround(sEnc / sb);
      for (let i = 0; i < 16; i++) {
        const code = e2m1.encode(Math.fround(blk[i] * mult), NEAREST_EVEN, "saturate");
        expect(q.codes[b * 16 + i]).toBe(code);
        expect(y[b * 16 + i]).toBe(Math.fround(Math.fround(e2m1.decode(code) * sb) * D));
      }
    }
  });

  it("a zero block gets scale 0 and zero elements, never NaN", () => {
    const z = f32([...x.slice(0, 16), ...new Array(16).fill(0)]);
    const q = quantize(S.nvfp4, z);
    expect(q.scales[1]).toBe(0);
    expect(
      dequantize(q)
        .slice(16)
        .every((v) => v === 0),
    ).toBe(true);
  });

  it("an all-zero tensor uses S_enc = D = 1", () => {
    const q = quantize(S.nvfp4, new Float32Array(32));
    expect(q.tensorScale).toEqual({ amax: 0, encode: 1, decode: 1 });
    expect(dequantize(q).every((v) => v === 0)).toBe(true);
  });

  it("a NaN block is NaN and does not disturb the tensor scale", () => {
    const z = Float32Array.from(x);
    z[20] = NaN;
    const q = quantize(S.nvfp4, z);
    expect(q.scales[1]).toBe(0x7f);
    expect(q.tensorScale!.amax).toBe(Math.max(...x.map(Math.abs)));
    const y = dequantize(q);
    expect(y.slice(16, 32).every(Number.isNaN)).toBe(true);
    expect(y.slice(0, 16)).toEqual(dequantize(quantize(S.nvfp4, x)).slice(0, 16));
  });
});

describe("other scale rules", () => {
  it("NF4: absmax scale, nearest value, ties to the lower value", () => {
    const nf4 = codec(F.nf4v);
    // midpoints that are float32 numbers, so the input is an exact tie
    const up = (nf4.decode(7) + nf4.decode(8)) / 2; // 0.0397901..., bitsandbytes' first threshold
    const down = (nf4.decode(6) + nf4.decode(7)) / 2;
    expect([Math.fround(up), Math.fround(down)]).toEqual([up, down]);
    const x = f32([1, up, -1, down, Math.fround(up * 1.0001), ...new Array(59).fill(0)]);
    const q = quantize(S.nf4, x);
    expect(codec(F.f32).decode(q.scales[0])).toBe(1);
    expect(q.codes[1]).toBe(7); // 0.0, the lower of 0.0 and 0.0796
    expect(q.codes[3]).toBe(6); // -0.091, the lower of -0.091 and 0.0
    expect(q.codes[4]).toBe(8); // just above the tie
    expect(q.codes[0]).toBe(15);
    expect(q.codes[2]).toBe(0);
  });

  it("asymmetric minmax: GPTQ scale and zero point with an f16 scale", () => {
    const x = Float32Array.from({ length: 128 }, (_, i) => Math.fround(0.5 + i / 64)); // all positive
    const q = quantize(S.int4_g128_asym, x);
    const f16 = codec(F.f16);
    const s = f16.decode(q.scales[0]);
    expect(s).toBe(
      f16.decode(f16.encode(Math.fround(Math.fround(x[127] - 0) / 15), NEAREST_EVEN, "saturate")),
    );
    expect(q.zeros![0]).toBe(0); // min(x, 0) = 0
    const y = dequantize(q);
    expect(Math.max(...y.map((v, i) => Math.abs(v - x[i])))).toBeLessThanOrEqual(s / 2 + 1e-6);
  });

  it("minmax on an all-zero block uses the range [-1, 1] and dequantizes to 0", () => {
    const q = quantize(S.int4_g128_asym, new Float32Array(128));
    expect(q.zeros![0]).toBe(8); // round(1 / (2/15)) = round(7.5) = 8
    expect(dequantize(q).every((v) => v === 0)).toBe(true);
  });

  it("double quantization stores 8-bit scales around their mean", () => {
    const x = Float32Array.from({ length: 64 * 300 }, (_, i) =>
      Math.fround(Math.sin(i * 0.1) * (1 + (i % 7))),
    );
    const q = quantize(S.nf4_dq, x);
    expect(q.doubleQuant!.scales.codes).toBeInstanceOf(Uint8Array);
    expect(q.doubleQuant!.scales.scaleShape).toEqual([2]); // 300 scales in blocks of 256
    const plain = qdq(S.nf4, x);
    const dq = dequantize(q);
    let diff = 0;
    for (let i = 0; i < x.length; i++) diff = Math.max(diff, Math.abs(dq[i] - plain[i]));
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.05);
  });

  it("int8 per channel: one f32 scale per row", () => {
    const x = Float32Array.from({ length: 3 * 100 }, (_, i) =>
      Math.fround(Math.cos(i) * (1 + Math.floor(i / 100))),
    );
    const q = quantize(S.int8_channel, { dtype: "f32", shape: [3, 100], data: x });
    expect(q.scaleShape).toEqual([3, 1]);
    for (let r = 0; r < 3; r++) {
      const amax = Math.max(...x.slice(r * 100, r * 100 + 100).map(Math.abs));
      expect(codec(F.f32).decode(q.scales[r])).toBe(Math.fround(amax / 127));
    }
  });
});

describe("block geometry", () => {
  const rand = (n: number, seed = 1) => {
    let s = seed;
    return Float32Array.from({ length: n }, () => {
      s = (s * 16807) % 2147483647;
      return Math.fround((s / 2147483647 - 0.5) * 8);
    });
  };

  it("ragged tails: each row of [3, 37] quantizes like a 37-vector on its own", () => {
    const x = rand(3 * 37);
    for (const s of BUILTIN_SCHEMES) {
      if (s.tensorScale || s.doubleQuant) continue;
      const q = quantize(s, { dtype: "f32", shape: [3, 37], data: x });
      const y = dequantize(q);
      for (let r = 0; r < 3; r++) {
        const row = x.slice(r * 37, r * 37 + 37);
        expect(y.slice(r * 37, r * 37 + 37)).toEqual(qdq(s, row));
      }
    }
  });

  it("blocks along axis 0 equal blocks along the last axis of the transpose", () => {
    const R = 40;
    const C = 5;
    const x = rand(R * C, 7);
    const xt = new Float32Array(R * C);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) xt[c * R + r] = x[r * C + c];
    const col = scheme({ ...S.mxfp4, block: { kind: "axis", axis: 0, size: 32 } });
    const q = quantize(col, { dtype: "f32", shape: [R, C], data: x });
    expect(q.scaleShape).toEqual([2, C]);
    const y = dequantize(q);
    const yt = qdq(S.mxfp4, { dtype: "f32", shape: [C, R], data: xt });
    for (let r = 0; r < R; r++)
      for (let c = 0; c < C; c++) expect(y[r * C + c]).toBe(yt[c * R + r]);
  });

  it("16x16 tiles equal each tile quantized as one flat block", () => {
    const R = 20;
    const C = 36;
    const x = rand(R * C, 3);
    const tile = scheme({
      ...S.nvfp4,
      tensorScale: undefined,
      block: { kind: "tile", rows: 16, cols: 16 },
    });
    const flat = scheme({ ...tile, block: { kind: "axis", axis: -1, size: "all" } });
    const q = quantize(tile, { dtype: "f32", shape: [R, C], data: x });
    expect(q.scaleShape).toEqual([2, 3]);
    const y = dequantize(q);
    for (let bi = 0; bi < 2; bi++)
      for (let bj = 0; bj < 3; bj++) {
        const idx: number[] = [];
        for (let r = bi * 16; r < Math.min(R, bi * 16 + 16); r++)
          for (let c = bj * 16; c < Math.min(C, bj * 16 + 16); c++) idx.push(r * C + c);
        const ref = qdq(
          flat,
          Float32Array.from(idx, (i) => x[i]),
        );
        idx.forEach((i, k) => expect(y[i]).toBe(ref[k]));
      }
  });

  it("f16 and bf16 inputs widen exactly", () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x7c00, 0x0001]); // 1, -2, Inf, 2^-24 in f16
    const q = quantize(S.mxfp8_e4m3, { dtype: "f16", shape: [4], data: bits });
    expect(q.scales[0]).toBe(0xff); // Inf in the block
    const y = qdq(S.mxfp8_e4m3, {
      dtype: "bf16",
      shape: [2],
      data: Uint16Array.from([0x3f80, 0xc000]),
    });
    expect([...y]).toEqual([1, -2]);
  });
});

describe("stochastic rounding at scheme level", () => {
  const sr = scheme({
    ...S.mxfp4,
    name: "mxfp4_sr",
    rounding: { mode: "stochastic", randomBits: 8 },
  });
  const x = Float32Array.from({ length: 4096 }, () => 4.75); // block amax 4.75 -> scale 2^0, 4.75 between 4 and 6

  it("is deterministic for a seed and differs across seeds", () => {
    expect(qdq(sr, x, { seed: 5 })).toEqual(qdq(sr, x, { seed: 5 }));
    expect(qdq(sr, x, { seed: 5 })).not.toEqual(qdq(sr, x, { seed: 6 }));
  });

  it("produces only the two neighbours, with the right frequency", () => {
    const y = qdq(sr, x, { seed: 11 });
    const ups = y.filter((v) => v === 6).length;
    expect(y.every((v) => v === 4 || v === 6)).toBe(true);
    // P(up) = floor(0.375 * 256) / 256 = 0.375; binomial sd over 4096 draws is ~31
    expect(Math.abs(ups - 0.375 * 4096)).toBeLessThan(5 * 31);
  });
});

describe("NaN outputs", () => {
  it("are the canonical quiet NaN 0x7FC00000, whatever the input NaN's payload and sign", () => {
    const x = new Float32Array(64);
    new Uint32Array(x.buffer)[3] = 0xffc00001; // a negative NaN with a payload
    x[40] = -Infinity;
    for (const s of BUILTIN_SCHEMES) {
      const y = qdq(s, x);
      const bits = new Uint32Array(y.buffer);
      for (let i = 0; i < y.length; i++)
        if (Number.isNaN(y[i])) expect(bits[i], s.name).toBe(0x7fc00000);
      expect(Number.isNaN(y[3]), s.name).toBe(true);
    }
  });
});
