/**
 * The GEMV peers of `npm run bench -- wasm`: onnxruntime-web in Node (its
 * WebAssembly build with SIMD, 1 and 2 threads) running `MatMulNBits` (4-bit,
 * block 32) and a plain f32 `MatMul`, and onnxruntime-node's native CPU
 * `MatMulNBits` (1 thread), on the same W and x as qkc's `onnx_int4_b32`
 * GEMV. The models are built here (onnx-model.ts); each peer's output is
 * checked against the interpreter's GEMV (to 1e-5 of sum |w x|: the peers sum
 * in their own order) before it is timed. Each peer runs in a child process
 * (onnx-child.ts). qkc's GEMV, with one code per byte and with packed 4-bit
 * codes (the peers' own weight format), is timed again right before each peer,
 * so that every ratio compares two medians taken a moment apart on a machine
 * whose load moves; a peer on 2 threads is also set against qkc's packed GEMV
 * on as many threads. Missing packages: no rows, and a warning.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { dequantize, gemv, type QuantizedTensor } from "../ir/interpret/index.js";
import type { Scheme } from "../ir/scheme.js";
import { matMul, matMulNBits } from "./onnx-model.js";

export interface OnnxRow {
  peer: string;
  threads: number;
  median_ms: number;
  /** the peer's median CPU time (its process; with 2 threads, both threads' time) */
  cpu_ms: number;
  /** qkc's onnx_int4_b32 GEMV on one thread, one code per byte, timed right before this peer */
  qkc_ms: number;
  /** peer time / qkc time (above 1: qkc is faster) */
  qkc_speedup: number;
  /** the same with packed 4-bit codes (two per byte, as the peers' MatMulNBits reads them) */
  qkc_packed_ms: number;
  qkc_packed_speedup: number;
  /** CPU-time medians and their ratio (peer / qkc), packed codes */
  qkc_packed_cpu_ms: number;
  qkc_packed_cpu_speedup: number;
  /** qkc's packed GEMV on as many threads as the peer (up to the cores), timed right before it */
  qkc_packed_threads: number;
  qkc_packed_threads_ms: number;
  qkc_packed_threads_speedup: number;
  /** qkc's packed GEMV with `order: any` (passes/lower/gemv-any.ts), one thread, timed right before this peer */
  qkc_packed_any_ms: number;
  qkc_packed_any_speedup: number;
  qkc_packed_any_cpu_ms: number;
  /**
   * the same compiled with relaxed SIMD's fused multiply-add (emitWasm relaxedSimd; Node 20 runs
   * it with V8's --experimental-wasm-relaxed-simd, which the bench sets in its own process), or
   * null where the runtime has no relaxed SIMD
   */
  qkc_packed_any_relaxed_ms: number | null;
  qkc_packed_any_relaxed_speedup: number | null;
  /** max |y - interpreter| / sum |w x| */
  max_rel_err: number;
}

/** Times qkc's GEMV (median wall and CPU ms, one thread) with unpacked and with packed codes. */
export interface QkcGemvTimer {
  unpacked(): Promise<{ ms: number; cpu_ms: number }>;
  packed(): Promise<{ ms: number; cpu_ms: number }>;
  /** packed codes on `threads` threads (all cores when more), and the threads it ran on */
  packedOn(threads: number): Promise<{ ms: number; cpu_ms: number; threads: number }>;
  /** packed codes, `order: any`, one thread */
  packedAny(): Promise<{ ms: number; cpu_ms: number }>;
  /** the same with relaxed SIMD's fused multiply-adds, undefined without relaxed SIMD */
  packedAnyRelaxed(): Promise<{ ms: number; cpu_ms: number } | undefined>;
}

const installed = (pkg: string) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

