/**
 * `order: any` GEMV (passes/lower/gemv-any.ts): the scale factored out of each
 * block. For every stdlib scheme, packed and not, on the shared corpus (ragged
 * K, K < 32, K = 1, huge and NaN/Inf values), with NaN and all-ones scale codes
 * and several activations (smooth, one-hot, huge, NaN/Inf): the WASM module is
 * bit-exact with the KernelIR evaluator on the same kernel, and within the
 * bound gamma_K * sum |w x| of the float64 reference (plus the underflow term),
 * NaN/Inf where the reference is; one-hot x returns the dequantized column
 * exactly (DESIGN.md contract 2). CUDA (CPU execution layer) and WGSL (Dawn)
 * run the same kernels bit for bit with the evaluator. With relaxed SIMD's
 * fused multiply-adds (fused or not as the machine does it) the same checks
 * hold but equality with the evaluator, and only these kernels fuse.
 */
import { mkdtempSync } from "node:fs";
import v8 from "node:v8";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { emitCudaPlans } from "../backends/cuda/plans.js";
import { buildCpuAsync, cpuExecute, hasHostCompiler } from "../backends/cuda/cpu.js";
import { emitWgsl } from "../backends/wgsl/emit.js";
import { compile } from "../passes/pipeline.js";
import { runPlan, runPlanAsync, type Execute } from "../backends/host.js";
import { WgslKernels } from "../backends/wgsl/runtime.js";
import { nodeGpu } from "../backends/wgsl/node.js";
import { WasmKernels } from "../backends/wasm/runtime.js";
import { WasmPlanRunner } from "../backends/wasm/threads.js";
import { emitWasm } from "../backends/wasm/emit.js";
import { relaxedSimdSupported } from "../backends/wasm/compile-module.js";
import { evaluateKernel, type BufferData } from "../ir/kernel-eval.js";
import { dequantize, gemvReference, quantize, type QuantizedTensor } from "../ir/interpret/index.js";
import { packNibbles } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { resolveScheme } from "../cli/schemes.js";
import { codec, f16, formatBits, NEAREST_EVEN } from "../ir/formats/index.js";
import { codeRange } from "../passes/lower/gemv-any.js";
import type { Scheme } from "../ir/scheme.js";
import type { KernelSpec } from "../ir/program.js";
import type { Plan } from "../passes/lower.js";
import { corpus, type CorpusCase } from "./corpus/corpus.js";

const spec = (s: Scheme, layout: KernelSpec["layout"]): KernelSpec => ({
  name: `gemv_any_${s.name}`,
  kind: "gemv",
  scheme: s,
  input: "f32",
  output: "f32",
  layout,
  order: "any",
});
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function inputs(plan: Plan, q: QuantizedTensor, packed: boolean, x: Float32Array) {
  const codes = Uint8Array.from(q.codes);
  const raw: Record<string, ArrayLike<number>> = {
    codes: packed ? packNibbles(codes, "low_first") : codes,
    scales: q.scales,
    x,
    ...(q.zeros ? { zeros: q.zeros } : {}),
    ...(q.tensorScale
      ? { tscale: [q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode] }
      : {}),
  };
  return Object.fromEntries(
    Object.entries(raw).map(([name, v]) => {
      const elem = plan.buffers.find((b: { name: string }) => b.name === name)?.elem;
      const T = elem === "f32" ? Float32Array : elem === "u16" ? Uint16Array : elem === "u32" ? Uint32Array : Uint8Array;
      return [name, T.from(v)];
    }),
  ) as Record<string, BufferData>;
}

/** corpus plus small K around the rounding guard (K = 11 is the first it admits) */
function cases(): CorpusCase[] {
  const extra = [2, 4, 10, 11, 12, 16, 31, 33, 64].map((cols) => ({
    name: `K${cols}`,
    rows: 3,
    cols,
    data: Float32Array.from({ length: 3 * cols }, (_, i) => Math.sin(i * 1.7 + cols) * 2),
  }));
  return [...corpus(), ...extra];
}

