/**
 * The scalar side of the vector chunks (backends/cuda/vectorize.ts): a chunk
 * whose elements are not contiguous (blocks along axis 0: stride = columns)
 * or whose addresses are not aligned (every buffer 4 bytes past an aligned
 * allocation, QKC_HOST_OFFSET) runs the loop body as written. Both give the
 * interpreter's bits; test/cuda.test.ts holds the 128-bit side on the corpus.
 * bf16 input (chunks of 8 two-byte elements) runs both sides here.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlan, type Execute } from "../backends/host.js";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { buildCpuAsync, cpuExecute, hasHostCompiler } from "../backends/cuda/cpu.js";
import { dequantize, qdq, quantize } from "../ir/interpret/index.js";
import { packNibbles } from "../ir/layout/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { Plan } from "../passes/lower.js";
import { kernelRequest } from "./kernel-request.js";
import { corpus } from "./corpus/corpus.js";

const cxx = hasHostCompiler();
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const codesOf = (s: Scheme, c: ArrayLike<number>) =>
  Array.from(formatBits(s.element) === 4 ? packNibbles(Uint8Array.from(c), "low_first") : c);

/** f32 chunks of 4 (mxfp4, nvfp4 with its amax pre-pass), u8 chunks of 16 (dequantize), indexed min/max (int4 asym) */
const base = ["mxfp4", "nvfp4", "int4_g128_asym", "mxfp8_e4m3"].map((n) => builtinScheme(n)!);
const axis0 = (s: Scheme) =>
  scheme({ ...s, name: `${s.name}_axis0`, block: { ...s.block, axis: 0 } as Scheme["block"] });
const schemes = [...base, ...base.filter((s) => s.block.kind === "axis").map(axis0)];
const halfInput = [base[0], base[1], axis0(base[0])];

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

    for (const s of halfInput)
      for (const where of ["aligned", "offset"] as const)
        it(`${s.name}, bf16 input, ${where} buffers: quantize, qdq`, () => {
          const run = (kind: string, shape: number[], x: Uint16Array) =>
            runPlan(plans.get(`${kind}_${s.name}_bf16`)!, shape, { x }, hosts[where]!, 11);
          for (const c of corpus()) {
            const shape = [c.rows, c.cols];
            const x = Uint16Array.from(
              new Uint32Array(c.data.buffer, c.data.byteOffset, c.data.length),
              (b) => b >>> 16,
            );
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