export async function onnxPeers(
  s: Scheme,
  qw: QuantizedTensor,
  xv: Float32Array,
  n: number,
  qkc: QkcGemvTimer,
): Promise<OnnxRow[] | undefined> {
  if (!installed("onnxruntime-web") || !installed("onnxruntime-node") || !installed("protobufjs")) {
    console.warn("onnxruntime-web / onnxruntime-node / protobufjs not installed: no peer rows");
    return undefined;
  }
  if (s.block.kind !== "axis" || s.block.size !== 32)
    throw new Error("the onnx peers need blocks of 32");
  const dir = mkdtempSync(join(tmpdir(), "qkc-onnx-"));
  // two's-complement int4 code c is onnxruntime's q = c ^ 8 (zero point 8)
  const q = Uint8Array.from(qw.codes, (c) => (c & 15) ^ 8);
  // f32 scale codes are the scales' bit patterns
  const scales = new Float32Array(Uint32Array.from(qw.scales).buffer);
  const wHat = dequantize(qw);
  writeFileSync(join(dir, "nbits.onnx"), matMulNBits(q, scales, n, n));
  writeFileSync(join(dir, "matmul.onnx"), matMul(wHat, n, n));
  writeFileSync(join(dir, "x.bin"), new Uint8Array(xv.buffer, xv.byteOffset, xv.byteLength));
  const ref = gemv(qw, xv);
  const bound = new Float64Array(n);
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++) bound[r] += Math.abs(wHat[r * n + c] * xv[c]);
  const child = fileURLToPath(new URL("./onnx-child.js", import.meta.url));
  const rows: OnnxRow[] = [];
  const peers = [
    { peer: "onnxruntime-web MatMulNBits", runtime: "web", model: "nbits.onnx", threads: [1, 2] },
    { peer: "onnxruntime-web MatMul f32", runtime: "web", model: "matmul.onnx", threads: [1, 2] },
    {
      peer: "onnxruntime-node MatMulNBits (native CPU)",
      runtime: "node",
      model: "nbits.onnx",
      threads: [1],
    },
  ];
  for (const p of peers)
    for (const threads of p.threads) {
      const qkcMs = (await qkc.unpacked()).ms;
      const packed = await qkc.packed();
      const packedMs = packed.ms;
      const same = threads === 1 ? { ...packed, threads: 1 } : await qkc.packedOn(threads);
      const any = await qkc.packedAny();
      const relaxed = await qkc.packedAnyRelaxed();
      const out = JSON.parse(
        execFileSync(
          process.execPath,
          [child, p.runtime, String(threads), join(dir, p.model), join(dir, "x.bin"), "9"],
          { encoding: "utf8", env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" } },
        ),
      ) as { median_ms: number; cpu_ms: number; y: string };
      const y = new Float32Array(new Uint8Array(Buffer.from(out.y, "base64")).buffer);
      let err = 0;
      for (let r = 0; r < n; r++) err = Math.max(err, Math.abs(y[r] - ref[r]) / (bound[r] || 1));
      if (!(err <= 1e-5))
        throw new Error(
          `${p.peer}: its output differs from the interpreter's GEMV (${err} of sum |w x|)`,
        );
      rows.push({
        peer: p.peer,
        threads,
        median_ms: +out.median_ms.toFixed(3),
        cpu_ms: +out.cpu_ms.toFixed(3),
        qkc_ms: +qkcMs.toFixed(3),
        qkc_speedup: +(out.median_ms / qkcMs).toFixed(2),
        qkc_packed_ms: +packedMs.toFixed(3),
        qkc_packed_speedup: +(out.median_ms / packedMs).toFixed(2),
        qkc_packed_cpu_ms: +packed.cpu_ms.toFixed(3),
        qkc_packed_cpu_speedup: +(out.cpu_ms / packed.cpu_ms).toFixed(2),
        qkc_packed_threads: same.threads,
        qkc_packed_threads_ms: +same.ms.toFixed(3),
        qkc_packed_threads_speedup: +(out.median_ms / same.ms).toFixed(2),
        qkc_packed_any_ms: +any.ms.toFixed(3),
        qkc_packed_any_speedup: +(out.median_ms / any.ms).toFixed(2),
        qkc_packed_any_cpu_ms: +any.cpu_ms.toFixed(3),
        qkc_packed_any_relaxed_ms: relaxed ? +relaxed.ms.toFixed(3) : null,
        qkc_packed_any_relaxed_speedup: relaxed ? +(out.median_ms / relaxed.ms).toFixed(2) : null,
        max_rel_err: +err.toExponential(2),
      });
    }
  return rows;
}
