/**
 * `npm run bench -- cuda [--scheme a,b]`: every stdlib scheme (and the
 * stochastic-rounding variants) x kernel kind through nvcc for sm_80, sm_89,
 * sm_90a and sm_100a in one build: per kernel and arch the registers, spills,
 * stack, shared memory, vector chunk, global load/store widths (and the widest
 * of each: 128 is ld/st.global.v4) and static PTX instruction
 * count of the 32-bit-index instance, next to the bytes that function moves
 * per tensor element (each buffer it reads or writes once: its own, temps
 * included, not the whole plan's) and the time that takes at H100 HBM3
 * bandwidth (3.35 TB/s) for 2^28 elements. No GPU is used: measured GB/s
 * needs a device (docs/cuda.md).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import type { CudaKernelInfo } from "../backends/cuda/emit.js";
import { loadedBuffers, schedule, storedBuffers } from "../backends/cuda/schedule.js";
import { ELEM_BYTES } from "../backends/cuda/vectorize.js";
import type { Kernel, Stmt } from "../ir/kernel.js";
import { CHECK_ARCHS, findNvcc, nvccCheck, problems } from "../backends/cuda/nvcc.js";
import { bufferLength } from "../backends/host.js";
import { compile } from "../passes/pipeline.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import type { KernelSpec } from "../ir/program.js";
import type { Plan } from "../passes/lower.js";
import { kernelRequest } from "../test/kernel-request.js";

const H100_BYTES_PER_S = 3.35e12;

/**
 * Bytes per tensor element (a 4096 x 4096 tensor) that `stmts` of a plan's
 * kernel move: every plan buffer they load or store, once (tables and the
 * amax workspace word are cached and left out).
 */
function bytesPerElement(plan: Plan, kernel: Kernel, stmts: readonly Stmt[]): number {
  const shape = [4096, 4096];
  const step = plan.steps.find((st) => "kernel" in st && st.kernel === kernel.name);
  const bind = step && "bind" in step ? step.bind : {};
  const touched = new Set([...loadedBuffers(stmts), ...storedBuffers(stmts)]);
  let bytes = 0;
  for (const name of touched) {
    const b = plan.buffers.find((x) => x.name === (bind[name] ?? name));
    if (b) bytes += bufferLength(plan, b.length, shape) * ELEM_BYTES[b.elem];
  }
  return bytes / (4096 * 4096);
}

/** Per __global__ function of a plan's kernel: the statements it runs (a pre-pass: its max loop). */
function globalsOf(info: CudaKernelInfo, k: Kernel): [string, readonly Stmt[]][] {
  const hoisted = schedule(k).hoisted;
  return info.globals.map((g, j) => [g, j < hoisted.length ? [k.body[hoisted[j].at]] : k.body]);
}

export interface CudaBenchRow {
  kernel: string;
  arch: string;
  registers: number;
  spill_bytes: number;
  stack_bytes: number;
  smem_bytes: number;
  /** elements a lane moves per vector chunk (1: scalar accesses; backends/cuda/vectorize.ts) */
  chunk: number;
  loads: string;
  stores: string;
  /** the widest global load and store in the kernel, in bits (128: ld/st.global.v4) */
  widest_load_bits: number;
  widest_store_bits: number;
  ptx_instructions: number;
  bytes_per_element: number;
  h100_roofline_ms_2e28: number;
}

export async function benchCuda(
  only?: string[],
): Promise<{ ok: boolean; rows: CudaBenchRow[]; seconds: number; log?: string } | string> {
  const nvcc = findNvcc();
  if (!nvcc)
    return "nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin): the cuda bench needs the CUDA toolkit";
  const sr = (s: Scheme) =>
    scheme({ ...s, name: `${s.name}_sr`, rounding: { mode: "stochastic", randomBits: 8 } });
  const schemes = [
    ...BUILTIN_SCHEMES,
    ...["mxfp8_e4m3", "mxfp4", "nvfp4"].map((n) => sr(BUILTIN_SCHEMES.find((s) => s.name === n)!)),
  ].filter((s) => !only || only.includes(s.name));
  const specs: KernelSpec[] = [];
  for (const s of schemes)
    for (const kind of ["quantize", "dequantize", "qdq", "qdq_backward", "gemv"] as const) {
      if (kind === "gemv" && s.doubleQuant) continue;
      specs.push(kernelRequest(s, kind));
    }
  const { artifact, plans } = emitCudaPlans(specs.map((sp) => compile(sp).plan));
  const bytesOf = new Map<string, number>();
  const chunkOf = new Map<string, number>();
  for (const p of plans)
    for (const k of p.kernels) {
      const info = artifact.kernels.find((x) => x.name === k.name)!;
      for (const [g, stmts] of globalsOf(info, k)) {
        bytesOf.set(g, bytesPerElement(p, k, stmts));
        chunkOf.set(g, info.chunk);
      }
    }
  const widest = (w: Readonly<Record<string, number>>) =>
    Math.max(0, ...Object.keys(w).map(Number));
  const t0 = performance.now();
  const r = await nvccCheck(
    nvcc,
    artifact,
    mkdtempSync(join(tmpdir(), "qkc-bench-cuda-")),
    CHECK_ARCHS,
  );
  const seconds = +((performance.now() - t0) / 1000).toFixed(1);
  const widths = (w: Readonly<Record<string, number>>) =>
    Object.entries(w)
      .map(([bits, n]) => `${n}x${bits}b`)
      .join(" ");
  const rows = r.reports
    .filter((x) => x.indexBits !== 64)
    .map((x) => {
      const bpe = bytesOf.get(x.kernel) ?? 0;
      return {
        kernel: x.kernel,
        arch: x.arch,
        registers: x.registers,
        spill_bytes: x.spillStores + x.spillLoads,
        stack_bytes: x.stackBytes,
        smem_bytes: x.sharedBytes,
        chunk: chunkOf.get(x.kernel) ?? 1,
        loads: widths(x.loads),
        stores: widths(x.stores),
        widest_load_bits: widest(x.loads),
        widest_store_bits: widest(x.stores),
        ptx_instructions: x.instructions,
        bytes_per_element: +bpe.toFixed(4),
        h100_roofline_ms_2e28: +(((bpe * 2 ** 28) / H100_BYTES_PER_S) * 1e3).toFixed(3),
      };
    });
  return {
    ok: r.ok,
    rows,
    seconds,
    ...(r.ok ? {} : { log: problems(r.log) }),
  };
}
