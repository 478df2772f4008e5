/**
 * The WebAssembly backend measured side by side in one run, on `elements`
 * floats as [elements / 4096, 4096] and a square GEMV of about as many
 * weights: the interpreter; the generated WASM (SIMD128) on one thread and on
 * all cores, from buffers already in wasm memory (backends/wasm/threads.ts);
 * the same KernelIR printed as C and built with gcc -O3 -march=native
 * -ffp-contract=off (scalar native reference, bench/native.ts); a memcpy of
 * the 64 MB input (TypedArray.set); and, for GEMV, the onnxruntime peers
 * (bench/onnx.ts) when their packages are installed. Codes are unpacked (one
 * byte per code) in every column, so all of them do the same work; 4-bit
 * schemes add dequantize and GEMV rows with packed codes (two per byte, read
 * in place by the kernel, as the ONNX 4-bit peers read packed weights). Every
 * time is a median of repeated runs after warm-up; ratios are of medians
 * measured in this run.
 */
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import { binaryenEmitWith, type EmitPlan } from "../backends/wasm/plan-bands.js";
import { relaxedSimdSupported } from "../backends/wasm/compile-module.js";
import { interpreter } from "../backends/runner.js";
import { WasmPlanRunner } from "../backends/wasm/threads.js";
import { compile } from "../passes/pipeline.js";
import { resolveScheme } from "../cli/schemes.js";
import { synthetic } from "../tune/synthetic.js";
import { median, timeRuns, timeWallCpu } from "../tune/timing.js";
import { hasGcc, nativeMs } from "./native.js";
import { onnxPeers, type OnnxRow, type QkcGemvTimer } from "./onnx.js";
import type { KernelSpec } from "../ir/program.js";
import type { Plan } from "../passes/lower.js";
import type { BufferData } from "../ir/kernel-eval.js";
import { gemvReference, type QuantizedTensor } from "../ir/interpret/index.js";
import type { Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import { packNibbles } from "../ir/layout/index.js";

export interface WasmRow {
  scheme: string;
  kernel: string;
  interp_ms: number;
  wasm_ms: number;
  /** all cores */
  wasm_threads: number;
  wasm_all_ms: number;
  /** gcc -O3 -march=native -ffp-contract=off build of the same KernelIR (scalar C) */
  native_ms: number | null;
  memcpy_ms: number;
  /** median CPU time of the one-thread runs (process.cpuUsage: time spent waiting for a core left out) */
  wasm_cpu_ms: number;
  memcpy_cpu_ms: number;
  wasm_cpu_vs_memcpy: number;
  wasm_vs_interp: number;
  wasm_vs_native: number | null;
  wasm_vs_memcpy: number;
  /** M elements/s, or M multiply-adds/s for gemv, one thread */
  rate: number;
  /** the same on all cores (wasm_threads) */
  rate_all: number;
}

export interface WasmBench {
  rows: WasmRow[];
  onnx?: OnnxRow[];
}

const ms = async (fn: () => unknown, runs = 5) => median(await timeRuns(fn, runs));
/** median wall and CPU ms (tune/timing.ts) */
const wallCpu = async (fn: () => unknown, runs: number) => {
  const t = await timeWallCpu(fn, runs);
  return { ms: median(t.wall), cpu_ms: median(t.cpu) };
};

const kernelInputs = (q: QuantizedTensor, packed = false): Record<string, ArrayLike<number>> => ({
  codes: packed ? packNibbles(Uint8Array.from(q.codes), "low_first") : q.codes,
  scales: q.scales,
  ...(q.zeros ? { zeros: q.zeros } : {}),
  ...(q.tensorScale
    ? { tscale: [q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode] }
    : {}),
});

export async function benchWasm(
  elements = 1 << 24,
  schemes = ["mxfp4", "bench/onnx-int4.qs:onnx_int4_b32"],
  /** only these kernel kinds (`--kernels gemv`), default all */
  kinds?: readonly string[],
): Promise<WasmBench> {
  const wanted = (kind: string) => !kinds || kinds.includes(kind);
  const cols = 4096;
  const rows = Math.round(elements / cols);
  const data = synthetic({ kind: "gaussian" }, rows * cols, 1);
  const x = { dtype: "f32" as const, shape: [rows, cols], data };
  const copy = new Float32Array(data.length);
  const memcpy = await wallCpu(() => copy.set(data), 9);
  const memcpyMs = memcpy.ms;
  const n = Math.round(Math.sqrt(elements));
  const w = {
    dtype: "f32" as const,
    shape: [n, n],
    data: synthetic({ kind: "gaussian" }, n * n, 3),
  };
  const xv = synthetic({ kind: "gaussian" }, n, 4);
  const cores = availableParallelism();
  const out: WasmRow[] = [];
  let onnx: OnnxRow[] | undefined;
  for (const name of schemes) {
    const s: Scheme = resolveScheme(name);
    const q = await interpreter.quantize(s, x);
    const qw = await interpreter.quantize(s, w);
    const interpMs = (kind: string, fn: () => unknown) => (wanted(kind) ? ms(fn, 3) : NaN);
    const interp = {
      quantize: await interpMs("quantize", () => interpreter.quantize(s, x)),
      dequantize: await interpMs("dequantize", () => interpreter.dequantize(q)),
      qdq: await interpMs("qdq", () => interpreter.qdq(s, x)),
      gemv: await interpMs("gemv", () => interpreter.gemv(qw, xv)),
    };
    type Kind = "quantize" | "dequantize" | "qdq" | "gemv";
    const setup = (kind: Kind, packed: boolean, order: "fixed" | "any" = "fixed") => {
      const spec: KernelSpec = {
        name: kind,
        kind,
        scheme: s,
        input: "f32",
        output: "f32",
        layout: packed ? "packed" : "unpacked",
        ...(kind === "gemv" ? { order } : {}),
      };
      const { plan } = compile(spec);
      const shape = kind === "gemv" ? [n, n] : [rows, cols];
      const inputs: Record<string, ArrayLike<number>> = {
        x: kind === "gemv" ? xv : data,
        ...kernelInputs(kind === "gemv" ? qw : q, packed),
      };
      return { spec, plan, shape, inputs };
    };
    // 4-bit codes also packed (two per byte): the kernel reads the nibbles in place
    // GEMV also with `order: any` (passes/lower/gemv-any.ts), its own rows ("... order any")
    const four = formatBits(s.element) === 4;
    const runs: { kind: Kind; packed: boolean; order?: "any" }[] = [
      ...(["quantize", "dequantize", "qdq", "gemv"] as const).map((kind) => ({
        kind,
        packed: false,
      })),
      ...(four ? (["dequantize", "gemv"] as const).map((kind) => ({ kind, packed: true })) : []),
      { kind: "gemv", packed: false, order: "any" },
      ...(four ? [{ kind: "gemv" as const, packed: true, order: "any" as const }] : []),
    ];
    for (const { kind, packed, order } of runs.filter((r) => wanted(r.kind))) {
      const { spec, plan, shape, inputs } = setup(kind, packed, order);
      const time = async (threads: number) => {
        const r = await runner(plan, shape, inputs, threads);
        const { ms: t, cpu_ms: cpu } = await wallCpu(() => r.run(), 7);
        const used = r.threads;
        await r.close();
        return { t, cpu, used };
      };
      const one = await time(1);
      const all = await time(cores);
      const native = s.doubleQuant
        ? undefined
        : nativeMs(
            spec,
            shape,
            Object.fromEntries(
              plan.buffers
                .filter((b) => b.role === "input")
                .map((b) => [b.name, typedLike(b.elem, inputs[b.name])]),
            ),
          );
      const count = kind === "gemv" ? n * n : rows * cols;
      out.push({
        scheme: s.name,
        kernel:
          (kind === "gemv" ? `gemv ${n}x${n}` : kind) +
          (packed ? " packed" : "") +
          (order ? ` order ${order}` : ""),
        interp_ms: +interp[kind].toFixed(2),
        wasm_ms: +one.t.toFixed(2),
        wasm_threads: all.used,
        wasm_all_ms: +all.t.toFixed(2),
        native_ms: native === undefined ? null : +native.toFixed(2),
        memcpy_ms: +memcpyMs.toFixed(2),
        wasm_cpu_ms: +one.cpu.toFixed(2),
        memcpy_cpu_ms: +memcpy.cpu_ms.toFixed(2),
        wasm_cpu_vs_memcpy: +(one.cpu / memcpy.cpu_ms).toFixed(2),
        wasm_vs_interp: +(interp[kind] / one.t).toFixed(2),
        wasm_vs_native: native === undefined ? null : +(one.t / native).toFixed(2),
        wasm_vs_memcpy: +(one.t / memcpyMs).toFixed(2),
        rate: +(count / one.t / 1e3).toFixed(1),
        rate_all: +(count / all.t / 1e3).toFixed(1),
      });
    }
    if (s.name === "onnx_int4_b32" && wanted("gemv")) {
      const gemvOn = (packed: boolean, threads: number, order: "fixed" | "any" = "fixed") => {
        const g = setup("gemv", packed, order);
        return runner(g.plan, g.shape, g.inputs, threads);
      };
      const [unpacked, packed, packedAny] = await Promise.all([
        gemvOn(false, 1),
        gemvOn(true, 1),
        gemvOn(true, 1, "any"),
      ]);
      // order any with relaxed SIMD's fused multiply-adds, where the runtime has (or, Node 20,
      // can be given) relaxed SIMD: the V8 flag affects this process only, not the peers' children
      if (!relaxedSimdSupported()) setFlagsFromString("--experimental-wasm-relaxed-simd");
      const relaxed = relaxedSimdSupported()
        ? await (async () => {
            const g = setup("gemv", true, "any");
            const r = await runner(
              g.plan,
              g.shape,
              g.inputs,
              1,
              binaryenEmitWith({ relaxedSimd: true }),
            );
            // checked before it is timed: within the bound of the f64 reference (contract 2)
            r.run();
            const { y: exact, bound } = gemvReference(qw, xv);
            const y = r.buffers.y as Float32Array;
            for (let row = 0; row < n; row++)
              if (!(Math.abs(y[row] - exact[row]) <= bound[row] + 2 ** -140))
                throw new Error(
                  `relaxed SIMD GEMV row ${row}: ${y[row]} is outside the bound of ${exact[row]}`,
                );
            return r;
          })()
        : undefined;
      // packed GEMV on as many threads as a peer (up to the cores), one runner per count
      const packedOn = new Map<number, WasmPlanRunner>([[1, packed]]);
      const timer: QkcGemvTimer = {
        unpacked: () => wallCpu(() => unpacked.run(), 7),
        packed: () => wallCpu(() => packed.run(), 7),
        packedAny: () => wallCpu(() => packedAny.run(), 7),
        packedAnyRelaxed: async () => (relaxed ? wallCpu(() => relaxed.run(), 7) : undefined),
        packedOn: async (threads) => {
          const t = Math.min(threads, cores);
          const r = packedOn.get(t) ?? (await gemvOn(true, t));
          packedOn.set(t, r);
          return { ...(await wallCpu(() => r.run(), 7)), threads: r.threads };
        },
      };
      onnx = await onnxPeers(s, qw, xv, n, timer);
      await Promise.all(
        [unpacked, packedAny, ...(relaxed ? [relaxed] : []), ...packedOn.values()].map((r) =>
          r.close(),
        ),
      );
    }
  }
  if (!hasGcc) console.warn("gcc not found: no native reference column (apt-get install gcc)");
  return { rows: out, ...(onnx ? { onnx } : {}) };
}

/** A runner with the plan's inputs filled in wasm memory. */
async function runner(
  plan: Plan,
  shape: readonly number[],
  inputs: Record<string, ArrayLike<number>>,
  threads: number,
  emit?: EmitPlan,
): Promise<WasmPlanRunner> {
  const r = await WasmPlanRunner.create(plan, shape, threads, emit);
  for (const b of plan.buffers)
    if (b.role === "input") (r.buffers[b.name] as Float32Array).set(inputs[b.name]);
  return r;
}

function typedLike(elem: string, values: ArrayLike<number>): BufferData {
  if (elem === "f32") return Float32Array.from(values);
  if (elem === "u16") return Uint16Array.from(values);
  if (elem === "u32") return Uint32Array.from(values);
  if (elem === "i8") return Int8Array.from(values);
  return Uint8Array.from(values);
}