function activations(K: number): [string, Float32Array][] {
  const smooth = Float32Array.from({ length: K }, (_, i) => Math.cos(i) * 3);
  const onehot = new Float32Array(K);
  onehot[Math.min(K - 1, 7)] = 1;
  const huge = Float32Array.from({ length: K }, (_, i) => Math.cos(i) * 2 ** 125);
  const special = smooth.slice();
  special[K - 1] = K % 2 ? Infinity : NaN;
  const tiny = Float32Array.from({ length: K }, (_, i) => Math.cos(i) * 2 ** -140);
  return [["smooth", smooth], ["one-hot", onehot], ["huge", huge], ["nan-inf", special], ["tiny", tiny]];
}

/** y against the reference: NaN/Inf where it is, else within the bound (skipped where f32 may overflow) */
function checkBound(q: QuantizedTensor, x: Float32Array, y: Float32Array, what: string) {
  const [N, K] = q.shape;
  const wd = dequantize(q);
  const { y: exact, bound } = gemvReference(q, x);
  const blocks = Math.ceil(K / 16) + 1;
  const slack = (K + 2 * blocks + 4) * 2 ** -149;
  for (let n = 0; n < N; n++) {
    let finiteAbs = 0;
    for (let k = 0; k < K; k++) {
      const p = wd[n * K + k] * x[k];
      if (Number.isFinite(p)) finiteAbs += Math.abs(p);
    }
    if (finiteAbs >= 2 ** 126) continue; // f32 may overflow: outside the bound, as for the fixed order
    const e = exact[n];
    if (Number.isNaN(e)) expect(Number.isNaN(y[n]), `${what} row ${n}: NaN`).toBe(true);
    else if (!Number.isFinite(e)) expect(y[n], `${what} row ${n}: Inf`).toBe(e);
    else expect(Math.abs(y[n] - e), `${what} row ${n}`).toBeLessThanOrEqual(bound[n] + slack);
  }
}

const SCHEMES = [...BUILTIN_SCHEMES.filter((t) => !t.doubleQuant), resolveScheme("bench/onnx-int4.qs:onnx_int4_b32")];

/**
 * The corpus (a NaN scale code in the second block) through `wasm`: within the bound, NaN/Inf
 * where the reference has them, one-hot exact, and (`bitExact`) equal to the KernelIR evaluator.
 */
function checkCorpus(s: Scheme, layout: KernelSpec["layout"], plan: Plan, wasm: WasmKernels, bitExact: boolean) {
  for (const c of cases()) {
    const shape = [c.rows, c.cols];
    const q0 = quantize(s, { dtype: "f32", shape, data: c.data });
    // a scale code of all ones (NaN for E8M0, E4M3, f16, f32) in the second block
    const q: QuantizedTensor =
      q0.scales.length > 1
        ? { ...q0, scales: q0.scales.map((v, j) => (j === 1 ? 2 ** formatBits(s.scale.format) - 1 : v)) }
        : q0;
    for (const [xname, x] of activations(c.cols)) {
      const what = `${s.name} ${layout} ${c.name} ${xname}`;
      const data = inputs(plan, q, layout === "packed", x);
      const y = runPlan(plan, shape, data, wasm.execute).y as Float32Array;
      if (bitExact) {
        const ref = runPlan(plan, shape, inputs(plan, q, layout === "packed", x), evaluateKernel).y as Float32Array;
        expect(bits(y), `${what}: WASM = KernelIR`).toEqual(bits(ref));
      }
      checkBound(q, x, y, what);
      if (xname === "one-hot") {
        const wd = dequantize(q);
        const at = x.indexOf(1);
        for (let n = 0; n < c.rows; n++) {
          // a NaN or Inf weight elsewhere in the row makes the row NaN (0 * Inf), as in the reference
          if (wd.subarray(n * c.cols, (n + 1) * c.cols).some((v) => !Number.isFinite(v))) continue;
          const w = wd[n * c.cols + at];
          expect(Number.isNaN(w) ? Number.isNaN(y[n]) : y[n] === w, `${what} row ${n}: one-hot`).toBe(true);
        }
      }
    }
  }
}

