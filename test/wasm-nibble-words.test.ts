/**
 * The shift decoder of packed INT4 codes (backends/wasm/nibble-words.ts, the
 * words of nibbles.ts): the word layout (code 4p + j in the high nibble of byte
 * p of word j) for both nibble orders and both parities of the first code, which
 * tables take it (signed, unsigned, with a factor) and which keep the swizzle
 * path (E2M1, NF4), and GEMV / dequantize bit-exact with the interpreter on
 * codes that put every 4-bit value (the negative ones included) in every lane,
 * odd and ragged K, NaN, Inf and -0 in x and in the scales. The top-byte
 * decoder (the order: any GEMV's INT4 as q 2^28): its layout for both orders
 * and parities, which tables it takes, and the GEMV equal to the KernelIR
 * evaluator bit for bit.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { nibbleDecoder, nibbleValueBits, TOP_FACTOR, topDecodes } from "../backends/wasm/nibble-words.js";
import { topScaling } from "../passes/lower/gemv-any.js";
import { nibbleShuffle, nibbleWordSwizzle, WORD_TRANSPOSE } from "../backends/wasm/nibbles.js";
import { dequantize, gemv, quantize, type QuantizedTensor } from "../ir/interpret/index.js";
import { packNibbles, unpackNibbles, type NibbleOrder } from "../ir/layout/index.js";
import { lowerKernel } from "../passes/lower/kernels.js";
import { lowerGemv } from "../passes/lower/gemv.js";
import { resolveScheme } from "../cli/schemes.js";
import type { Scheme } from "../ir/scheme.js";
import type { Table } from "../ir/kernel.js";
import { evaluateKernel, type BufferData } from "../ir/kernel-eval.js";
import { kernelRequest } from "./kernel-request.js";

const ORDERS: NibbleOrder[] = ["low_first", "high_first"];
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const f32bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];

/** what the emitted extraction reads from words: lane j of vector p is (w_j << (24 - 8p)) >>s 28 */
const extract = (words: number[]) =>
  [0, 1, 2, 3].flatMap((p) =>
    [0, 1, 2, 3].map((j) => {
      const w =
        words[4 * j] |
        (words[4 * j + 1] << 8) |
        (words[4 * j + 2] << 16) |
        (words[4 * j + 3] << 24);
      return (w << (24 - 8 * p)) >> 28;
    }),
  );
const signed4 = (c: number) => (c << 28) >> 28;

describe("nibble words: the layout the shift decoder reads", () => {
  // 18 codes: every value, and a different one in each lane of the first 16 and of 1..16
  const codes = Uint8Array.from({ length: 18 }, (_, i) => (i * 7 + 3) & 15);

  for (const order of ORDERS)
    it(`${order}: even start (mul by 16 in the low half, one swizzle) and odd start (transpose, shift)`, () => {
      const bytes = packNibbles(codes, order);
      const want = (skip: number) =>
        Array.from(unpackNibbles(bytes, 18, order).slice(skip, skip + 16), signed4);
      // even: both halves hold bytes 0..7; the low half's i16 lanes times 16
      const splat = [...bytes.slice(0, 8), ...bytes.slice(0, 8)];
      const mul = splat.map((b, i) =>
        i < 8 ? (i % 2 ? ((b << 4) | (splat[i - 1] >> 4)) & 0xff : (b << 4) & 0xff) : b,
      );
      const even = nibbleWordSwizzle(order).map((i) => mul[i]);
      expect(extract(even), "even").toEqual(want(0));
      // odd: the interleaved codes (nibbleShuffle, skip 1) transposed, each byte shifted by 4
      const lo = Array.from(bytes, (b) => b & 15);
      const hi = Array.from(bytes, (b) => b >> 4);
      const inOrder = nibbleShuffle(order, 1).map((j) => (j < 16 ? lo[j] : hi[j - 16]));
      const odd = WORD_TRANSPOSE.map((i) => (inOrder[i] << 4) & 0xff);
      expect(extract(odd), "odd").toEqual(want(1));
      // the other order's swizzle reads other codes: the check can fail
      const other = order === "low_first" ? "high_first" : "low_first";
      expect(extract(nibbleWordSwizzle(other).map((i) => mul[i]))).not.toEqual(want(0));
    });
});

