/**
 * qkc bench: one kernel timed alone (input already in memory, warm-up first,
 * median of repeated runs), printed as one JSON object. The field names
 * median_ms, bytes_in, bytes_out, gbps and threads are read by outside tools.
 */
import { runner, type Backend } from "../../backends/runner.js";
import { synthetic } from "../../tune/synthetic.js";
import { UserError } from "../errors.js";
import type { Io } from "../io.js";
import { resolveScheme } from "../schemes.js";
import { toJson } from "../table.js";
import { median, timeRuns } from "../../tune/timing.js";
import { compile } from "../../passes/pipeline.js";
import { WasmPlanRunner } from "../../backends/wasm/threads.js";
import { binaryenEmitWith } from "../../backends/wasm/plan-bands.js";
import { relaxedSimdSupported } from "../../backends/wasm/compile-module.js";
import { formatBits } from "../../ir/formats/index.js";
import { packNibbles } from "../../ir/layout/index.js";

export const BENCH_KERNELS = ["quantize", "dequantize", "qdq", "gemv"] as const;
export type BenchKernel = (typeof BENCH_KERNELS)[number];

export interface BenchOptions {
  kernel: BenchKernel;
  backend: Backend;
  threads: number;
  size: number;
  runs: number;
  json?: boolean;
  /** gemv's reduction order (default fixed; any: --backend wasm) */
  order?: "fixed" | "any";
  /** 4-bit codes two per byte, as deployed (--backend wasm) */
  packed?: boolean;
  /** order any GEMV with relaxed SIMD's fused multiply-adds (--backend wasm) */
  relaxedSimd?: boolean;
}

/** The options only the WebAssembly backend's resident kernels take: refused elsewhere in one line. */
function checkWasmOptions(opts: BenchOptions, resident: boolean, fourBit: boolean): void {
  const order = opts.order ?? "fixed";
  if (order === "any" && opts.kernel !== "gemv")
    throw new UserError(`--order any is gemv's; drop it or use --kernel gemv`);
  if ((order === "any" || opts.packed || opts.relaxedSimd) && !resident) {
    const flag = order === "any" ? "--order any" : opts.packed ? "--packed" : "--relaxed-simd";
    throw new UserError(
      `${flag}: only --backend wasm times it here (without double quantization); add --backend wasm`,
    );
  }
  if (opts.packed && !fourBit)
    throw new UserError(`--packed packs 4-bit codes; this scheme's are not 4-bit, drop --packed`);
  if (opts.relaxedSimd && order !== "any")
    throw new UserError(`--relaxed-simd fuses only order any GEMV; add --kernel gemv --order any`);
  if (opts.relaxedSimd && !relaxedSimdSupported())
    throw new UserError(
      `--relaxed-simd: this Node (${process.version}) has no relaxed SIMD; use Node 22+, or run qkc as node --experimental-wasm-relaxed-simd .../bin/qkc.js`,
    );
}

const bytesOf = (...arrays: { byteLength: number }[]) =>
  arrays.reduce((a, b) => a + b.byteLength, 0);

export async function runBench(schemeName: string, opts: BenchOptions, io: Io): Promise<void> {
  const scheme = resolveScheme(schemeName);
  // the WebAssembly backend runs from buffers already in wasm memory, on --threads threads (0: all cores)
  const resident = opts.backend === "wasm" && !scheme.doubleQuant;
  if (opts.threads !== 1 && !resident)
    throw new UserError(
      `--threads ${opts.threads}: the ${opts.backend} backend${scheme.doubleQuant ? " with double quantization" : ""} runs on one thread; use --threads 1`,
    );
  checkWasmOptions(opts, resident, formatBits(scheme.element) === 4);
  const order = opts.order ?? "fixed";
  const run = runner(opts.backend);
  // gemv: a square W of about `size` elements; the other kernels: a [size / 4096, 4096] tensor
  const cols = opts.kernel === "gemv" ? Math.max(16, Math.round(Math.sqrt(opts.size))) : 4096;
  const rows = Math.max(1, Math.round(opts.size / cols));
  const shape = [rows, cols];
  const data = synthetic({ kind: "gaussian" }, rows * cols, 1);
  const x = { dtype: "f32" as const, shape, data };
  const q = await run.quantize(scheme, x);
  const xv = synthetic({ kind: "gaussian" }, cols, 2);
  // the resident kernel's plan: its code layout says how to pack the codes
  const plan = resident
    ? compile({
        name: `${opts.kernel}_${scheme.name}`,
        kind: opts.kernel,
        scheme,
        input: "f32",
        output: "f32",
        layout: opts.packed ? "packed" : "unpacked",
        ...(opts.kernel === "gemv" ? { order } : {}),
      }).plan
    : undefined;
  const packedCodes =
    plan?.codeLayout.kind === "nibbles"
      ? packNibbles(Uint8Array.from(q.codes), plan.codeLayout.order)
      : undefined;
  const codeBytes = bytesOf(packedCodes ?? q.codes, q.scales, ...(q.zeros ? [q.zeros] : []));
  const kernels: Record<
    BenchKernel,
    { fn: () => Promise<unknown>; bytesIn: number; bytesOut: number }
  > = {
    quantize: { fn: () => run.quantize(scheme, x), bytesIn: data.byteLength, bytesOut: codeBytes },
    dequantize: { fn: () => run.dequantize(q), bytesIn: codeBytes, bytesOut: data.byteLength },
    qdq: { fn: () => run.qdq(scheme, x), bytesIn: data.byteLength, bytesOut: data.byteLength },
    gemv: { fn: () => run.gemv(q, xv), bytesIn: codeBytes + xv.byteLength, bytesOut: rows * 4 },
  };
  const k = kernels[opts.kernel];
  let threads = opts.threads;
  let close = async () => {};
  if (plan) {
    const emit = binaryenEmitWith({ relaxedSimd: opts.relaxedSimd === true });
    const wasm = await WasmPlanRunner.create(plan, shape, opts.threads, emit);
    const inputs: Record<string, ArrayLike<number>> = {
      x: opts.kernel === "gemv" ? xv : data,
      codes: packedCodes ?? q.codes,
      scales: q.scales,
      ...(q.zeros ? { zeros: q.zeros } : {}),
      ...(q.tensorScale
        ? { tscale: [q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode] }
        : {}),
    };
    for (const b of plan.buffers)
      if (b.role === "input") (wasm.buffers[b.name] as Float32Array).set(inputs[b.name]);
    k.fn = async () => wasm.run();
    threads = wasm.threads;
    close = () => wasm.close();
  }
  const times = await timeRuns(k.fn, opts.runs);
  await close();
  const mid = median(times);
  const result = {
    scheme: scheme.name,
    kernel: opts.kernel,
    backend: opts.backend,
    shape,
    elements: rows * cols,
    threads,
    ...(opts.kernel === "gemv" ? { order } : {}),
    layout: opts.packed ? "packed" : "unpacked",
    ...(opts.relaxedSimd ? { relaxed_simd: true } : {}),
    runs: opts.runs,
    median_ms: +mid.toFixed(4),
    min_ms: +times[0].toFixed(4),
    bytes_in: k.bytesIn,
    bytes_out: k.bytesOut,
    gbps: +((k.bytesIn + k.bytesOut) / mid / 1e6).toFixed(4),
    note:
      opts.backend === "wasm" && !resident
        ? "includes copying buffers into and out of wasm memory"
        : undefined,
  };
  io.stdout(toJson(result));
}