const layoutsOf = (s: Scheme): KernelSpec["layout"][] => (formatBits(s.element) === 4 ? ["unpacked", "packed"] : ["unpacked"]);

describe("order: any GEMV (the scale factored out of each block)", () => {
  for (const s of SCHEMES)
    for (const layout of layoutsOf(s))
      it(`${s.name} (${layout}): WASM = KernelIR, within the bound, one-hot exact`, async () => {
        const { plan } = compile(spec(s, layout));
        const wasm = await WasmKernels.load(emitWasm(plan.kernels), plan.kernels);
        checkCorpus(s, layout, plan, wasm, true);
      });

  it("a row's result does not depend on the thread bands (the scale guard is per row)", async () => {
    const s = resolveScheme("bench/onnx-int4.qs:onnx_int4_b32");
    const { plan } = compile(spec(s, "packed"));
    const [N, K] = [37, 300];
    const q0 = quantize(s, { dtype: "f32", shape: [N, K], data: Float32Array.from({ length: N * K }, (_, j) => Math.sin(j)) });
    // row 5's third block has a NaN scale (all ones): that row runs per element, the others factored
    const nan = 2 ** formatBits(s.scale.format) - 1;
    const q = { ...q0, scales: q0.scales.map((v, j) => (j === 5 * Math.ceil(K / 32) + 2 ? nan : v)) };
    const x = Float32Array.from({ length: K }, (_, j) => Math.cos(j) * 3);
    const data = inputs(plan, q, true, x);
    const ys: Float32Array[] = [];
    for (const threads of [1, 3]) {
      const r = await WasmPlanRunner.create(plan, [N, K], threads);
      for (const b of plan.buffers) if (b.role === "input") (r.buffers[b.name] as Float32Array).set(data[b.name] as Float32Array);
      await r.run();
      ys.push(Float32Array.from(r.buffers.y as Float32Array));
      await r.close();
    }
    expect(bits(ys[1])).toEqual(bits(ys[0]));
    expect(bits(ys[0])).toEqual(bits(runPlan(plan, [N, K], data, evaluateKernel).y as Float32Array));
    expect(Number.isFinite(ys[0][5])).toBe(false);
  });

  it("the scale guard on codes: (code & mask) in [lo, hi] is exactly SMIN <= |s| <= SMAX", () => {
    for (const s of SCHEMES) {
      const c = codec(s.scale.format);
      const [smax, smin] = [2 ** -3, 2 ** -20];
      const r = codeRange(c, smax, smin);
      expect(r, s.name).toBeDefined();
      const ok = (v: number) => Number.isFinite(v) && Math.abs(v) >= smin && Math.abs(v) <= smax;
      const codes =
        c.bits <= 16
          ? Array.from({ length: 2 ** c.bits }, (_, j) => j)
          : [smin, smax, smin * (1 - 2 ** -24), smax * (1 + 2 ** -23), -smin, -smax, 0, -0, Infinity, -Infinity, NaN, 1e-45, 3e38, 2 ** -10].map(
              (v) => new Uint32Array(new Float32Array([v]).buffer)[0],
            ).concat([0xffc00001, 0x7f800001]);
      for (const code of codes) {
        const v = c.bits <= 16 ? c.decode(code) : new Float32Array(new Uint32Array([code]).buffer)[0];
        const m = code & r!.mask;
        expect(m >= r!.lo && m <= r!.hi, `${s.name} code ${code}`).toBe(ok(v));
      }
    }
  });

  /** WASM and the KernelIR evaluator on one targeted input: bit-identical, within the bound */
  async function targeted(s: Scheme, q: QuantizedTensor, x: Float32Array, what: string) {
    const { plan } = compile(spec(s, "unpacked"));
    expect(JSON.stringify(plan.kernels[0].body), `${what}: factored`).toContain('"var":"kc"');
    const wasm = await WasmKernels.load(emitWasm(plan.kernels), plan.kernels);
    const y = runPlan(plan, q.shape, inputs(plan, q, false, x), wasm.execute).y as Float32Array;
    const ref = runPlan(plan, q.shape, inputs(plan, q, false, x), evaluateKernel).y as Float32Array;
    expect(bits(y), `${what}: WASM = KernelIR`).toEqual(bits(ref));
    const { y: exact } = gemvReference(q, x);
    expect(Number.isFinite(exact[0]) && Math.abs(exact[0]) < 2 ** 120, `${what}: the case is in range`).toBe(true);
    checkBound(q, x, y, what);
  }

  it("a tensor scale |t| < 1 with a large block sum: sum * fl(s t) does not overflow where the term is in range", async () => {
    // before: (sum * s) * t; sum * s = (12 * 2^118) * 448 overflowed to Inf (exact 5.5e34)
    const nv = BUILTIN_SCHEMES.find((t) => t.name === "nvfp4")!;
    const s: Scheme = { ...nv, name: "nvfp4_b32", block: { ...nv.block, size: 32 } as Scheme["block"] };
    const K = 64;
    const q0 = quantize(s, { dtype: "f32", shape: [1, K], data: new Float32Array(K).fill(6) });
    const q = { ...q0, tensorScale: { ...q0.tensorScale!, decode: 2 ** -20 } };
    expect(Array.from(q.scales)).toEqual([126, 126]); // E4M3 448, in the guard's range
    await targeted(s, q, new Float32Array(K).fill(2 ** 118), "nvfp4 block 32, t = 2^-20");
  });

  it("a zero point past the element's range (the u8 buffer holds 255): q x cannot overflow the block sum", async () => {
    // before: q_max was 15, so x = 2^118 passed the guard; q = 0 - 255, 8 products of -255 * 2^118 overflowed
    const s = BUILTIN_SCHEMES.find((t) => t.name === "int4_g128_asym")!;
    const K = 256;
    const q0 = quantize(s, { dtype: "f32", shape: [1, K], data: Float32Array.from({ length: K }, (_, j) => Math.sin(j)) });
    const q = { ...q0, zeros: Uint8Array.from(q0.zeros!, () => 255), codes: new Uint8Array(K), scales: Uint16Array.from(q0.scales, () => 1) };
    await targeted(s, q, new Float32Array(K).fill(2 ** 118), "int4_g128_asym, zero 255");
  });

  it("the guard edges (onnx_int4_b32, read as q 2^28 against s 2^-28: |x| in [2^-125, 2^94], |s| in [2^-98, 2^123]): inside, within the bound; past one, the fixed order bit for bit", async () => {
    const s = resolveScheme("bench/onnx-int4.qs:onnx_int4_b32");
    const [N, K] = [4, 64];
    const { plan } = compile(spec(s, "unpacked"));
    const { plan: fixed } = compile({ ...spec(s, "unpacked"), order: "fixed" });
    const wasm = await WasmKernels.load(emitWasm(plan.kernels), plan.kernels);
    const wfix = await WasmKernels.load(emitWasm(fixed.kernels), fixed.kernels);
    const q0 = quantize(s, { dtype: "f32", shape: [N, K], data: Float32Array.from({ length: N * K }, (_, j) => Math.sin(j * 0.7)) });
    const f32bits = (v: number) => new Uint32Array(new Float32Array([v]).buffer)[0];
    const nb = K / 32;
    // row 0: q = -8 everywhere, s = 2^-98 (huge q x, tiny scale); row 1: s = 2^123; row 2: one scale just
    // under 2^-98 (per element); row 3 as quantized
    const scales = Uint32Array.from(q0.scales, (v, j) =>
      j < nb ? f32bits(2 ** -98) : j < 2 * nb ? f32bits(2 ** 123) : j === 2 * nb ? f32bits(2 ** -98) - 1 : v,
    );
    // row 3 has q = 0 at k = 0, 1 (terms of 0 either way), for the edge x below
    const codes = Uint8Array.from(q0.codes, (c, j) => (j < K ? 8 : j === 3 * K || j === 3 * K + 1 ? 0 : c));
    const q: QuantizedTensor = { ...q0, scales, codes };
    const edge = [2 ** 94, -(2 ** 94), 2 ** -125, -(2 ** -125), 0, -0, 1.5, -3];
    const xin = Float32Array.from({ length: K }, (_, k) => edge[k % 8]);
    const small = Float32Array.from({ length: K }, (_, k) => [2 ** -125, -(2 ** -125), 0, -0.75][k % 4]);
    const past = (x: Float32Array, k: number, v: number) => Float32Array.from(x, (u, j) => (j === k ? v : u));
    const y = (p: Plan, w: WasmKernels, x: Float32Array) => runPlan(p, [N, K], inputs(p, q, false, x), w.execute).y as Float32Array;
    for (const [name, x] of [["edges", xin], ["small", small]] as const) {
      const ya = y(plan, wasm, x);
      expect(bits(ya), `${name}: WASM = KernelIR`).toEqual(bits(runPlan(plan, [N, K], inputs(plan, q, false, x), evaluateKernel).y as Float32Array));
      checkBound(q, x, ya, name);
      // row 2 fails the scale guard: the fixed order's row
      expect(bits(ya)[2], `${name}: row 2 per element`).toBe(bits(y(fixed, wfix, x))[2]);
    }
    // the edges take the factored form (some row differs from the fixed order), so the checks below can fail
    const smooth = Float32Array.from({ length: K }, (_, k) => Math.cos(k) * 3);
    expect(bits(y(plan, wasm, smooth))).not.toEqual(bits(y(fixed, wfix, smooth)));
    // and so does an x at both edges (where row 3's q is 0): the guard admits them
    const both = past(past(smooth, 0, 2 ** 94), 1, -(2 ** -125));
    expect(bits(y(plan, wasm, both))[3], "x at the edges: factored").not.toBe(bits(y(fixed, wfix, both))[3]);
    expect(bits(y(plan, wasm, both))[3]).toBe(bits(y(plan, wasm, smooth))[3]);
    const sub = past(smooth, 5, 2 ** -130); // subnormal: per element, finite rows equal to the fixed order
    expect(bits(y(plan, wasm, sub))).toEqual(bits(y(fixed, wfix, sub)));
    // one |x| past an edge: the whole call per element, the fixed order bit for bit
    for (const [name, x] of [
      ["past XMAX", past(xin, 9, 2 ** 94 * (1 + 2 ** -23))],
      ["under XMIN", past(xin, 10, 2 ** -125 * (1 - 2 ** -23))],
      ["NaN", past(xin, 11, NaN)],
      ["-Inf", past(small, 12, -Infinity)],
    ] as const)
      expect(bits(y(plan, wasm, x)), name).toEqual(bits(y(fixed, wfix, x)));
  });

  it("bf16 and f16 activations: WASM = KernelIR, within the bound of the decoded x, and the factored form runs", async () => {
    const f16e = codec(f16).encoder(NEAREST_EVEN, "propagate");
    const f16d = codec(f16);
    for (const act of ["bf16", "f16"] as const)
      for (const name of ["bench/onnx-int4.qs:onnx_int4_b32", "mxfp4", "int4_g128_asym"]) {
        const s = resolveScheme(name);
        const [N, K] = [5, 300];
        const sp = { ...spec(s, "unpacked"), input: act };
        const { plan } = compile(sp);
        const { plan: fixed } = compile({ ...sp, order: "fixed" });
        const q = quantize(s, { dtype: "f32", shape: [N, K], data: Float32Array.from({ length: N * K }, (_, j) => Math.sin(j * 0.3)) });
        const toBits = (v: number) => (act === "bf16" ? new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16 : f16e(v, 0));
        const xb = Uint16Array.from(Float32Array.from({ length: K }, (_, k) => Math.cos(k) * 3), toBits);
        const xd = Float32Array.from(xb, (b) => (act === "bf16" ? new Float32Array(new Uint32Array([b << 16]).buffer)[0] : f16d.decode(b)));
        const data = (p: Plan) => ({ ...inputs(p, q, false, xd), x: Uint16Array.from(xb) });
        const wasm = await WasmKernels.load(emitWasm(plan.kernels), plan.kernels);
        const y = runPlan(plan, q.shape, data(plan), wasm.execute).y as Float32Array;
        const what = `${name} ${act}`;
        expect(bits(y), `${what}: WASM = KernelIR`).toEqual(bits(runPlan(plan, q.shape, data(plan), evaluateKernel).y as Float32Array));
        checkBound(q, xd, y, what);
        if (name !== "mxfp4") // E8M0 scales: factoring a power of two can round alike
          expect(bits(y), `${what}: differs from the fixed order`).not.toEqual(bits(runPlan(fixed, q.shape, data(fixed), evaluateKernel).y as Float32Array));
      }
  });

  it("takes the factored form, and WASM's 16-lane decode path for it", () => {
    const s = resolveScheme("bench/onnx-int4.qs:onnx_int4_b32");
    const { plan } = compile(spec(s, "packed"));
    expect(JSON.stringify(plan.kernels[0].body)).toContain('"var":"kc"');
    const wat = emitWasm(plan.kernels).wat;
    expect(wat.split("(func ").find((f) => f.startsWith(`$${plan.kernels[0].name} `))).toContain("$d16_");
  });
});

