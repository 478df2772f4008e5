/**
 * The 128x4 scale-layout checks every backend runs (test/scale-layout*.test.ts):
 * mxfp4 and nvfp4 quantize, dequantize and GEMV with swizzled scales on ragged
 * shapes (rows not a multiple of 128, scale columns not a multiple of 4),
 * bit-exact with the interpreter through swizzleNvidia128x4 of its scales
 * (fill 0); a wrongly swizzled input must change the output; the padding
 * kernel writes exactly the padding bytes.
 */
import { expect, it } from "vitest";
import { runPlanAsync, type AsyncExecute, type Execute } from "../backends/host.js";
import type { BufferData } from "../ir/kernel-eval.js";
import { dequantize, gemv, quantize, type QuantizedTensor } from "../ir/interpret/index.js";
import { nvidia128x4Offset, packNibbles, padTo, swizzleNvidia128x4 } from "../ir/layout/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Scheme } from "../ir/scheme.js";
import type { Plan } from "../passes/lower.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { kernelRequest } from "./kernel-request.js";

export const byName = (name: string) => BUILTIN_SCHEMES.find((s) => s.name === name)!;
export const SCHEMES = [byName("mxfp4"), byName("nvfp4")];
export const KINDS = ["quantize", "dequantize", "gemv"] as const;
/**
 * [rows, K]: rows off 128, scale columns off 4 (mxfp4: 6, 10, 2; nvfp4: 11, 19, 3),
 * ragged last blocks, and rows of several groups of four blocks
 */
const SHAPES = [
  [130, 167],
  [3, 300],
  [257, 40],
];

/** The request of `kind` on `s` with its scales in the 128x4 layout. */
export const swizzled = (s: Scheme, kind: KernelSpec["kind"]): KernelSpec =>
  kernelRequest(s, kind, { name: `${kind}_${s.name}_128x4`, scaleLayout: "nvidia_128x4" });
/** Every request the checks run, for backends that compile them up front. */
export const SPECS = SCHEMES.flatMap((s) => KINDS.map((kind) => swizzled(s, kind)));

export const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Deterministic data whose blocks span 2^-12..2^12, so neighbouring scales differ; a few specials. */
export function tensor(rows: number, cols: number, salt: number): Float32Array {
  let state = (0x9e3779b9 ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const x = Float32Array.from({ length: rows * cols }, (_, i) => {
    const block = Math.floor((i % cols) / 16) + Math.floor(i / cols) * 7;
    return (next() * 2 - 1) * 2 ** (((block * 5) % 25) - 12);
  });
  x.fill(0, 0, 16); // an all-zero block
  x[cols + 3] = NaN; // a NaN block (scale 0xFF on MX)
  x[2 * cols - 1] = -0;
  return x;
}

/** The interpreter's quantization with its scales swizzled: the reference of a 128x4 plan. */
export function reference(s: Scheme, shape: number[], x: Float32Array) {
  const q = quantize(s, { dtype: "f32", shape, data: x });
  const [rows, cols] = q.scaleShape;
  return {
    q,
    codes: packNibbles(Uint8Array.from(q.codes), "low_first"),
    scales: swizzleNvidia128x4(Uint8Array.from(q.scales), rows, cols, 0),
  };
}

export const tscaleOf = (q: QuantizedTensor): Record<string, BufferData> =>
  q.tensorScale
    ? { tscale: Float32Array.of(q.tensorScale.amax, q.tensorScale.encode, q.tensorScale.decode) }
    : {};

/** A backend's compiled plan of each request of SPECS and the executor of their kernels. */
export interface Backend {
  plan(spec: KernelSpec): Plan;
  execute: Execute | AsyncExecute;
}

const runner =
  ({ plan, execute }: Backend) =>
  (spec: KernelSpec, shape: number[], inputs: Record<string, BufferData>) =>
    runPlanAsync(plan(spec), shape, inputs, async (k, b, s) => execute(k, b, s));

/** The checks, as `it` cases; `backend` is read when they run (after beforeAll). */
export function scaleLayoutCases(backend: () => Backend): void {
  for (const s of SCHEMES)
    it(`${s.name}: quantize, dequantize and gemv with 128x4 scales`, async () => {
      const run = runner(backend());
      for (const [j, shape] of SHAPES.entries()) {
        const x = tensor(shape[0], shape[1], j);
        const ref = reference(s, shape, x);
        const where = `[${shape.join(", ")}]`;
        const out = await run(swizzled(s, "quantize"), shape, { x });
        expect(Array.from(out.codes), `${where} codes`).toEqual(Array.from(ref.codes));
        expect(Array.from(out.scales), `${where} scales`).toEqual(Array.from(ref.scales));
        const inputs = { codes: ref.codes, scales: ref.scales, ...tscaleOf(ref.q) };
        const y = (await run(swizzled(s, "dequantize"), shape, inputs)).y as Float32Array;
        expect(bits(y), `${where} dequantize`).toEqual(bits(dequantize(ref.q)));
        const xv = Float32Array.from({ length: shape[1] }, (_, i) => Math.cos(i) * 3);
        const yv = (await run(swizzled(s, "gemv"), shape, { ...inputs, x: xv })).y as Float32Array;
        expect(bits(yv), `${where} gemv`).toEqual(bits(gemv(ref.q, xv)));
      }
    });

  it("a wrong offset fails: scales placed with the two row terms of a tile exchanged", async () => {
    const run = runner(backend());
    const s = byName("nvfp4");
    const shape = SHAPES[0];
    const x = tensor(shape[0], shape[1], 0);
    const ref = reference(s, shape, x);
    const [rows, cols] = ref.q.scaleShape;
    const wrong = new Uint8Array(ref.scales.length);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        // (r % 32) * 16 + ((r % 128) / 32) * 4 taken as (r % 32) * 4 + ((r % 128) / 32) * 128
        const tile = nvidia128x4Offset(r, c, cols) & ~511;
        wrong[tile + (r % 32) * 4 + Math.floor((r % 128) / 32) * 128 + (c % 4)] =
          ref.q.scales[r * cols + c];
      }
    const inputs = { codes: ref.codes, scales: wrong, ...tscaleOf(ref.q) };
    const y = (await run(swizzled(s, "dequantize"), shape, inputs)).y as Float32Array;
    expect(bits(y)).not.toEqual(bits(dequantize(ref.q)));
    const out = await run(swizzled(s, "quantize"), shape, { x });
    expect(Array.from(out.scales)).not.toEqual(Array.from(wrong));
  });

  it("the padding kernel writes every padding byte 0 and leaves every scale alone", async () => {
    const { plan, execute } = backend();
    const pad = plan(swizzled(byName("mxfp4"), "quantize")).kernels.find((k) =>
      k.name.endsWith("_scales_pad"),
    )!;
    for (const [rows, k] of SHAPES) {
      const cols = Math.ceil(k / 32);
      const buf = new Uint8Array(padTo(rows, 128) * padTo(cols, 4)).fill(0xa5);
      await execute(pad, { scales: buf }, { outer: rows, n: k, inner: 1 });
      const real = new Set<number>();
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) real.add(nvidia128x4Offset(r, c, cols));
      const wrongBytes = [...buf.keys()].filter((at) => buf[at] !== (real.has(at) ? 0xa5 : 0));
      expect(wrongBytes, `[${rows}, ${k}]`).toEqual([]);
    }
  });
}
