/**
 * The WebAssembly backend against the interpreter and a memcpy of the same
 * bytes, measured in one run: quantize / dequantize / qdq on `elements` floats
 * and GEMV on a square W. Times include copying buffers into and out of wasm
 * memory (the runtime copies per call).
 */
import { interpreter, wasm, type Runner } from "../backends/runner.js";
import { builtinScheme } from "../stdlib/index.js";
import { synthetic } from "../tune/synthetic.js";
import { medianMs } from "./timing.js";
import { median, timeRuns } from "../tune/timing.js";

const medianOf = async (fn: () => unknown, runs: number) => median(await timeRuns(fn, runs));
import { hasGcc, nativeMs } from "./native.js";
import type { KernelSpec } from "../ir/program.js";
import type { BufferData } from "../ir/kernel-eval.js";

export interface WasmRow {
  scheme: string;
  kernel: string;
  interp_ms: number;
  wasm_ms: number;
  wasm_vs_interp: number;
  wasm_vs_memcpy: number;
  /** gcc -O3 -march=native -ffp-contract=off build of the same KernelIR (scalar C) */
  native_ms: number | null;
  wasm_vs_native: number | null;
  melem_per_s: number;
}

export async function benchWasm(
  elements = 1 << 24,
  schemes = ["mxfp4", "nvfp4", "mxfp8_e4m3", "nf4"],
): Promise<WasmRow[]> {
  const cols = 4096;
  const rows = Math.round(elements / cols);
  const data = synthetic({ kind: "gaussian" }, rows * cols, 1);
  const x = { dtype: "f32" as const, shape: [rows, cols], data };
  const copy = new Float32Array(data.length);
  const memcpyMs = medianMs(() => copy.set(data), 9);
  const n = Math.round(Math.sqrt(elements));
  const w = {
    dtype: "f32" as const,
    shape: [n, n],
    data: synthetic({ kind: "gaussian" }, n * n, 3),
  };
  const xv = synthetic({ kind: "gaussian" }, n, 4);
  const rowsOut: WasmRow[] = [];
  for (const name of schemes) {
    const s = builtinScheme(name)!;
    const time = async (r: Runner) => {
      const q = await r.quantize(s, x);
      const qw = await r.quantize(s, w);
      return {
        quantize: await medianOf(() => r.quantize(s, x), 5),
        dequantize: await medianOf(() => r.dequantize(q), 5),
        qdq: await medianOf(() => r.qdq(s, x), 5),
        gemv: await medianOf(() => r.gemv(qw, xv), 5),
      };
    };
    const a = await time(interpreter);
    const b = await time(wasm);
    const spec = (kind: KernelSpec["kind"]): KernelSpec => ({
      name: kind,
      kind,
      scheme: s,
      input: "f32",
      output: "f32",
      layout: "unpacked",
      ...(kind === "gemv" ? { order: "fixed" as const } : {}),
    });
    const q = await interpreter.quantize(s, x);
    const qw = await interpreter.quantize(s, w);
    const qInputs = (qq: typeof q): Record<string, BufferData> => ({
      codes: qq.codes,
      scales: qq.scales,
      ...(qq.zeros ? { zeros: qq.zeros } : {}),
      ...(qq.tensorScale
        ? {
            tscale: Float32Array.of(
              qq.tensorScale.amax,
              qq.tensorScale.encode,
              qq.tensorScale.decode,
            ),
          }
        : {}),
    });
    const native = s.doubleQuant
      ? undefined
      : {
          quantize: nativeMs(spec("quantize"), [rows, cols], { x: data }),
          dequantize: nativeMs(spec("dequantize"), [rows, cols], qInputs(q)),
          qdq: nativeMs(spec("qdq"), [rows, cols], { x: data }),
          gemv: nativeMs(spec("gemv"), [n, n], { ...qInputs(qw), x: xv }),
        };
    for (const kernel of ["quantize", "dequantize", "qdq", "gemv"] as const) {
      const count = kernel === "gemv" ? n * n : rows * cols;
      rowsOut.push({
        scheme: name,
        kernel: kernel === "gemv" ? `gemv ${n}x${n}` : kernel,
        interp_ms: +a[kernel].toFixed(2),
        wasm_ms: +b[kernel].toFixed(2),
        wasm_vs_interp: +(a[kernel] / b[kernel]).toFixed(2),
        wasm_vs_memcpy: +(b[kernel] / memcpyMs).toFixed(1),
        native_ms: native?.[kernel] !== undefined ? +native[kernel]!.toFixed(2) : null,
        wasm_vs_native:
          native?.[kernel] !== undefined ? +(b[kernel] / native[kernel]!).toFixed(2) : null,
        melem_per_s: +(count / b[kernel] / 1e3).toFixed(1),
      });
    }
  }
  if (!hasGcc) console.warn("gcc not found: no native reference column (apt-get install gcc)");
  return rowsOut;
}