describe.skipIf(!hasHostCompiler())("order: any GEMV printed as CUDA (CPU execution layer) and WGSL", () => {
  const plans = new Map<string, Plan>();
  let execute: Execute;
  beforeAll(async () => {
    const specs = SCHEMES.map((s) => spec(s, formatBits(s.element) === 4 ? "packed" : "unpacked"));
    const { artifact, plans: renamed } = emitCudaPlans(specs.map((sp) => compile(sp).plan));
    execute = cpuExecute(await buildCpuAsync(artifact, join(mkdtempSync(join(tmpdir(), "qkc-any-")), "any"), "-O0"));
    for (const p of renamed) plans.set(p.spec.name, p);
  }, 240_000);

  for (const s of SCHEMES)
    it(`${s.name}: CUDA = KernelIR bit for bit; WGSL prints`, () => {
      const packed = formatBits(s.element) === 4;
      const plan = plans.get(spec(s, packed ? "packed" : "unpacked").name)!;
      for (const c of cases().filter((c) => ["normal", "huge", "nan-inf", "ragged", "tiny-rows", "K12"].includes(c.name))) {
        const shape = [c.rows, c.cols];
        const q = quantize(s, { dtype: "f32", shape, data: c.data });
        for (const [xname, x] of activations(c.cols)) {
          const y = runPlan(plan, shape, inputs(plan, q, packed, x), execute).y as Float32Array;
          const ref = runPlan(plan, shape, inputs(plan, q, packed, x), evaluateKernel).y as Float32Array;
          expect(bits(y), `${s.name} ${c.name} ${xname}: CUDA = KernelIR`).toEqual(bits(ref));
        }
      }
      const { plan: p } = compile(spec(s, packed ? "packed" : "unpacked"));
      for (const k of p.kernels) expect(emitWgsl(k).code.length).toBeGreaterThan(0);
    });
});

