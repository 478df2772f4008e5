import { describe, expect, it } from "vitest";
import { dequantize, gemv, gemvReference, qdqBackward, quantize, rotate, rotationSigns } from "../ir/interpret/index.js";
import { builtinScheme, BUILTIN_SCHEMES } from "../stdlib/index.js";
import { synthetic } from "../tune/synthetic.js";

const mxfp4 = builtinScheme("mxfp4")!;
const mxfp4r = builtinScheme("mxfp4_rceil")!;

describe("block Hadamard rotation", () => {
  it("maps a unit vector to a constant row, normalised by 1/sqrt(n)", () => {
    for (const size of [16, 32, 64, 128, 256]) {
      const x = new Float32Array(size);
      x[0] = 1;
      const y = rotate(x, [size], { kind: "hadamard", size });
      expect(new Set(y).size, `size ${size}`).toBe(1);
      expect(y[0]).toBe(Math.fround(1 / Math.sqrt(size)));
    }
  });

  it("follows the Sylvester matrix: H[i][j] = (-1)^popcount(i & j)", () => {
    const size = 16;
    for (let j = 0; j < size; j++) {
      const x = new Float32Array(size);
      x[j] = 4; // 4 / sqrt(16) = 1: exact
      const y = rotate(x, [size], { kind: "hadamard", size });
      for (let i = 0; i < size; i++) {
        let p = i & j;
        let parity = 0;
        for (; p; p >>= 1) parity ^= p & 1;
        expect(y[i]).toBe(parity ? -1 : 1);
      }
    }
  });

  it("is its own inverse up to rounding, and preserves the norm", () => {
    const x = synthetic({ kind: "gaussian" }, 4 * 64, 3);
    const r = { kind: "hadamard" as const, size: 64, seed: 9 };
    const y = rotate(x, [4, 64], r);
    let nx = 0;
    let ny = 0;
    for (let i = 0; i < x.length; i++) {
      nx += x[i] ** 2;
      ny += y[i] ** 2;
    }
    expect(Math.abs(nx - ny) / nx).toBeLessThan(1e-5);
    const back = rotate(y, [4, 64], { kind: "hadamard", size: 64 }); // H is symmetric; undo the signs by hand
    const s = rotationSigns(r);
    for (let i = 0; i < x.length; i++) expect(back[i] * s[i % 64]).toBeCloseTo(x[i], 4);
  });

  it("random signs depend on the seed only and are +-1", () => {
    const a = rotationSigns({ kind: "hadamard", size: 256, seed: 1 });
    expect(a).toEqual(rotationSigns({ kind: "hadamard", size: 256, seed: 1 }));
    expect(a).not.toEqual(rotationSigns({ kind: "hadamard", size: 256, seed: 2 }));
    expect(a.every((v) => v === 1 || v === -1)).toBe(true);
    const neg = a.filter((v) => v === -1).length;
    expect(neg).toBeGreaterThan(90);
    expect(neg).toBeLessThan(166);
  });

  it("refuses an axis that is not a multiple of the size", () => {
    expect(() => rotate(new Float32Array(40), [40], { kind: "hadamard", size: 32 })).toThrow(/not a multiple of the Hadamard size 32/);
  });
});

describe("GEMV in the declared order", () => {
  const N = 8;
  const K = 300;
  const w = synthetic({ kind: "laplace" }, N * K, 5);
  const x = synthetic({ kind: "gaussian" }, K, 6);

  it("one-hot activations return the dequantized column exactly", () => {
    for (const s of BUILTIN_SCHEMES.filter((t) => !t.doubleQuant)) {
      const q = quantize(s, { dtype: "f32", shape: [N, K], data: w });
      const wd = dequantize(q);
      const e = new Float32Array(K);
      e[123] = 1;
      const y = gemv(q, e);
      for (let n = 0; n < N; n++) expect(y[n] === wd[n * K + 123], s.name).toBe(true); // -0 sums to +0
    }
  });

  it("stays within the rigorous summation bound of the float64 product", () => {
    const q = quantize(mxfp4, { dtype: "f32", shape: [N, K], data: w });
    const y = gemv(q, x);
    const { y: exact, bound } = gemvReference(q, x);
    for (let n = 0; n < N; n++) expect(Math.abs(y[n] - exact[n])).toBeLessThanOrEqual(bound[n]);
  });

  it("is the 16-lane order: swapping two products in different lanes can change the last bit, the same lane cannot", () => {
    const q = quantize(mxfp4, { dtype: "f32", shape: [1, 32], data: synthetic({ kind: "gaussian" }, 32, 8) });
    const xs = synthetic({ kind: "gaussian" }, 32, 9);
    const y = gemv(q, xs)[0];
    // lanes computed by hand from the definition
    const wd = dequantize(q);
    const acc = new Float32Array(16);
    for (let k = 0; k < 32; k++) acc[k % 16] = Math.fround(acc[k % 16] + Math.fround(wd[k] * xs[k]));
    for (const h of [8, 4, 2, 1]) for (let l = 0; l < h; l++) acc[l] = Math.fround(acc[l] + acc[l + h]);
    expect(y).toBe(acc[0]);
  });
});

describe("qdq backward (straight-through with the clip mask)", () => {
  const block = (head: number[]) => Float32Array.from([...head, ...new Array(32 - head.length).fill(0.1)]);
  const ones = new Float32Array(32).fill(1);

  it("masks elements that saturate: amax = 7 clips under floor, not under rceil", () => {
    const x = block([7, -7, 1]);
    expect(Array.from(qdqBackward(mxfp4, { dtype: "f32", shape: [32], data: x }, ones).slice(0, 3))).toEqual([0, 0, 1]);
    expect(Array.from(qdqBackward(mxfp4r, { dtype: "f32", shape: [32], data: x }, ones).slice(0, 3))).toEqual([1, 1, 1]);
  });

  it("passes nothing through NaN blocks, and keeps the gradient's value elsewhere", () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => (i === 3 ? NaN : 0.5 + (i % 32) / 128)); // max 0.742 (mantissa below 1.5): nothing clips
    const g = Float32Array.from({ length: 64 }, (_, i) => i + 0.5);
    const r = qdqBackward(mxfp4, { dtype: "f32", shape: [64], data: x }, g);
    expect(r.slice(0, 32).every((v) => v === 0)).toBe(true);
    expect(r.slice(32)).toEqual(g.slice(32));
  });

  it("uses the zero point's range for asymmetric schemes", () => {
    const s = builtinScheme("int4_g128_asym")!;
    const x = Float32Array.from({ length: 128 }, (_, i) => i / 10);
    const r = qdqBackward(s, { dtype: "f32", shape: [128], data: x }, new Float32Array(128).fill(1));
    expect(r.every((v) => v === 1)).toBe(true); // min-max scaling covers the whole block
  });
});
