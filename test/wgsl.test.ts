/**
 * WGSL kernels on a real WebGPU engine (Dawn through npm `webgpu`, on a software
 * Vulkan driver), bit-exact with the interpreter. Without an adapter every test
 * here fails with the driver to install (backends/wgsl/node.ts), never passes.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../passes/pipeline.js";
import { runPlanAsync } from "../backends/host.js";
import { probeExactness, WgslKernels } from "../backends/wgsl/runtime.js";
import { nodeGpu, type NodeGpu } from "../backends/wgsl/node.js";
import { dequantize, gemv, qdq, qdqBackward, quantize } from "../ir/interpret/index.js";
import { packNibbles, pack6 } from "../ir/layout/index.js";
import { BUILTIN_SCHEMES } from "../stdlib/index.js";
import { scheme, type Scheme } from "../ir/scheme.js";
import { formatBits } from "../ir/formats/index.js";
import type { KernelSpec } from "../ir/program.js";
import type { Tensor } from "../ir/tensor.js";
import { corpus } from "./corpus/corpus.js";
import { K, type Kernel } from "../ir/kernel.js";
import { evaluateKernel } from "../ir/kernel-eval.js";
import { packKernel } from "../passes/lower/pack.js";
import { packNibbles as hostPack } from "../ir/layout/index.js";

const spec = (
  s: Scheme,
  kind: KernelSpec["kind"],
  input: KernelSpec["input"] = "f32",
): KernelSpec => ({
  name: `${kind}_${s.name}`,
  kind,
  scheme: s,
  input,
  output: "f32",
  layout: "packed",
  ...(kind === "gemv" ? { order: "fixed" as const } : {}),
});
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
const packed = (s: Scheme, codes: ArrayLike<number>) => {
  const b = formatBits(s.element);
  const c = Uint8Array.from(codes);
  return b === 4 ? packNibbles(c, "low_first") : b === 6 ? pack6(c) : codes;
};
const sr = (s: Scheme) =>
  scheme({ ...s, name: `${s.name}_sr`, rounding: { mode: "stochastic", randomBits: 8 } });
const byName = (name: string) => BUILTIN_SCHEMES.find((s) => s.name === name)!;

let gpu: NodeGpu;
beforeAll(async () => {
  gpu = await nodeGpu();
}, 60_000);

async function kernels(sp: KernelSpec, options = {}) {
  const { plan } = compile(sp);
  const wgsl = await WgslKernels.create(gpu.device, plan.kernels, options);
  return { plan, exec: wgsl.execute, shaders: plan.kernels.map((k) => wgsl.shader(k.name)) };
}

describe("WGSL on Dawn equals the interpreter bit for bit (shared corpus)", () => {
  const cases = corpus();
  const schemes = [...BUILTIN_SCHEMES, sr(byName("mxfp4")), sr(byName("nvfp4"))];
  for (const s of schemes) {
    it(`${s.name}: quantize, dequantize, qdq, qdq_backward${s.doubleQuant ? "" : ", gemv"}`, async () => {
      const [q, d, f, b] = await Promise.all(
        (["quantize", "dequantize", "qdq", "qdq_backward"] as const).map((k) =>
          kernels(spec(s, k)),
        ),
      );
      const g = s.doubleQuant ? undefined : await kernels(spec(s, "gemv"));
      for (const c of cases) {
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
        const y2 = (await runPlanAsync(f.plan, shape, { x: c.data }, f.exec, seed))
          .y as Float32Array;
        expect(bits(y2), `${c.name} qdq`).toEqual(bits(qdq(s, tensor, { seed })));
        const gy = Float32Array.from(c.data, (_, i) => i - 7.5);
        const gx = (await runPlanAsync(b.plan, shape, { x: c.data, gy }, b.exec))
          .gx as Float32Array;
        expect(bits(gx), `${c.name} backward`).toEqual(bits(qdqBackward(s, tensor, gy)));
        if (g) {
          const xv = Float32Array.from({ length: c.cols }, (_, i) => Math.cos(i) * 3);
          const yv = (await runPlanAsync(g.plan, shape, { ...out, x: xv }, g.exec))
            .y as Float32Array;
          expect(bits(yv), `${c.name} gemv`).toEqual(bits(gemv(ref, xv)));
        }
      }
    }, 120_000);
  }
});

describe("WGSL runtime", () => {
  it("the adapter keeps subnormals, divides exactly and does not fuse (what bit-exactness needs)", async () => {
    // SwiftShader fails `subnormals` (WGSL allows flushing): use Mesa 25's lavapipe (.ci/webgpu-deps)
    expect({ adapter: gpu.description, ...(await probeExactness(gpu.device)) }).toEqual({
      adapter: gpu.description,
      subnormals: true,
      division: true,
      separateRounding: true,
    });
  });

  it("half-precision inputs (f16, bf16) quantize like the interpreter, on both f16 paths", async () => {
    const s = byName("mxfp8_e4m3");
    const c = corpus()[0];
    const shape = [c.rows, c.cols];
    for (const dtype of ["f16", "bf16"] as const) {
      const raw = Uint16Array.from(
        c.data,
        (v, i) => (i * 2654435761 + Math.round(v * 1000)) & 0xffff,
      );
      const tensor: Tensor = { dtype, shape, data: raw };
      // f16: the exact table, and (where the adapter has shader-f16) the hardware conversion
      for (const f16 of gpu.features.includes("shader-f16") ? [false, true] : [false]) {
        const k = await kernels(spec(s, "qdq", dtype), { f16 });
        const y = (await runPlanAsync(k.plan, shape, { x: raw }, k.exec)).y as Float32Array;
        expect(bits(y), `${dtype} f16=${f16}`).toEqual(bits(qdq(s, tensor)));
      }
    }
  });

  it("f32 division is correctly rounded on the bits (specials, subnormals, overflow)", async () => {
    const t = K.v("t", "i32");
    const k: Kernel = {
      name: "div",
      params: [
        { kind: "buffer", name: "a", elem: "f32", access: "read" },
        { kind: "buffer", name: "b", elem: "f32", access: "read" },
        { kind: "buffer", name: "q", elem: "u32", access: "write" },
        { kind: "scalar", name: "n", type: "i32" },
      ],
      tables: [],
      body: [
        K.for("t", K.i32(0), K.v("n", "i32"), [
          K.store(
            "q",
            t,
            K.bitcast(K.bin("div", K.load("a", t, "f32"), K.load("b", t, "f32")), "u32"),
          ),
        ]),
      ],
    };
    const special = [
      0,
      -0,
      1,
      -1,
      2 ** -149,
      2 ** -126,
      2 ** -127 * 3,
      3.4028234663852886e38,
      Infinity,
      -Infinity,
      NaN,
      3,
      6,
      2688,
    ];
    const pairs: number[][] = special.flatMap((x) => special.map((y) => [x, y]));
    const w = new Uint32Array(2);
    const f = new Float32Array(w.buffer);
    for (let j = 0, r = 99; j < 20000; j++) {
      for (let h = 0; h < 2; h++) {
        r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
        w[h] = j % 4 === 0 ? r : (r & 0x83ffffff) | ((j % 3) << 28); // all bits, or exponents near 1 and the edges
      }
      pairs.push([f[0], f[1]]);
    }
    const a = Float32Array.from(pairs, (p) => p[0]);
    const b = Float32Array.from(pairs, (p) => p[1]);
    const got = new Uint32Array(a.length);
    const want = new Uint32Array(a.length);
    evaluateKernel(k, { a, b, q: want }, { n: a.length });
    const wgsl = await WgslKernels.create(gpu.device, [k]);
    await wgsl.execute(k, { a, b, q: got }, { n: a.length });
    const isNaN32 = (u: number) => (u & 0x7fffffff) > 0x7f800000;
    const wrong = [...want.keys()].filter((i) =>
      isNaN32(want[i]) ? !isNaN32(got[i]) : got[i] !== want[i],
    );
    expect(
      wrong.slice(0, 5).map((i) => [a[i], b[i], want[i].toString(16), got[i].toString(16)]),
    ).toEqual([]);
  });

  it("workgroup size and elements per invocation change the split, not the result", async () => {
    const s = byName("nvfp4");
    const c = corpus()[3];
    const shape = [c.rows, c.cols];
    const want = bits(qdq(s, { dtype: "f32", shape, data: c.data }));
    for (const options of [
      { workgroupSize: 1, perInvocation: 1 },
      { workgroupSize: 32, perInvocation: 4 },
      { workgroupSize: 256, perInvocation: 3 },
    ]) {
      const k = await kernels(spec(s, "qdq"), options);
      const y = (await runPlanAsync(k.plan, shape, { x: c.data }, k.exec)).y as Float32Array;
      expect(bits(y), JSON.stringify(options)).toEqual(want);
    }
  });

  it("the tensor amax shared by a workgroup: subgroupMax and the workgroup-atomic fallback", async () => {
    const s = byName("nvint4");
    const paths = gpu.features.includes("subgroups") ? [false, true] : [false];
    // one large tensor whose largest |x| sits at one position, plus the corpus
    const n = 40 * 1024 + 16;
    const big = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 2);
    big[n - 17] = -9.25;
    const inputs = [
      ...corpus().map((c) => ({ name: c.name, shape: [c.rows, c.cols], data: c.data })),
      { name: "large", shape: [1, n], data: big },
    ];
    for (const subgroups of paths)
      for (const workgroupSize of [7, 256]) {
        const k = await kernels(spec(s, "qdq"), { subgroups, workgroupSize });
        expect(k.shaders[0].code.includes("subgroupMax"), "subgroup ops").toBe(subgroups);
        for (const c of inputs) {
          const y = (await runPlanAsync(k.plan, c.shape, { x: c.data }, k.exec)).y as Float32Array;
          const want = qdq(s, { dtype: "f32", shape: c.shape, data: c.data });
          expect(bits(y), `${c.name} subgroups=${subgroups} W=${workgroupSize}`).toEqual(
            bits(want),
          );
        }
      }
    // lavapipe offers subgroups: there both paths must have run
    if (/llvmpipe/.test(gpu.description)) expect(paths).toEqual([false, true]);
  });

  it("more than 65535 workgroups go over a 2-D grid", async () => {
    const k = packKernel("pack", { kind: "nibbles", order: "low_first" });
    const w = await WgslKernels.create(gpu.device, [k], { workgroupSize: 1 });
    const n = 2 * 65535 + 7;
    const codes = Uint8Array.from({ length: n }, (_, i) => (i * 7) & 15);
    const out = new Uint8Array(Math.ceil(n / 2));
    await w.execute(k, { codes, packed: out }, { n });
    expect(Array.from(out)).toEqual(Array.from(hostPack(codes, "low_first")));
  });

  it("refuses missing buffers and scalars with the kernel's name", async () => {
    const k = packKernel("pack", { kind: "nibbles", order: "low_first" });
    const w = await WgslKernels.create(gpu.device, [k]);
    await expect(w.execute(k, { codes: new Uint8Array(4) }, { n: 4 })).rejects.toThrow(
      /kernel pack: buffer packed not given/,
    );
    await expect(
      w.execute(k, { codes: new Uint8Array(4), packed: new Uint8Array(2) }, {}),
    ).rejects.toThrow(/kernel pack: scalar n not given/);
  });
});