describe("order: any GEMV on WGSL (Dawn)", () => {
  it("equals the KernelIR evaluator bit for bit (INT4, MXINT4 (both read as q 2^28) and MXFP4 packed, int4_g128_asym; ragged, NaN/Inf, K = 1)", async () => {
    const gpu = await nodeGpu();
    for (const s of ["bench/onnx-int4.qs:onnx_int4_b32", "mxint4", "mxfp4", "int4_g128_asym"].map(resolveScheme)) {
      const packed = formatBits(s.element) === 4;
      const { plan } = compile(spec(s, packed ? "packed" : "unpacked"));
      const wgsl = await WgslKernels.create(gpu.device, plan.kernels);
      for (const c of cases().filter((c) => ["nan-inf", "ragged", "tiny-rows"].includes(c.name))) {
        const shape = [c.rows, c.cols];
        const q = quantize(s, { dtype: "f32", shape, data: c.data });
        for (const [xname, x] of activations(c.cols).filter(([n]) => n === "smooth" || n === "nan-inf")) {
          const y = (await runPlanAsync(plan, shape, inputs(plan, q, packed, x), wgsl.execute)).y as Float32Array;
          const ref = runPlan(plan, shape, inputs(plan, q, packed, x), evaluateKernel).y as Float32Array;
          expect(bits(y), `${s.name} ${c.name} ${xname}: WGSL = KernelIR`).toEqual(bits(ref));
        }
      }
    }
  }, 240_000);
});

