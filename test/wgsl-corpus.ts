/**
 * The WGSL equivalence check shared by the Dawn test files: one scheme's
 * quantize, dequantize, qdq, qdq_backward and gemv kernels on the whole shared
 * corpus (subnormals, specials, ties, ragged shapes), bit for bit against the
 * interpreter.
 */
import { expect } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlanAsync } from "../backends/host.js";
import { WgslKernels } from "../backends/wgsl/runtime.js";
import type { WgslOptions } from "../backends/wgsl/emit.js";
import { dequantize, gemv, qdq, qdqBackward, quantize } from "../ir/interpret/index.js";
import { packNibbles, pack6 } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec } from "../ir/program.js";
import { corpus } from "./corpus/corpus.js";
import { kernelRequest } from "./kernel-request.js";

/** The request the WGSL tests compile (test/kernel-request.ts), with its input dtype as a parameter. */
export const spec = (s: Scheme, kind: KernelSpec["kind"], input: KernelSpec["input"] = "f32") =>
  kernelRequest(s, kind, { input });
export const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const packed = (s: Scheme, codes: ArrayLike<number>) => {
  const b = formatBits(s.element);
  const c = Uint8Array.from(codes);
  return b === 4 ? packNibbles(c, "low_first") : b === 6 ? pack6(c) : codes;
};
export const sr = (s: Scheme) =>
  scheme({ ...s, name: `${s.name}_sr`, rounding: { mode: "stochastic", randomBits: 8 } });
export const byName = (name: string) => BUILTIN_SCHEMES.find((s) => s.name === name)!;

/** Compiled kernels of one request on `device`, with their plan and the shaders as printed. */
export async function wgslKernels(device: GPUDevice, sp: KernelSpec, options: WgslOptions = {}) {
  const { plan } = compile(sp);
  const wgsl = await WgslKernels.create(device, plan.kernels, options);
  return { plan, exec: wgsl.execute, shaders: plan.kernels.map((k) => wgsl.shader(k.name)) };
}

/** Every kernel kind of `s` (gemv unless double-quantized) on the corpus equals the interpreter. */
export async function expectCorpusExact(
  device: GPUDevice,
  s: Scheme,
  options: WgslOptions = {},
): Promise<void> {
  const kernels = (kind: KernelSpec["kind"]) => wgslKernels(device, spec(s, kind), options);
  const [q, d, f, b] = await Promise.all(
    (["quantize", "dequantize", "qdq", "qdq_backward"] as const).map(kernels),
  );
  const g = s.doubleQuant ? undefined : await kernels("gemv");
  for (const c of corpus()) {
    const shape = [c.rows, c.cols];
    const seed = 77;
    const tensor = { dtype: "f32" as const, shape, data: c.data };
    const ref = quantize(s, tensor, { seed });
    const out = await runPlanAsync(q.plan, shape, { x: c.data }, q.exec, seed);
    expect(Array.from(out.codes), `${c.name} codes`).toEqual(Array.from(packed(s, ref.codes)));
    if (s.doubleQuant) {
      expect(Array.from(out.dq_codes), `${c.name} dq codes`).toEqual(
        Array.from(ref.doubleQuant!.scales.codes),
      );
      expect((out.dq_offset as Float32Array)[0]).toBe(ref.doubleQuant!.offset);
    } else {
      expect(Array.from(out.scales), `${c.name} scales`).toEqual(Array.from(ref.scales));
    }
    const y = (await runPlanAsync(d.plan, shape, out, d.exec)).y as Float32Array;
    expect(bits(y), `${c.name} dequantize`).toEqual(bits(dequantize(ref)));
    const y2 = (await runPlanAsync(f.plan, shape, { x: c.data }, f.exec, seed)).y as Float32Array;
    expect(bits(y2), `${c.name} qdq`).toEqual(bits(qdq(s, tensor, { seed })));
    const gy = Float32Array.from(c.data, (_, i) => i - 7.5);
    const gx = (await runPlanAsync(b.plan, shape, { x: c.data, gy }, b.exec)).gx as Float32Array;
    expect(bits(gx), `${c.name} backward`).toEqual(bits(qdqBackward(s, tensor, gy)));
    if (g) {
      const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
      const yv = (await runPlanAsync(g.plan, shape, { ...out, x: xv }, g.exec)).y as Float32Array;
      expect(bits(yv), `${c.name} gemv`).toEqual(bits(gemv(ref, xv)));
    }
  }
}
