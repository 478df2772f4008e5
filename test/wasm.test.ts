import { describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { dequantize, gemv, qdq, qdqBackward, quantize } from "../ir/interpret/index.js";
import { packNibbles, pack6 } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec } from "../ir/program.js";
import { corpus } from "./corpus/corpus.js";

const spec = (s: Scheme, kind: KernelSpec["kind"], layout: KernelSpec["layout"] = "packed"): KernelSpec => ({
  name: `${kind}_${s.name}`,
  kind,
  scheme: s,
  input: "f32",
  output: "f32",
  layout,
});
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const packed = (s: Scheme, codes: ArrayLike<number>) => {
  const b = formatBits(s.element);
  const c = Uint8Array.from(codes);
  return b === 4 ? packNibbles(c, "low_first") : b === 6 ? pack6(c) : codes;
};
const sr = (s: Scheme) => scheme({ ...s, name: `${s.name}_sr`, rounding: { mode: "stochastic", randomBits: 8 } });

async function wasmPlan(sp: KernelSpec) {
  const { plan } = compile(sp);
  const wasm = await WasmKernels.compile(plan.kernels);
  return { plan, exec: wasm.execute };
}

describe("WebAssembly kernels equal the interpreter bit for bit (shared corpus)", () => {
  const cases = corpus();
  const schemes = [...BUILTIN_SCHEMES, sr(BUILTIN_SCHEMES[0]), sr(BUILTIN_SCHEMES.find((s) => s.name === "nvfp4")!)];
  for (const s of schemes) {
    it(`${s.name}: quantize, dequantize, qdq, qdq_backward${s.doubleQuant ? "" : ", gemv"}`, async () => {
      const q = await wasmPlan(spec(s, "quantize"));
      const d = await wasmPlan(spec(s, "dequantize"));
      const f = await wasmPlan(spec(s, "qdq"));
      const b = await wasmPlan(spec(s, "qdq_backward"));
      const g = s.doubleQuant ? undefined : await wasmPlan({ ...spec(s, "gemv"), order: "fixed" });
      for (const c of cases) {
        const shape = [c.rows, c.cols];
        const seed = 77;
        const tensor = { dtype: "f32" as const, shape, data: c.data };
        const ref = quantize(s, tensor, { seed });
        const out = runPlan(q.plan, shape, { x: c.data }, q.exec, seed);
        expect(Array.from(out.codes), `${c.name} codes`).toEqual(Array.from(packed(s, ref.codes)));
        if (s.doubleQuant) {
          expect(Array.from(out.dq_codes), `${c.name} dq codes`).toEqual(Array.from(ref.doubleQuant!.scales.codes));
          expect((out.dq_offset as Float32Array)[0]).toBe(ref.doubleQuant!.offset);
        } else {
          expect(Array.from(out.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
        }
        const y = runPlan(d.plan, shape, out, d.exec).y as Float32Array;
        expect(bits(y), `${c.name} dequantize`).toEqual(bits(dequantize(ref)));
        const y2 = runPlan(f.plan, shape, { x: c.data }, f.exec, seed).y as Float32Array;
        expect(bits(y2), `${c.name} qdq`).toEqual(bits(qdq(s, tensor, { seed })));
        const gy = Float32Array.from(c.data, (_, i) => i - 7.5);
        const gx = runPlan(b.plan, shape, { x: c.data, gy }, b.exec).gx as Float32Array;
        expect(bits(gx), `${c.name} backward`).toEqual(bits(qdqBackward(s, tensor, gy)));
        if (g) {
          const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
          const yv = runPlan(g.plan, shape, { ...out, x: xv }, g.exec).y as Float32Array;
          expect(bits(yv), `${c.name} gemv`).toEqual(bits(gemv(ref, xv)));
        }
      }
    });
  }
});
