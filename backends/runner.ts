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
import { Lru, type LruLimits } from "./lru.js";
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

/** The bounds of the WASM kernel cache unless `limitWasmKernelCache` changes them. */
export const WASM_CACHE_LIMITS: LruLimits = { maxEntries: 64, maxBytes: 1 << 30 };

/** A cached WASM kernel set and the bytes of its wasm memory (0 until it is instantiated). */
interface CachedWasm {
  readonly entry: Promise<{ plan: Plan; execute: Execute }>;
  readonly bytes: () => number;
}

const compiled = new Lru<CachedWasm>(WASM_CACHE_LIMITS, (c) => c.bytes());

/**
 * Bounds the WASM kernel sets kept by `wasmKernel` (least recently used go
 * first); returns the cache's state after evicting.
 */
export function limitWasmKernelCache(limits: LruLimits): { entries: number; bytes: number } {
  compiled.limit(limits);
  return { entries: compiled.size, bytes: compiled.bytes };
}

/**
 * A compiled WASM kernel set for one kernel request, built once and kept while
 * it is among the most recently used (see WASM_CACHE_LIMITS).
 */
export function wasmKernel(spec: KernelSpec): Promise<{ plan: Plan; execute: Execute }> {
  const key = JSON.stringify(spec);
  const hit = compiled.get(key);
  if (hit) return hit.entry;
  let kernels: WasmKernels | undefined;
  const entry = (async () => {
    const { plan } = compile(spec);
    kernels = await WasmKernels.compile(plan.kernels);
    return { plan, execute: kernels.execute };
  })();
  const cached: CachedWasm = { entry, bytes: () => kernels?.memory.buffer.byteLength ?? 0 };
  compiled.set(key, cached);
  cached.entry.catch(() => compiled.delete(key, cached)); // a failed build is not kept
  return cached.entry;
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

/** Runs the compiled plan for a kernel request on a backend. */
type RunPlan = (
  spec: KernelSpec,
  shape: readonly number[],
  inputs: Record<string, BufferData>,
  seed?: number,
) => Promise<Record<string, BufferData>>;

/** A runner over compiled plans: `run` compiles (once) and runs the plan of a kernel request. */
function planRunner(backend: Backend, run: RunPlan): Runner {
  return {
    backend,
    async qdq(s, x, seed = 0) {
      return (await run(request(s, "qdq", x.dtype), x.shape, { x: inputData(x) }, seed))
        .y as Float32Array;
    },
    async quantize(s, x, seed = 0) {
      const out = await run(request(s, "quantize", x.dtype), x.shape, { x: inputData(x) }, seed);
      return toQuantized(s, x.shape, out);
    },
    async dequantize(q) {
      return (await run(request(q.scheme, "dequantize"), q.shape, quantizedInputs(q)))
        .y as Float32Array;
    },
    async gemv(w, x) {
      return (await run(request(w.scheme, "gemv"), w.shape, { ...quantizedInputs(w), x }))
        .y as Float32Array;
    },
  };
}

/** `run` for a backend whose kernels execute synchronously once compiled. */
const runSync =
  (kernelFor: (spec: KernelSpec) => Promise<{ plan: Plan; execute: Execute }>): RunPlan =>
  async (spec, shape, inputs, seed) => {
    const { plan, execute } = await kernelFor(spec);
    return runPlan(plan, shape, inputs, execute, seed);
  };

const runWasm = runSync(wasmKernel);
export const wasm: Runner = planRunner("wasm", runWasm);

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

const runWgsl: RunPlan = async (spec, shape, inputs, seed) => {
  const { plan, execute } = await wgslKernel(spec);
  return runPlanAsync(plan, shape, inputs, execute, seed);
};
export const wgsl: Runner = planRunner("wgsl", runWgsl);

/** CUDA on a GPU when one is present, else on the CPU execution layer (backends/cuda/runtime.ts). */
const runCuda = runSync(cudaKernel);
export const cuda: Runner = planRunner("cuda", runCuda);

const PLAN_RUNS: Record<Exclude<Backend, "interp">, RunPlan> = {
  wasm: runWasm,
  wgsl: runWgsl,
  cuda: runCuda,
};

/** Compiles (once) and runs the plan of any kernel request on a compiled backend: its outputs by name. */
export function runRequest(
  backend: Exclude<Backend, "interp">,
  ...args: Parameters<RunPlan>
): Promise<Record<string, BufferData>> {
  return PLAN_RUNS[backend](...args);
}

const RUNNERS: Record<Backend, Runner> = { interp: interpreter, wasm, wgsl, cuda };

export function runner(backend: Backend): Runner {
  return RUNNERS[backend];
}
