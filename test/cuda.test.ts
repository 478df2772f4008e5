import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlan, type Execute } from "../backends/host.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { buildCpuAsync, cpuExecute, hasHostCompiler, HOST_CXX } from "../backends/cuda/cpu.js";
import { dequantize, gemv, qdq, qdqBackward, quantize, rotate } from "../ir/interpret/index.js";
import { packNibbles, pack6 } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec } from "../ir/program.js";
import { kernelRequest } from "./kernel-request.js";
import type { Plan } from "../passes/lower.js";
import { corpus } from "./corpus/corpus.js";

const cxx = hasHostCompiler();
if (!cxx)
  console.warn(
    `${HOST_CXX} not found: generated CUDA is not run on the CPU execution layer (apt-get install g++)`,
  );

const spec = kernelRequest;
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const packed = (s: Scheme, codes: ArrayLike<number>) => {
  const b = formatBits(s.element);
  const c = Uint8Array.from(codes);
  return b === 4 ? packNibbles(c, "low_first") : b === 6 ? pack6(c) : codes;
};
const sr = (s: Scheme) =>
  scheme({ ...s, name: `${s.name}_sr`, rounding: { mode: "stochastic", randomBits: 8 } });
const byName = (name: string) => BUILTIN_SCHEMES.find((s) => s.name === name)!;

const schemes = [
  ...BUILTIN_SCHEMES,
  sr(byName("mxfp8_e4m3")),
  sr(byName("mxfp4")),
  sr(byName("nvfp4")),
];
const rotated = ["mxfp4", "nvfp4", "nf4", "int4_g128_asym", "mxint8"].map(byName);
const rotation = { kind: "hadamard" as const, size: 32, seed: 5 };

function requests(): KernelSpec[] {
  const out: KernelSpec[] = [];
  for (const s of schemes) {
    out.push(spec(s, "quantize"), spec(s, "dequantize"), spec(s, "qdq"), spec(s, "qdq_backward"));
    if (!s.doubleQuant) out.push(spec(s, "gemv"));
  }
  for (const s of rotated)
    out.push(
      spec(s, "quantize", { rotate: rotation, layout: "unpacked" }),
      spec(s, "qdq", { rotate: rotation }),
    );
  return out;
}

describe.skipIf(!cxx)(
  "CUDA kernels on the CPU execution layer equal the interpreter bit for bit (shared corpus)",
  () => {
    const plans = new Map<string, Plan>();
    /** two .cu files (every scheme's kernels, split in halves) built at once with g++ -O0 */
    beforeAll(async () => {
      const specs = requests();
      const halves = [specs.filter((_, j) => j % 2 === 0), specs.filter((_, j) => j % 2 === 1)];
      const dir = mkdtempSync(join(tmpdir(), "qkc-cuda-eq-"));
      await Promise.all(
        halves.map(async (half, h) => {
          const { artifact, plans: renamed } = emitCudaPlans(half.map((sp) => compile(sp).plan));
          // the second half on a grid of at most 3 blocks: every group loops over many items
          const defines = h === 1 ? ["QKC_MAX_BLOCKS=3"] : [];
          const exe = await buildCpuAsync(artifact, join(dir, String(h)), "-O0", defines);
          const execute = cpuExecute(exe);
          for (const p of renamed) plans.set(p.spec.name, p);
          for (const p of renamed) executors.set(p.spec.name, execute);
        }),
      );
    }, 240_000);
    const executors = new Map<string, Execute>();
    const run = (name: string, shape: number[], inputs: Parameters<typeof runPlan>[2], seed = 0) =>
      runPlan(plans.get(name)!, shape, inputs, executors.get(name)!, seed);

    for (const s of schemes) {
      it(`${s.name}: quantize, dequantize, qdq, qdq_backward${s.doubleQuant ? "" : ", gemv"}`, () => {
        for (const c of corpus()) {
          const shape = [c.rows, c.cols];
          const seed = 77;
          const tensor = { dtype: "f32" as const, shape, data: c.data };
          const ref = quantize(s, tensor, { seed });
          const out = run(`quantize_${s.name}`, shape, { x: c.data }, seed);
          expect(Array.from(out.codes), `${c.name} codes`).toEqual(
            Array.from(packed(s, ref.codes)),
          );
          if (s.doubleQuant) {
            expect(Array.from(out.dq_codes), `${c.name} dq codes`).toEqual(
              Array.from(ref.doubleQuant!.scales.codes),
            );
            expect((out.dq_offset as Float32Array)[0]).toBe(ref.doubleQuant!.offset);
          } else {
            expect(Array.from(out.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
          }
          const y = run(`dequantize_${s.name}`, shape, out).y as Float32Array;
          expect(bits(y), `${c.name} dequantize`).toEqual(bits(dequantize(ref)));
          const y2 = run(`qdq_${s.name}`, shape, { x: c.data }, seed).y as Float32Array;
          expect(bits(y2), `${c.name} qdq`).toEqual(bits(qdq(s, tensor, { seed })));
          const gy = Float32Array.from(c.data, (_, i) => i - 7.5);
          const gx = run(`qdq_backward_${s.name}`, shape, { x: c.data, gy }).gx as Float32Array;
          expect(bits(gx), `${c.name} backward`).toEqual(bits(qdqBackward(s, tensor, gy)));
          if (!s.doubleQuant) {
            const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
            const yv = run(`gemv_${s.name}`, shape, { ...out, x: xv }).y as Float32Array;
            expect(bits(yv), `${c.name} gemv`).toEqual(bits(gemv(ref, xv)));
          }
        }
      });
    }

    for (const s of rotated) {
      it(`${s.name}: rotate-then-quantize and rotated qdq (Hadamard 32)`, () => {
        for (const c of corpus().filter((c) => c.cols >= 32)) {
          const cols = c.cols - (c.cols % 32);
          const shape = [c.rows, cols];
          const data = Float32Array.from(
            { length: c.rows * cols },
            (_, i) => c.data[Math.floor(i / cols) * c.cols + (i % cols)],
          );
          const xr = rotate(data, shape, rotation);
          const ref = quantize(s, { dtype: "f32", shape, data: xr });
          const out = run(`quantize_${s.name}_rot`, shape, { x: data });
          expect(Array.from(out.codes), `${c.name} codes`).toEqual(Array.from(ref.codes));
          const y = run(`qdq_${s.name}_rot`, shape, { x: data }).y as Float32Array;
          expect(bits(y), `${c.name} qdq`).toEqual(bits(qdq(s, { dtype: "f32", shape, data: xr })));
        }
      });
    }
  },
);
