/**
 * One interface over the interpreter and the compiled backends, for the CLI,
 * the benches and the tuner: qdq, quantize (to the interpreter's QuantizedTensor
 * shape) and gemv. Compiled kernel sets are cached per kernel request.
 */
import {
  dequantize as interpDequantize,
  gemv as interpGemv,
  qdq as interpQdq,
  quantize as interpQuantize,
  type QuantizedTensor,
} from "../ir/interpret/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import type { CodeArray, Tensor } from "../ir/tensor.js";
import { blockGrid } from "../ir/interpret/blocks.js";
import { compile } from "../passes/pipeline.js";
import type { Plan } from "../passes/lower.js";
import { runPlan, runPlanAsync, type AsyncExecute, type Execute } from "./host.js";
import { WasmKernels } from "./wasm/runtime.js";
import { cudaKernel } from "./cuda/runtime.js";
import type { BufferData } from "../ir/kernel-eval.js";

export const BACKENDS = ["interp", "wasm", "wgsl", "cuda"] as const;
export type Backend = (typeof BACKENDS)[number];

export interface Runner {
  readonly backend: Backend;
  qdq(s: Scheme, x: Tensor, seed?: number): Promise<Float32Array>;
  quantize(s: Scheme, x: Tensor, seed?: number): Promise<QuantizedTensor>;
  dequantize(q: QuantizedTensor): Promise<Float32Array>;
  /** y = W x for W already quantized (2-D [N, K], blocks along K) */
  gemv(w: QuantizedTensor, x: Float32Array): Promise<Float32Array>;
}

export const interpreter: Runner = {
  backend: "interp",
  qdq: async (s, x, seed = 0) => interpQdq(s, x, { seed }),
  quantize: async (s, x, seed = 0) => interpQuantize(s, x, { seed }),
  dequantize: async (q) => interpDequantize(q),
  gemv: async (w, x) => interpGemv(w, x),
};

const compiled = new Map<string, Promise<{ plan: Plan; execute: Execute }>>();

/** A compiled WASM kernel set for one kernel request, built once per process. */
export function wasmKernel(spec: KernelSpec): Promise<{ plan: Plan; execute: Execute }> {
  const key = JSON.stringify(spec);
  let entry = compiled.get(key);
  if (!entry) {
    entry = (async () => {
      const { plan } = compile(spec);
      const wasm = await WasmKernels.compile(plan.kernels);
      return { plan, execute: wasm.execute };
    })();
    compiled.set(key, entry);
  }
  return entry;
}

const request = (
  s: Scheme,
  kind: KernelSpec["kind"],
  input: KernelSpec["input"] = "f32",
): KernelSpec => ({
  name: `${kind}_${s.name}`,
  kind,
  scheme: s,
  input,
  output: "f32",
  layout: "unpacked",
  ...(kind === "gemv" ? { order: "fixed" as const, accumulate: "f32" as const } : {}),
});

const inputData = (x: Tensor): BufferData => x.data;

/** The named outputs of a quantize plan, in the interpreter's QuantizedTensor shape. */
function toQuantized(
  s: Scheme,
  shape: readonly number[],
  out: Record<string, BufferData>,
): QuantizedTensor {
  const grid = blockGrid(shape, s.block);
  const q: QuantizedTensor = {
    scheme: s,
    shape,
    codes: out.codes as CodeArray,
    scaleShape: grid.gridShape,
    scales: out.scales as CodeArray,
    zeros: out.zeros as CodeArray | undefined,
    tensorScale: out.tscale
      ? {
          amax: (out.tscale as Float32Array)[0],
          encode: (out.tscale as Float32Array)[1],
          decode: (out.tscale as Float32Array)[2],
        }
      : undefined,
  };
  if (!s.doubleQuant) return q;
  const nested = s.doubleQuant.scheme;
  const inner = toQuantized(nested, [grid.count], {
    codes: out.dq_codes,
    scales: out.dq_scales,
    ...(out.dq_zeros ? { zeros: out.dq_zeros } : {}),
    ...(out.dq_tscale ? { tscale: out.dq_tscale } : {}),
  });
  return { ...q, doubleQuant: { scales: inner, offset: (out.dq_offset as Float32Array)[0] } };
}

