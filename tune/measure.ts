/**
 * One variant on one tensor: its error metrics and its quantize / dequantize
 * throughput on the chosen backend (median of repeated runs after warm-up).
 *
 * The error is the interpreter's: every backend is bit-exact with it (the
 * project's contract, tested per backend), and it needs no compiled kernel
 * sized to the whole tensor. A compiled kernel set keeps the memory of the
 * largest call it served, so timing runs on a bounded slice: a sweep of many
 * variants over a large checkpoint holds a few MB per variant, not the tensor.
 */
import { runPlan } from "../backends/host.js";
import { runner, wasmKernel, type Backend } from "../backends/runner.js";
import { formatBits } from "../ir/formats/index.js";
import { blockGrid } from "../ir/interpret/blocks.js";
import {
  dequantize as interpDequantize,
  quantize as interpQuantize,
  rotate,
  rotationSigns,
} from "../ir/interpret/index.js";
import type { KernelSpec, Rotation } from "../ir/program.js";
import { bitsPerElement, type Scheme } from "../ir/scheme.js";
import type { Tensor } from "../ir/tensor.js";
import type { BufferData } from "../ir/kernel-eval.js";
import { tuneMetrics, type TuneMetrics } from "./metrics.js";
import { median, timeRuns } from "./timing.js";
import type { Variant } from "./variants.js";
import { loadKernels, type ShippedKernels } from "./shipped.js";

/** WASM quantize and dequantize kernel sets of one variant, emitted elsewhere (tune/shipped.ts) */
export interface ShippedTiming {
  readonly quantize: ShippedKernels;
  readonly dequantize: ShippedKernels;
}

export interface Throughput {
  /** elements of the tensor slice timed */
  readonly elements: number;
  readonly quantizeMs: number;
  readonly dequantizeMs: number;
  /** million input elements per second, from the medians */
  readonly quantizeMelemPerS: number;
  readonly dequantizeMelemPerS: number;
}

export interface Measurement extends TuneMetrics {
  readonly variant: string;
  readonly tensor: string;
  readonly elements: number;
  /** storage bits per element: codes, block scales and any per-tensor scale */
  readonly bitsPerElement: number;
  readonly throughput?: Throughput;
}

export interface MeasureOptions {
  readonly backend: Backend;
  /** seed of stochastic rounding */
  readonly seed: number;
  /** timed runs per kernel (0: no timing) */
  readonly runs: number;
  /** the largest slice of the tensor timed, in elements (whole rows; default 2^18) */
  readonly timingElements?: number;
}

/** Storage bits per element of `s` on a tensor of `shape`, per-tensor scales included. */
export function storageBits(s: Scheme, shape: readonly number[]): number {
  const n = Math.max(1, shape.reduce((a, b) => a * b, 1));
  const b = s.block;
  const perBlock =
    b.kind === "axis" && b.size === "all" ? bitsPerElement(s, Math.max(1, shape.at(b.axis) ?? 1)) : bitsPerElement(s);
  return perBlock + (s.tensorScale ? formatBits(s.tensorScale) / n : 0);
}

/**
 * The inverse of the interpreter's rotation (H S / sqrt(n) is orthogonal, so
 * its inverse is S H / sqrt(n)), in float64: it maps the reconstruction back to
 * the input's coordinates so every metric compares like with like.
 */
export function unrotate(y: Float32Array, r: Rotation): Float32Array {
  const n = r.size;
  const signs = rotationSigns(r);
  const out = new Float32Array(y.length);
  const buf = new Float64Array(n);
  const norm = 1 / Math.sqrt(n);
  for (let base = 0; base < y.length; base += n) {
    for (let p = 0; p < n; p++) buf[p] = y[base + p];
    for (let h = 1; h < n; h *= 2)
      for (let i = 0; i < n; i += 2 * h)
        for (let j = i; j < i + h; j++) {
          const a = buf[j];
          buf[j] = a + buf[j + h];
          buf[j + h] = a - buf[j + h];
        }
    for (let p = 0; p < n; p++) out[base + p] = buf[p] * norm * signs[p];
  }
  return out;
}

/** The fake-quantized reconstruction of `x` under the variant, in x's coordinates. */
export async function reconstruct(v: Variant, x: Tensor & { dtype: "f32" }, backend: Backend, seed: number): Promise<Float32Array> {
  const run = runner(backend);
  if (!v.rotate) return run.qdq(v.scheme, x, seed);
  const xr: Tensor = { dtype: "f32", shape: x.shape, data: rotate(x.data, x.shape, v.rotate) };
  return unrotate(await run.qdq(v.scheme, xr, seed), v.rotate);
}