describe("nibble words: which tables take the shift decoder", () => {
  const table = (values: number[]): Table => ({ name: "t", type: "f32", values });
  const sixteen = Array.from({ length: 16 }, (_, c) => c);

  it("INT4 tables (signed, unsigned, times a factor) are reproduced entry by entry", () => {
    for (const [values, signed, factor] of [
      [sixteen.map(signed4), true, 1],
      [sixteen, false, 1],
      [sixteen.map((c) => signed4(c) * 0.25), true, 0.25],
      [sixteen.map((c) => c * 3), false, 3],
    ] as const) {
      const d = nibbleDecoder(table([...values]));
      expect(d).toEqual({ signed, factor });
      values.forEach((v, c) => expect(nibbleValueBits(d!, c)).toBe(f32bits(v)));
    }
  });

  it("E2M1, NF4 and a table with one wrong entry keep the swizzle path", () => {
    const kernelTable = (name: string) =>
      compile(kernelRequest(resolveScheme(name), "dequantize")).plan.kernels[0].tables.find(
        (t) => t.values.length === 16,
      )!;
    expect(nibbleDecoder(kernelTable("mxfp4"))).toBeUndefined();
    expect(nibbleDecoder(kernelTable("nf4"))).toBeUndefined();
    const wrong = sixteen.map(signed4);
    wrong[9] = -6.5;
    expect(nibbleDecoder(table(wrong))).toBeUndefined();
    expect(nibbleDecoder(kernelTable("nvint4"))).toEqual({ signed: true, factor: 1 });
  });
});

describe("nibble words: GEMV and dequantize bit-exact with the interpreter", () => {
  /** the plan of `kind` with its one kernel lowered for nibbles in `order` */
  const planFor = (s: Scheme, kind: "dequantize" | "gemv", order: NibbleOrder) => {
    const { plan } = compile(kernelRequest(s, kind));
    const layout = { kind: "nibbles", order } as const;
    const name = plan.kernels[0].name;
    const kernel =
      kind === "gemv"
        ? lowerGemv(name, s, "f32", layout)
        : lowerKernel(name, "dequantize", s, "f32", layout);
    return { ...plan, kernels: [kernel] };
  };
  // even K, odd K (rows start on odd codes), ragged last chunks, fewer than 16 columns
  const shapes = [
    [6, 64],
    [5, 97],
    [4, 48 + 7],
    [3, 301],
    [3, 9],
  ];

  for (const name of ["bench/onnx-int4.qs:onnx_int4_b32", "nvint4", "mxint4"])
    for (const order of ORDERS)
      it(`${name.split(":").at(-1)} (${order}): every code in every lane, NaN / Inf / -0`, async () => {
        const s = resolveScheme(name);
        for (const kind of ["gemv", "dequantize"] as const) {
          const plan = planFor(s, kind, order);
          const artifact = emitWasm(plan.kernels);
          expect(artifact.wat, "the shift decoder").toContain("i16x8.mul");
          expect(artifact.wat).toContain("f32x4.convert_i32x4_s");
          const wasm = await WasmKernels.load(artifact, plan.kernels);
          for (const [rows, cols] of shapes) {
            const data = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 4);
            const q0 = quantize(s, { dtype: "f32", shape: [rows, cols], data });
            // code (i + 5 * row + i / 16) mod 16: each lane sees all 16 codes over the rows and chunks
            const codes = Uint8Array.from(
              { length: rows * cols },
              (_, i) => (i + 5 * Math.floor(i / cols) + (i >> 4)) & 15,
            );
            const scales = Array.from(q0.scales);
            if (s.name === "onnx_int4_b32") {
              scales[1 % scales.length] = 0x7fc00000; // NaN
              scales[2 % scales.length] = 0xff800000; // -Inf
              scales[3 % scales.length] = 0x80000000; // -0
            }
            const q: QuantizedTensor = { ...q0, codes, scales: Uint32Array.from(scales) };
            const xv = Float32Array.from({ length: cols }, (_, i) => Math.cos(i) * 3);
            xv[1 % cols] = NaN;
            xv[4 % cols] = -0;
            xv[7 % cols] = Infinity;
            const inputs: Record<string, BufferData> = {
              codes: packNibbles(codes, order),
              scales: Uint32Array.from(q.scales),
              ...(q.tensorScale
                ? {
                    tscale: Float32Array.of(
                      q.tensorScale.amax,
                      q.tensorScale.encode,
                      q.tensorScale.decode,
                    ),
                  }
                : {}),
              ...(kind === "gemv" ? { x: xv } : {}),
            };
            const scaleBuffer = plan.buffers.find((b) => b.name === "scales")!;
            if (scaleBuffer.elem === "u8") inputs.scales = Uint8Array.from(q.scales);
            const y = runPlan(plan, [rows, cols], inputs, wasm.execute).y as Float32Array;
            const want = kind === "gemv" ? gemv(q, xv) : dequantize(q);
            expect(bits(y), `${kind} ${rows}x${cols}`).toEqual(bits(want));
          }
        }
      });
});