function quantizedInputs(q: QuantizedTensor): Record<string, BufferData> {
  const inputs: Record<string, BufferData> = { codes: q.codes, scales: q.scales };
  if (q.zeros) inputs.zeros = q.zeros;
  if (q.tensorScale)
    inputs.tscale = Float32Array.of(q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode);
  if (q.doubleQuant) {
    const d = q.doubleQuant;
    Object.assign(inputs, {
      dq_codes: d.scales.codes,
      dq_scales: d.scales.scales,
      dq_offset: Float32Array.of(d.offset),
    });
    if (d.scales.zeros) inputs.dq_zeros = d.scales.zeros;
    if (d.scales.tensorScale) {
      const t = d.scales.tensorScale;
      inputs.dq_tscale = Float32Array.of(t.amax, t.encode, t.decode);
    }
  }
  return inputs;
}

/** A runner over compiled plans: `kernelFor` turns a kernel request into its plan and the backend's execute. */
function planRunner(
  backend: Backend,
  kernelFor: (spec: KernelSpec) => Promise<{ plan: Plan; execute: Execute }>,
): Runner {
  return {
    backend,
    async qdq(s, x, seed = 0) {
      const { plan, execute } = await kernelFor(request(s, "qdq", x.dtype));
      return runPlan(plan, x.shape, { x: inputData(x) }, execute, seed).y as Float32Array;
    },
    async quantize(s, x, seed = 0) {
      const { plan, execute } = await kernelFor(request(s, "quantize", x.dtype));
      return toQuantized(s, x.shape, runPlan(plan, x.shape, { x: inputData(x) }, execute, seed));
    },
    async dequantize(q) {
      const { plan, execute } = await kernelFor(request(q.scheme, "dequantize"));
      return runPlan(plan, q.shape, quantizedInputs(q), execute).y as Float32Array;
    },
    async gemv(w, x) {
      const { plan, execute } = await kernelFor(request(w.scheme, "gemv"));
      return runPlan(plan, w.shape, { ...quantizedInputs(w), x }, execute).y as Float32Array;
    },
  };
}

export const wasm: Runner = planRunner("wasm", wasmKernel);

let wgslAdapter: string | undefined;

/** Which WebGPU adapter the wgsl backend opens (qkc --adapter; undefined: Dawn's choice). */
export function useWgslAdapter(name: string | undefined): void {
  wgslAdapter = name;
}

const compiledWgsl = new Map<string, Promise<{ plan: Plan; execute: AsyncExecute }>>();

/** A WGSL kernel set on Dawn (Node) for one kernel request, built once per process and adapter. */
export function wgslKernel(spec: KernelSpec): Promise<{ plan: Plan; execute: AsyncExecute }> {
  const key = `${wgslAdapter ?? ""}\u0000${JSON.stringify(spec)}`;
  let entry = compiledWgsl.get(key);
  if (!entry) {
    const adapter = wgslAdapter;
    entry = (async () => {
      // loaded on first use: the other backends never load Dawn
      const { nodeGpu } = await import("./wgsl/node.js");
      const { WgslKernels } = await import("./wgsl/runtime.js");
      const gpu = await nodeGpu(adapter);
      const { plan } = compile(spec);
      const kernels = await WgslKernels.create(gpu.device, plan.kernels);
      return { plan, execute: kernels.execute };
    })();
    compiledWgsl.set(key, entry);
    entry.catch(() => compiledWgsl.delete(key));
  }
  return entry;
}

export const wgsl: Runner = {
  backend: "wgsl",
  async qdq(s, x, seed = 0) {
    const { plan, execute } = await wgslKernel(request(s, "qdq", x.dtype));
    return (await runPlanAsync(plan, x.shape, { x: inputData(x) }, execute, seed))
      .y as Float32Array;
  },
  async quantize(s, x, seed = 0) {
    const { plan, execute } = await wgslKernel(request(s, "quantize", x.dtype));
    return toQuantized(
      s,
      x.shape,
      await runPlanAsync(plan, x.shape, { x: inputData(x) }, execute, seed),
    );
  },
  async dequantize(q) {
    const { plan, execute } = await wgslKernel(request(q.scheme, "dequantize"));
    return (await runPlanAsync(plan, q.shape, quantizedInputs(q), execute)).y as Float32Array;
  },
  async gemv(w, x) {
    const { plan, execute } = await wgslKernel(request(w.scheme, "gemv"));
    return (await runPlanAsync(plan, w.shape, { ...quantizedInputs(w), x }, execute))
      .y as Float32Array;
  },
};

/** CUDA on a GPU when one is present, else on the CPU execution layer (backends/cuda/runtime.ts). */
export const cuda: Runner = planRunner("cuda", cudaKernel);

export function runner(backend: Backend): Runner {
  return backend === "wasm"
    ? wasm
    : backend === "wgsl"
      ? wgsl
      : backend === "cuda"
        ? cuda
        : interpreter;
}
