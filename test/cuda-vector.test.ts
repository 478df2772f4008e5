/**
 * The scalar side of the vector chunks (backends/cuda/vectorize.ts): a chunk
 * whose elements are not contiguous (blocks along axis 0: stride = columns)
 * or whose addresses are not aligned (every buffer 4 bytes past an aligned
 * allocation, QKC_HOST_OFFSET) runs the loop body as written. Both give the
 * interpreter's bits; test/cuda.test.ts holds the 128-bit side on the corpus.
 * bf16 input (chunks of 8 two-byte elements) runs both sides here, and so
 * does GEMV's lane chunks (f32 and bf16 activations, K a multiple of 32 so
 * that every row starts aligned, and the corpus's ragged K).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlan, type Execute } from "../backends/host.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { buildCpuAsync, cpuExecute, hasHostCompiler } from "../backends/cuda/cpu.js";
import { dequantize, gemv, qdq, quantize } from "../ir/interpret/index.js";
import { packNibbles, pack6 } from "../ir/layout/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { Plan } from "../passes/lower.js";
import { kernelRequest } from "./kernel-request.js";
import { corpus } from "./corpus/corpus.js";

const cxx = hasHostCompiler();
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const codesOf = (s: Scheme, c: ArrayLike<number>) => {
  const b = formatBits(s.element);
  const u = Uint8Array.from(c);
  return Array.from(b === 4 ? packNibbles(u, "low_first") : b === 6 ? pack6(u) : c);
};

/**
 * f32 chunks of 4 (mxfp4, nvfp4 with its amax pre-pass), packed nibbles in chunks of 32 and 16,
 * 6-bit codes in chunks of 32 (24 bytes), u8 codes (mxfp8), indexed min/max (int4 asym)
 */
const base = ["mxfp4", "nvfp4", "int4_g128_asym", "mxfp8_e4m3", "mxfp6_e2m3"].map((n) =>
  builtinScheme(n)!,
);
const axis0 = (s: Scheme) =>
  scheme({ ...s, name: `${s.name}_axis0`, block: { ...s.block, axis: 0 } as Scheme["block"] });
const schemes = [...base, ...base.filter((s) => s.block.kind === "axis").map(axis0)];
const halfInput = [base[0], base[1], axis0(base[0])];
const toBf16 = (x: Float32Array) =>
  Uint16Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length), (b) => b >>> 16);
const fromBf16 = (x: Uint16Array) => new Float32Array(Uint32Array.from(x, (b) => b << 16).buffer);
/** GEMV weights: the corpus and two shapes whose rows all start on 16 bytes of packed codes */
const gemvCases = () => [
  ...corpus(),
  ...[
    [5, 256],
    [3, 512],
  ].map(([rows, cols]) => ({
    name: `${rows}x${cols}`,
    rows,
    cols,
    data: Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * 2 ** (i % 9)),
  })),
];