describe("nibble tops: the top-byte decoder of the order: any INT4 GEMV (q 2^28)", () => {
  const sixteen = Array.from({ length: 16 }, (_, c) => c);

  for (const order of ORDERS)
    it(`${order}: lane j of vector p is code 4p + j times 2^28, for an even and an odd start`, () => {
      const codes = Uint8Array.from({ length: 18 }, (_, i) => (i * 7 + 3) & 15);
      const bytes = packNibbles(codes, order);
      for (const skip of [0, 1] as const) {
        // tops: the low nibbles shifted into the high one (a 16-bit shift of bytes below 16
        // crosses into nothing), the high ones masked, interleaved as the bytes are
        const lo = Array.from(bytes, (b) => ((b & 15) << 4) & 0xff);
        const hi = Array.from(bytes, (b) => b & 0xf0);
        const tops = nibbleShuffle(order, skip).map((j) => (j < 16 ? lo[j] : hi[j - 16]));
        // the swizzle puts byte 4p + j on top of lane j over three zero bytes
        const lanes = [0, 1, 2, 3].flatMap((p) => [0, 1, 2, 3].map((j) => tops[4 * p + j] << 24));
        const want = Array.from(unpackNibbles(bytes, 18, order).slice(skip, skip + 16), (c) => signed4(c) * 2 ** 28);
        expect(lanes, `skip ${skip}`).toEqual(want);
      }
    });

  it("takes only a signed table of factor 2^28", () => {
    const table = (values: number[]): Table => ({ name: "t", type: "f32", values });
    expect(topDecodes(nibbleDecoder(table(sixteen.map((c) => signed4(c) * TOP_FACTOR)))!)).toBe(true);
    expect(topDecodes(nibbleDecoder(table(sixteen.map(signed4)))!)).toBe(false);
    expect(topDecodes(nibbleDecoder(table(sixteen.map((c) => c * TOP_FACTOR)))!)).toBe(false);
    for (const [name, factor] of [["bench/onnx-int4.qs:onnx_int4_b32", 2 ** 28], ["mxint4", 2 ** 30], ["nvint4", 2 ** 28]] as const) {
      const top = topScaling(resolveScheme(name))!;
      expect(top.factor, name).toBe(factor);
      expect(topDecodes(nibbleDecoder(top.table)!)).toBe(true);
    }
    for (const name of ["mxfp4", "nf4", "int4_g128_asym"]) expect(topScaling(resolveScheme(name))).toBeUndefined();
  });

  const shapes = [
    [6, 64],
    [5, 97],
    [4, 96 + 7],
    [3, 301],
  ];
  for (const name of ["bench/onnx-int4.qs:onnx_int4_b32", "mxint4"])
    for (const order of ORDERS)
      it(`${name.split(":").at(-1)} (${order}): GEMV order any = KernelIR bit for bit, every code in every lane, NaN / Inf / -0`, async () => {
        const s = resolveScheme(name);
        const { plan: base } = compile(kernelRequest(s, "gemv", { order: "any" }));
        const kernel = lowerGemv(base.kernels[0].name, s, "f32", { kind: "nibbles", order }, "plain", "any");
        const plan = { ...base, kernels: [kernel] };
        const artifact = emitWasm(plan.kernels);
        const topMask = "(v128.const i32x4 0x00808080 0x01808080 0x02808080 0x03808080)";
        expect(artifact.wat, "the top-byte decoder").toContain(topMask);
        const wasm = await WasmKernels.load(artifact, plan.kernels);
        for (const [rows, cols] of shapes) {
          const data = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 4);
          const q0 = quantize(s, { dtype: "f32", shape: [rows, cols], data });
          const codes = Uint8Array.from({ length: rows * cols }, (_, i) => (i + 5 * Math.floor(i / cols) + (i >> 4)) & 15);
          const scales = Array.from(q0.scales);
          if (s.name === "onnx_int4_b32") scales[rows * Math.ceil(cols / 32) - 1] = 0x80000000; // -0, last row
          const xv = Float32Array.from({ length: cols }, (_, i) => Math.cos(i) * 3);
          const inputs = (x: Float32Array): Record<string, BufferData> => ({
            codes: packNibbles(codes, order),
            scales: plan.buffers.find((b) => b.name === "scales")!.elem === "u8" ? Uint8Array.from(scales) : Uint32Array.from(scales),
            x,
          });
          const special = Float32Array.from(xv);
          special[1] = NaN;
          special[4] = -0;
          special[7] = Infinity;
          for (const x of [xv, special]) {
            const y = runPlan(plan, [rows, cols], inputs(x), wasm.execute).y as Float32Array;
            expect(bits(y), `${rows}x${cols}`).toEqual(bits(runPlan(plan, [rows, cols], inputs(x), evaluateKernel).y as Float32Array));
          }
        }
      });
});
