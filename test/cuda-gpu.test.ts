import { describe, expect, it } from "vitest";
import { cudaDevice } from "../backends/cuda/runtime.js";
import { cuda } from "../backends/runner.js";
import { dequantize, gemv, qdq, quantize } from "../ir/interpret/index.js";
import { builtinScheme } from "../stdlib/index.js";
import { corpus } from "./corpus/corpus.js";

// `npm run test:gpu`: the generated CUDA built with nvcc and run on the device,
// against the interpreter. Skips (with a message) on machines without a GPU.
const gpu = cudaDevice() === "gpu";
if (!gpu)
  console.warn("no NVIDIA GPU (nvidia-smi -L) with nvcc: the on-device CUDA checks are skipped");

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe.skipIf(!gpu)("CUDA kernels on the GPU equal the interpreter bit for bit", () => {
  for (const name of ["mxfp4", "mxfp8_e4m3", "nvfp4", "nf4", "int4_g128_asym", "mxint8"]) {
    it(`${name}: quantize, dequantize, qdq, gemv on the corpus`, async () => {
      const s = builtinScheme(name)!;
      for (const c of corpus()) {
        const x = { dtype: "f32" as const, shape: [c.rows, c.cols], data: c.data };
        const q = await cuda.quantize(s, x, 9);
        const ref = quantize(s, x, { seed: 9 });
        expect(Array.from(q.codes), `${c.name} codes`).toEqual(Array.from(ref.codes));
        expect(Array.from(q.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
        expect(bits(await cuda.dequantize(ref)), `${c.name} dequantize`).toEqual(
          bits(dequantize(ref)),
        );
        expect(bits(await cuda.qdq(s, x, 9)), `${c.name} qdq`).toEqual(
          bits(qdq(s, x, { seed: 9 })),
        );
        const v = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i));
        expect(bits(await cuda.gemv(ref, v)), `${c.name} gemv`).toEqual(bits(gemv(ref, v)));
      }
    }, 600_000);
  }
});
