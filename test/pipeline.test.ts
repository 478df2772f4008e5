import { describe, expect, it } from "vitest";
import { compile, CompileError, PASS_NAMES } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { dequantize, qdq, quantize } from "../ir/interpret/index.js";
import { packNibbles, pack6 } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES, builtinScheme } from "../stdlib/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import { corpus } from "./corpus/corpus.js";

const spec = (
  scheme: Scheme,
  kind: KernelSpec["kind"],
  layout: KernelSpec["layout"] = "packed",
): KernelSpec => ({
  name: `${kind}_${scheme.name}`,
  kind,
  scheme,
  input: "f32",
  output: "f32",
  layout,
});
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const packed = (s: Scheme, codes: ArrayLike<number>) => {
  const c = Uint8Array.from(codes);
  const b =
    s.element.kind === "table" || s.element.kind === "int"
      ? s.element.bits
      : 1 + s.element.exponent + s.element.mantissa;
  return b === 4 ? packNibbles(c, "low_first") : b === 6 ? pack6(c) : codes;
};

describe("the pass pipeline", () => {
  it("prints the state after every pass (snapshots)", async () => {
    const { dumps } = compile(spec(builtinScheme("mxfp4")!, "quantize"), { dump: PASS_NAMES });
    for (const pass of PASS_NAMES) {
      expect(dumps[pass], pass).toBeTruthy();
      await expect(dumps[pass]).toMatchFileSnapshot(
        `./__snapshots__/pipeline-mxfp4-quantize.${pass}.txt`,
      );
    }
  });

  it("fuses qdq into one kernel that writes no codes", () => {
    const { plan, dumps } = compile(spec(builtinScheme("nvfp4")!, "qdq"), { dump: ["fuse"] });
    expect(dumps.fuse).toMatch(/= qdq\(/);
    expect(dumps.fuse).not.toMatch(/= quantize\(/);
    expect(plan.kernels.map((k) => k.name)).toEqual(["qdq_nvfp4"]);
    expect(plan.buffers.map((b) => b.name)).toEqual(["x", "y"]);
  });

  it("refuses what is not lowered yet with one clear line", () => {
    const s = builtinScheme("mxfp4")!;
    expect(() => compile({ ...spec(s, "gemv") })).toThrow(CompileError);
    expect(() => compile({ ...spec(s, "gemv") })).toThrow(/gemv kernels are not lowered yet/);
    expect(() => compile(spec(builtinScheme("nf4_dq")!, "quantize"))).toThrow(
      /double quantization is not lowered yet/,
    );
  });
});

describe("compiled plans on the reference evaluator equal the interpreter", () => {
  const cases = corpus().filter((c) =>
    ["normal", "ties", "nan-inf", "ragged", "zeros"].includes(c.name),
  );
  for (const s of BUILTIN_SCHEMES.filter((x) => !x.doubleQuant)) {
    it(`${s.name}: packed quantize, dequantize from packed codes, qdq`, () => {
      const q = compile(spec(s, "quantize")).plan;
      const d = compile(spec(s, "dequantize")).plan;
      const f = compile(spec(s, "qdq")).plan;
      for (const c of cases) {
        const shape = [c.rows, c.cols];
        const ref = quantize(s, { dtype: "f32", shape, data: c.data });
        const out = runPlan(q, shape, { x: c.data }, evaluateKernel);
        expect(Array.from(out.codes), `${c.name} codes`).toEqual(Array.from(packed(s, ref.codes)));
        expect(Array.from(out.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
        const inputs: Record<string, never> = {};
        const din = {
          ...inputs,
          codes: out.codes,
          scales: out.scales,
          ...(out.zeros ? { zeros: out.zeros } : {}),
          ...(out.tscale ? { tscale: out.tscale } : {}),
        };
        const y = runPlan(d, shape, din, evaluateKernel).y as Float32Array;
        expect(bits(y), `${c.name} dequantize`).toEqual(bits(dequantize(ref)));
        const y2 = runPlan(f, shape, { x: c.data }, evaluateKernel).y as Float32Array;
        expect(bits(y2), `${c.name} qdq`).toEqual(
          bits(qdq(s, { dtype: "f32", shape, data: c.data })),
        );
      }
    });
  }
});