export async function measureVariant(
  v: Variant,
  tensorName: string,
  x: Tensor & { dtype: "f32" },
  opts: MeasureOptions,
  shipped?: ShippedTiming,
): Promise<Measurement> {
  const xhat = await reconstruct(v, x, "interp", opts.seed);
  const metrics = tuneMetrics(x.data, xhat, blockGrid(x.shape, v.scheme.block));
  return {
    variant: v.name,
    tensor: tensorName,
    elements: x.data.length,
    bitsPerElement: storageBits(v.scheme, x.shape),
    ...metrics,
    ...(opts.runs > 0 ? { throughput: await throughput(v, timingSlice(v.scheme, x, opts.timingElements ?? 1 << 18), opts, shipped) } : {}),
  };
}

/** Whole rows from the start of `x`, at most `limit` elements (at least one row); the whole tensor for other block shapes. */
function timingSlice(s: Scheme, x: Tensor & { dtype: "f32" }, limit: number): Tensor & { dtype: "f32" } {
  const last = x.shape.at(-1) ?? 1;
  const oneAxis = s.block.kind === "axis" && (s.block.axis === -1 || s.block.axis === x.shape.length - 1);
  if (!oneAxis || x.data.length <= limit || x.shape.length < 1) return x;
  const rows = Math.max(1, Math.floor(limit / last));
  return { dtype: "f32", shape: [rows, last], data: x.data.subarray(0, rows * last) };
}

/** The kernel requests timed for a variant: quantize (with its rotation) and dequantize. */
export function timingSpec(v: Variant, kind: "quantize" | "dequantize"): KernelSpec {
  return spec(v.scheme, kind, kind === "quantize" ? v.rotate : undefined);
}

const spec = (s: Scheme, kind: "quantize" | "dequantize", rotate?: Rotation): KernelSpec => ({
  name: `${kind}_${s.name}`,
  kind,
  scheme: s,
  input: "f32",
  output: "f32",
  layout: "unpacked",
  ...(rotate ? { rotate } : {}),
});

async function throughput(
  v: Variant,
  x: Tensor & { dtype: "f32" },
  opts: MeasureOptions,
  shipped?: ShippedTiming,
): Promise<Throughput> {
  let quantize: () => unknown;
  let dequantize: () => unknown;
  if (opts.backend === "interp") {
    const prepare = v.rotate ? () => ({ ...x, data: rotate(x.data, x.shape, v.rotate!) }) : () => x;
    const q = interpQuantize(v.scheme, prepare(), { seed: opts.seed });
    quantize = () => interpQuantize(v.scheme, prepare(), { seed: opts.seed });
    dequantize = () => interpDequantize(q);
  } else if (opts.backend === "wasm") {
    // shipped kernels are instantiated per job (a few KB), so a worker holds no memory between jobs
    const qk = shipped ? await loadKernels(shipped.quantize) : await wasmKernel(timingSpec(v, "quantize"));
    const dk = shipped ? await loadKernels(shipped.dequantize) : await wasmKernel(timingSpec(v, "dequantize"));
    const run = () => runPlan(qk.plan, x.shape, { x: x.data }, qk.execute, opts.seed);
    const q = run();
    const inputs: Record<string, BufferData> = {};
    for (const b of dk.plan.buffers) if (b.role === "input") inputs[b.name] = q[b.name];
    quantize = run;
    dequantize = () => runPlan(dk.plan, x.shape, inputs, dk.execute);
  } else {
    // a backend known only through the runner: its rotation (if any) is not timed
    const run = runner(opts.backend);
    const q = await run.quantize(v.scheme, x, opts.seed);
    quantize = () => run.quantize(v.scheme, x, opts.seed);
    dequantize = () => run.dequantize(q);
  }
  const qMs = median(await timeRuns(quantize, opts.runs));
  const dMs = median(await timeRuns(dequantize, opts.runs));
  const n = x.data.length;
  return {
    elements: n,
    quantizeMs: qMs,
    dequantizeMs: dMs,
    quantizeMelemPerS: n / qMs / 1e3,
    dequantizeMelemPerS: n / dMs / 1e3,
  };
}