// relaxed SIMD: Node 20 has it behind a V8 flag, which a running process may still set (for
// the modules it compiles afterwards); the error test runs first, before the flag is set
const relaxedAtStart = relaxedSimdSupported();

describe("order: any GEMV with relaxed SIMD (emitWasm relaxedSimd: fused multiply-adds)", () => {
  it.skipIf(relaxedAtStart)("a runtime without relaxed SIMD refuses the module in one line that names the fix", async () => {
    const { plan } = compile(spec(resolveScheme("bench/onnx-int4.qs:onnx_int4_b32"), "packed"));
    const artifact = emitWasm(plan.kernels, { relaxedSimd: true });
    await expect(WasmKernels.load(artifact, plan.kernels)).rejects.toThrow(
      /no relaxed SIMD; load kernels.wasm instead, or run on Node 22\+ or Chrome 114\+, or node --experimental-wasm-relaxed-simd\)/,
    );
  });

  it("only kernels that allow contraction fuse: the fixed order's module is the same with and without", () => {
    for (const name of ["bench/onnx-int4.qs:onnx_int4_b32", "mxfp4", "nvfp4"]) {
      const s = resolveScheme(name);
      const { plan: fixed } = compile({ ...spec(s, "packed"), order: "fixed" });
      expect(emitWasm(fixed.kernels, { relaxedSimd: true }).wat, name).toBe(emitWasm(fixed.kernels).wat);
      const { plan } = compile(spec(s, "packed"));
      expect(plan.kernels[0].contract).toBe(true);
      expect(emitWasm(plan.kernels, { relaxedSimd: true }).wat, name).toContain("f32x4.relaxed_madd");
      expect(emitWasm(plan.kernels).wat).not.toContain("relaxed");
    }
  });

  for (const name of ["bench/onnx-int4.qs:onnx_int4_b32", "mxint4", "mxfp4", "int4_g128_asym", "nvfp4", "mxfp8_e4m3"]) {
    const s = resolveScheme(name);
    for (const layout of layoutsOf(s))
      it(`${s.name} (${layout}): within the bound, NaN/Inf where the reference has them, one-hot exact`, async () => {
        if (!relaxedSimdSupported()) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
        expect(relaxedSimdSupported(), "relaxed SIMD on (Node 22+, or Node 20's V8 flag)").toBe(true);
        const { plan } = compile(spec(s, layout));
        const artifact = emitWasm(plan.kernels, { relaxedSimd: true });
        // fused where it is fast: in the 16-lane decode path (a loop that fell back would not)
        expect(artifact.wat).toContain("f32x4.relaxed_madd");
        const wasm = await WasmKernels.load(artifact, plan.kernels);
        checkCorpus(s, layout, plan, wasm, false);
      });
  }
});
