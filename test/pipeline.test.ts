import { describe, expect, it } from "vitest";
import { compile, CompileError, PASS_NAMES } from "../passes/pipeline.js";
import { runPlan } from "../backends/host.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { dequantize, gemv, qdq, qdqBackward, quantize, rotate } from "../ir/interpret/index.js";
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
    const tiled = { ...s, block: { kind: "tile" as const, rows: 16, cols: 16 } };
    expect(() => compile({ ...spec(tiled, "gemv") })).toThrow(CompileError);
    expect(() => compile({ ...spec(tiled, "gemv") })).toThrow(/gemv needs blocks along K/);
    expect(() => compile(spec(builtinScheme("nf4_dq")!, "gemv"))).toThrow(
      /gemv with double quantization is not lowered yet/,
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
      // one kernel reads the packed bytes in place: no unpack step, no unpacked copy
      expect(d.kernels.map((k) => k.name)).toEqual([d.spec.name]);
      expect(d.buffers.filter((b) => b.role === "temp")).toEqual([]);
      if (d.codeLayout.kind !== "unpacked")
        expect(d.buffers.find((b) => b.name === "codes")).toMatchObject({
          elem: "u8",
          length: "packed",
        });
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

describe("rotation, gemv and backward plans on the reference evaluator equal the interpreter", () => {
  const rows = 3;
  const cols = 256;
  const data = Float32Array.from(
    { length: rows * cols },
    (_, i) => Math.sin(i * 0.91) * (1 + (i % 17)),
  );
  data[300] = NaN;
  for (const name of ["mxfp4", "nvfp4", "nf4", "int4_g128_asym", "mxint8"]) {
    const s = builtinScheme(name)!;
    it(`${name}: rotate-then-quantize and rotated qdq`, () => {
      const rotation = { kind: "hadamard" as const, size: 32, seed: 5 };
      const shape = [rows, cols];
      const xr = rotate(data, shape, rotation);
      const q = compile({ ...spec(s, "quantize", "unpacked"), rotate: rotation }).plan;
      const out = runPlan(q, shape, { x: data }, evaluateKernel);
      const ref = quantize(s, { dtype: "f32", shape, data: xr });
      expect(Array.from(out.codes)).toEqual(Array.from(ref.codes));
      const f = compile({ ...spec(s, "qdq"), rotate: rotation }).plan;
      const y = runPlan(f, shape, { x: data }, evaluateKernel).y as Float32Array;
      expect(bits(y)).toEqual(bits(qdq(s, { dtype: "f32", shape, data: xr })));
    });

    it(`${name}: gemv from packed codes, and the backward mask`, () => {
      const shape = [rows, cols];
      const ref = quantize(s, { dtype: "f32", shape, data });
      const x = Float32Array.from({ length: cols }, (_, i) => Math.cos(i));
      const g = compile({ ...spec(s, "gemv"), order: "fixed" }).plan;
      expect(g.kernels.map((k) => k.name)).toEqual([g.spec.name]);
      expect(g.buffers.filter((b) => b.role === "temp")).toEqual([]);
      const q = runPlan(compile(spec(s, "quantize")).plan, shape, { x: data }, evaluateKernel);
      const inputs = {
        codes: q.codes,
        scales: q.scales,
        x,
        ...(q.zeros ? { zeros: q.zeros } : {}),
        ...(q.tscale ? { tscale: q.tscale } : {}),
      };
      const y = runPlan(g, shape, inputs, evaluateKernel).y as Float32Array;
      expect(bits(y)).toEqual(bits(gemv(ref, x)));
      const gy = Float32Array.from({ length: rows * cols }, (_, i) => i);
      const b = compile(spec(s, "qdq_backward")).plan;
      const gx = runPlan(b, shape, { x: data, gy }, evaluateKernel).gx as Float32Array;
      expect(bits(gx)).toEqual(bits(qdqBackward(s, { dtype: "f32", shape, data }, gy)));
    });
  }
});

describe("double quantization plans on the reference evaluator equal the interpreter", () => {
  const s = builtinScheme("nf4_dq")!;
  const shape = [40, 640]; // 400 blocks of 64: two nested blocks of 256, the second ragged
  const data = Float32Array.from(
    { length: 40 * 640 },
    (_, i) => Math.sin(i * 0.37) * (1 + ((i >> 6) % 13)),
  );
  data[1000] = NaN;

  it("nf4_dq: quantize, dequantize and qdq", () => {
    const ref = quantize(s, { dtype: "f32", shape, data });
    const out = runPlan(compile(spec(s, "quantize")).plan, shape, { x: data }, evaluateKernel);
    expect(Array.from(out.codes)).toEqual(
      Array.from(packNibbles(Uint8Array.from(ref.codes), "low_first")),
    );
    expect(Array.from(out.dq_codes)).toEqual(Array.from(ref.doubleQuant!.scales.codes));
    expect(Array.from(out.dq_scales)).toEqual(Array.from(ref.doubleQuant!.scales.scales));
    expect((out.dq_offset as Float32Array)[0]).toBe(ref.doubleQuant!.offset);
    const y = runPlan(
      compile(spec(s, "dequantize")).plan,
      shape,
      {
        codes: out.codes,
        dq_codes: out.dq_codes,
        dq_scales: out.dq_scales,
        dq_offset: out.dq_offset,
      },
      evaluateKernel,
    ).y as Float32Array;
    expect(bits(y)).toEqual(bits(dequantize(ref)));
    const y2 = runPlan(compile(spec(s, "qdq")).plan, shape, { x: data }, evaluateKernel)
      .y as Float32Array;
    expect(bits(y2)).toEqual(bits(qdq(s, { dtype: "f32", shape, data })));
  });
});