describe.skipIf(!cxx)(
  "CUDA vector chunks: blocks along axis 0 and misaligned buffers equal the interpreter",
  () => {
    const plans = new Map<string, Plan>();
    const hosts: Record<"aligned" | "offset", Execute | undefined> = {
      aligned: undefined,
      offset: undefined,
    };
    const saved = process.env.QKC_HOST_OFFSET;
    beforeAll(async () => {
      const specs = [
        ...schemes.flatMap((s) =>
          (["quantize", "dequantize", "qdq"] as const).map((k) => kernelRequest(s, k)),
        ),
        // bf16 input: chunks of 8 two-byte elements
        ...halfInput.flatMap((s) =>
          (["quantize", "qdq"] as const).map((k) =>
            kernelRequest(s, k, { name: `${k}_${s.name}_bf16`, input: "bf16" }),
          ),
        ),
        ...base.flatMap((s) => [
          kernelRequest(s, "gemv"),
          kernelRequest(s, "gemv", { name: `gemv_${s.name}_bf16`, input: "bf16" }),
        ]),
      ];
      const { artifact, plans: renamed } = emitCudaPlans(specs.map((sp) => compile(sp).plan));
      for (const p of renamed) plans.set(p.spec.name, p);
      const exe = await buildCpuAsync(
        artifact,
        mkdtempSync(join(tmpdir(), "qkc-cuda-vec-")),
        "-O0",
      );
      hosts.aligned = cpuExecute(exe);
      process.env.QKC_HOST_OFFSET = "4"; // read when the serving host starts
      hosts.offset = cpuExecute(exe);
    }, 240_000);
    afterAll(() => {
      if (saved === undefined) delete process.env.QKC_HOST_OFFSET;
      else process.env.QKC_HOST_OFFSET = saved;
    });

    for (const s of schemes)
      for (const where of ["aligned", "offset"] as const) {
        if (where === "aligned" && !s.name.endsWith("_axis0")) continue; // cuda.test.ts runs these
        it(`${s.name}, ${where} buffers: quantize, dequantize, qdq`, () => {
          const run = (kind: string, shape: number[], inputs: Parameters<typeof runPlan>[2]) =>
            runPlan(plans.get(`${kind}_${s.name}`)!, shape, inputs, hosts[where]!, 11);
          for (const c of corpus()) {
            const shape = [c.rows, c.cols];
            const tensor = { dtype: "f32" as const, shape, data: c.data };
            const ref = quantize(s, tensor, { seed: 11 });
            const out = run("quantize", shape, { x: c.data });
            expect(Array.from(out.codes), `${c.name} codes`).toEqual(codesOf(s, ref.codes));
            expect(Array.from(out.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
            const y = run("dequantize", shape, out).y as Float32Array;
            expect(bits(y), `${c.name} dequantize`).toEqual(bits(dequantize(ref)));
            const y2 = run("qdq", shape, { x: c.data }).y as Float32Array;
            expect(bits(y2), `${c.name} qdq`).toEqual(bits(qdq(s, tensor, { seed: 11 })));
          }
        });
      }

    for (const s of base)
      for (const where of ["aligned", "offset"] as const)
        it(`${s.name}, ${where} buffers: gemv with f32 and bf16 activations`, () => {
          const run = (name: string, shape: number[], inputs: Parameters<typeof runPlan>[2]) =>
            runPlan(plans.get(name)!, shape, inputs, hosts[where]!, 11);
          for (const c of gemvCases()) {
            const shape = [c.rows, c.cols];
            const ref = quantize(s, { dtype: "f32", shape, data: c.data });
            const w = run(`quantize_${s.name}`, shape, { x: c.data });
            const x = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
            const y = run(`gemv_${s.name}`, shape, { ...w, x }).y as Float32Array;
            expect(bits(y), `${c.name} gemv`).toEqual(bits(gemv(ref, x)));
            const xh = toBf16(x);
            const yh = run(`gemv_${s.name}_bf16`, shape, { ...w, x: xh }).y as Float32Array;
            expect(bits(yh), `${c.name} gemv, bf16 x`).toEqual(bits(gemv(ref, fromBf16(xh))));
          }
        });

    for (const s of halfInput)
      for (const where of ["aligned", "offset"] as const)
        it(`${s.name}, bf16 input, ${where} buffers: quantize, qdq`, () => {
          const run = (kind: string, shape: number[], x: Uint16Array) =>
            runPlan(plans.get(`${kind}_${s.name}_bf16`)!, shape, { x }, hosts[where]!, 11);
          for (const c of corpus()) {
            const shape = [c.rows, c.cols];
            const x = toBf16(c.data);
            const tensor = { dtype: "bf16" as const, shape, data: x };
            const ref = quantize(s, tensor, { seed: 11 });
            const out = run("quantize", shape, x);
            expect(Array.from(out.codes), `${c.name} codes`).toEqual(codesOf(s, ref.codes));
            expect(Array.from(out.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
            const y = run("qdq", shape, x).y as Float32Array;
            expect(bits(y), `${c.name} qdq`).toEqual(bits(qdq(s, tensor, { seed: 11 })));
          }
        });
  },
);
