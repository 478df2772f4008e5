import { describe, expect, it } from "vitest";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { dequantize, qdq, quantize } from "../ir/interpret/index.js";
import { lowerKernel } from "../passes/lower/kernels.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme } from "../ir/scheme.js";
import { codeArray } from "../ir/tensor.js";
import { codec, formatBits } from "../ir/formats/index.js";
import { corpus } from "./corpus/corpus.js";
import { geometryScalars } from "../passes/lower/geometry.js";

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const LOWERABLE = BUILTIN_SCHEMES.filter((s) => !s.doubleQuant);
const cases = corpus();

function withSr(s: (typeof BUILTIN_SCHEMES)[number]) {
  return scheme({ ...s, name: `${s.name}_sr`, rounding: { mode: "stochastic", randomBits: 8 } });
}

describe("lowered KernelIR (reference evaluator) equals the interpreter", () => {
  const mx = LOWERABLE.find((s) => s.name === "mxfp4")!;
  const nv = LOWERABLE.find((s) => s.name === "nvfp4")!;
  const schemes = [
    ...LOWERABLE,
    ...LOWERABLE.filter((s) => s.element.kind !== "table")
      .slice(0, 4)
      .map(withSr),
    scheme({ ...mx, name: "mxfp4_axis0", block: { kind: "axis", axis: 0, size: 2 } }),
    scheme({ ...nv, name: "nvfp4_tile", block: { kind: "tile", rows: 16, cols: 16 } }),
    scheme({ ...mx, name: "mxfp4_tile_3x8", block: { kind: "tile", rows: 3, cols: 8 } }),
  ];
  for (const s of schemes) {
    it(`${s.name}: quantize, dequantize and qdq on every corpus case`, () => {
      const kq = lowerKernel("q", "quantize", s);
      const kd = lowerKernel("d", "dequantize", s);
      const kqdq = lowerKernel("qdq", "qdq", s);
      for (const c of cases) {
        const tensor = { dtype: "f32" as const, shape: [c.rows, c.cols], data: c.data };
        const seed = 0x1234_5678_9;
        const ref = quantize(s, tensor, { seed });
        const scalars = {
          ...geometryScalars(s.block, [c.rows, c.cols]),
          seed_lo: seed >>> 0,
          seed_hi: Math.floor(seed / 2 ** 32),
        };
        const codes = codeArray(codec(s.element).bits, c.data.length);
        const scales = codeArray(formatBits(s.scale.format), ref.scales.length);
        const zeros = codeArray(codec(s.element).bits, ref.scales.length);
        const tscale = new Float32Array(3);
        evaluateKernel(kq, { x: c.data, codes, scales, zeros, tscale }, scalars);
        expect(Array.from(codes), `${s.name} codes, ${c.name}`).toEqual(Array.from(ref.codes));
        expect(Array.from(scales), `${s.name} scales, ${c.name}`).toEqual(Array.from(ref.scales));
        if (ref.zeros)
          expect(Array.from(zeros), `${s.name} zeros, ${c.name}`).toEqual(Array.from(ref.zeros));
        if (ref.tensorScale)
          expect(tscale[2], `${s.name} D, ${c.name}`).toBe(ref.tensorScale.decode);

        const y = new Float32Array(c.data.length);
        evaluateKernel(
          kd,
          { codes: ref.codes, scales: ref.scales, zeros: ref.zeros ?? zeros, tscale, y },
          scalars,
        );
        const want = dequantize(ref);
        expect(bits(y), `${s.name} dequantize, ${c.name}`).toEqual(bits(want));

        const y2 = new Float32Array(c.data.length);
        evaluateKernel(kqdq, { x: c.data, y: y2 }, scalars);
        expect(bits(y2), `${s.name} qdq, ${c.name}`).toEqual(bits(qdq(s, tensor, { seed })));
      }
    });
  }
});

describe("f16 and bf16 inputs", () => {
  it("widen exactly inside the kernel, as the interpreter does", async () => {
    for (const dtype of ["f16", "bf16"] as const) {
      const raw = Uint16Array.from({ length: 3 * 100 }, (_, i) => (i * 2654435761) >>> 16); // every kind of code, NaN and Inf included
      for (const s of LOWERABLE.slice(0, 6)) {
        const k = lowerKernel("qdq", "qdq", s, dtype);
        const y = new Float32Array(raw.length);
        evaluateKernel(
          k,
          { x: raw, y },
          { ...geometryScalars(s.block, [3, 100]), seed_lo: 0, seed_hi: 0 },
        );
        const want = qdq(s, { dtype, shape: [3, 100], data: raw });
        expect(bits(y), `${s.name} ${dtype}`).toEqual(bits(want));
      }
    }
  });
});
